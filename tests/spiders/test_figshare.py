"""End to end: the real ``scrapy crawl figshare`` against a local fake Figshare API."""

from __future__ import annotations

import json

import pytest

from envision_spiders.schema import record_errors
from tests.conftest import run_crawl
from tests.servers.base import Reply
from tests.servers.figshare import DETAIL_FILES_CAP, FakeFigshare, make_article

N = 40
DATASETS = [i for i in range(1, N + 1) if i % 11]  # every 11th article is a figure


@pytest.fixture
def fake():
    server = FakeFigshare(n_articles=N)
    server.start()
    yield server
    server.stop()


def settings(server: FakeFigshare, **extra) -> dict:
    return {"FIGSHARE_API_URL": f"{server.base_url}/v2", "FIGSHARE_PAGE_SIZE": 10,
            "ENVISION_INSPECT_ENABLED": False, "ENVISION_BACKOFF_BASE_DELAY": 0.2, "CONCURRENT_REQUESTS_PER_DOMAIN": 4, **extra}


def bodies(server: FakeFigshare) -> list[dict]:
    return [json.loads(c.body) for c in server.calls_to("search")]


def test_every_dataset_once_with_all_files_checksums_and_licence(fake, crawl):
    result = crawl("figshare", settings=settings(fake))
    assert result.returncode == 0, result.log
    by_id = {item["source_id"]: item for item in result.items}
    assert len(result.items) == len(by_id) == len(DATASETS)
    for i in DATASETS:
        expected = make_article(i, fake.base_url)
        item = by_id[str(expected["id"])]
        assert record_errors(item) == [], item["source_id"]
        assert item["title"] == expected["title"]
        assert item["doi"] == expected["doi"].lower()
        assert item["version_of"] == expected["doi"].rsplit(".v", 1)[0]
        assert item["extra"]["version_order"] == expected["version"]
        assert item["license"] == ("cc-by-4.0" if i % 2 else "cc0-1.0")
        assert len(item["files"]) == len(expected["files"])  # also past the detail's 10
        for got, want in zip(item["files"], expected["files"]):
            assert got["name"] == want["name"]
            if want["is_link_only"]:
                assert got["access"] == "link" and got["size"] is None and got["checksum"] is None
                continue
            assert got["size"] == want["size"]
            md5 = want["computed_md5"] or want["supplied_md5"]
            assert got["checksum"] == (f"md5:{md5}" if md5 else None)
    # /files only for the articles whose detail could not list everything
    listed = {int(c.path.split("/")[3]) for c in fake.calls_to("files")}
    assert listed == {make_article(i, fake.base_url)["id"] for i in DATASETS
                      if len(make_article(i, fake.base_url)["files"]) >= DETAIL_FILES_CAP}
    # one detail per dataset although hits repeat across term groups
    assert len(fake.calls_to("article")) == len(DATASETS)


def test_search_is_a_json_post_for_datasets_paged_to_the_short_page(fake, crawl):
    result = crawl("figshare", settings=settings(fake))
    assert result.returncode == 0, result.log
    calls = fake.calls_to("search")
    assert all(c.headers["Content-Type"] == "application/json" for c in calls)
    assert all("application/json" in c.headers["Accept"] and "mailto:" in c.headers["User-Agent"] for c in calls)
    assert all("Authorization" not in c.headers for c in fake.calls)
    groups: dict[str, list[int]] = {}
    for body in bodies(fake):
        assert body["item_type"] == 3 and body["limit"] == 10 and "page" not in body
        groups.setdefault(body["search_for"], []).append(body["offset"])
    assert len(groups) == result.stats["envision/search/query_groups"] >= 2
    assert '"optical coherence tomography" OR ' in "".join(groups)
    for offsets in groups.values():  # consecutive pages, stopped by the short page
        assert offsets == list(range(0, 10 * len(offsets), 10))
    assert all(c.status == 200 for c in fake.calls)


def test_token_goes_to_the_api_only_never_to_storage_logs_or_items(fake, crawl):
    token = fake.token
    result = crawl("figshare", settings={**settings(fake), "ENVISION_INSPECT_ENABLED": True},
                   env={"FIGSHARE_ACCESS_TOKEN": token}, args={"max_records": 6})
    assert result.returncode == 0, result.log
    api_calls = [c for c in fake.calls if c.route in ("search", "article", "files")]
    assert api_calls and all(c.headers["Authorization"] == f"token {token}" for c in api_calls)
    # archive inspection follows the ndownloader 302 to the object store: no token there
    assert fake.storage.calls_to("object"), "inspection did not reach the storage redirect"
    assert all("Authorization" not in c.headers for c in fake.calls_to("download"))
    assert all("Authorization" not in c.headers and c.status != 400 for c in fake.storage.calls_to("object"))
    assert token not in result.log
    assert all(token not in json.dumps(item) for item in result.items)


def test_invalid_token_fails_loudly_without_leaking_it(fake, crawl):
    result = crawl("figshare", settings=settings(fake), env={"FIGSHARE_ACCESS_TOKEN": "wrong-secret-value"})
    assert result.items == []
    assert "403" in result.log and "wrong-secret-value" not in result.log


def test_paging_cap_splits_term_groups_and_never_asks_past_it(crawl):
    server = FakeFigshare(n_articles=90, max_offset=20)
    with server:
        result = crawl("figshare", settings=settings(server, FIGSHARE_MAX_OFFSET=20))
    assert result.returncode == 0, result.log
    assert len(result.items) == len({i["source_id"] for i in result.items}) == len([i for i in range(1, 91) if i % 11])
    assert result.stats["envision/paging/splits"] >= 1
    assert all(b["offset"] <= 20 for b in bodies(server))
    assert 422 not in [c.status for c in server.calls_to("search")]


def test_a_cap_lower_than_configured_422_is_handled_by_splitting(crawl):
    server = FakeFigshare(n_articles=90, max_offset=20)
    with server:
        result = crawl("figshare", settings=settings(server))  # configured 1000, the server stops at 20
    assert result.returncode == 0, result.log
    assert 422 in [c.status for c in server.calls_to("search")]
    assert result.stats["envision/paging/cap_status"] >= 1
    assert len({i["source_id"] for i in result.items}) == len([i for i in range(1, 91) if i % 11])


def test_query_max_records_and_since(fake, crawl):
    result = crawl("figshare", settings=settings(fake), args={"query": "glaucoma", "max_records": 3})
    assert result.returncode == 0, result.log
    assert [b["search_for"] for b in bodies(fake)] == ['"glaucoma"']
    assert len(result.items) == 3 and all("Glaucoma" in i["title"] for i in result.items)
    fake.calls.clear()
    since = crawl("figshare", settings=settings(fake), args={"since": "2016-12-01"})
    assert all(b["modified_since"] == "2016-12-01" for b in bodies(fake))
    assert since.items and all(i["modified"][:10] >= "2016-12-01" for i in since.items)
    assert len(since.items) < len(DATASETS)


def test_429_without_headers_backs_off_and_malformed_pages_are_retried(fake, crawl):
    fake.fault("search", 2, FakeFigshare.rate_limited())
    fake.fault("article", 3, FakeFigshare.rate_limited())
    fake.fault("search", 4, Reply(200, b"<html>Request blocked</html>"))
    fake.fault("files", 1, Reply(404, b'{"message": "Not found", "code": "EntityNotFound"}'))
    result = crawl("figshare", settings=settings(fake))
    assert result.returncode == 0, result.log
    assert result.stats["envision/backoff/429"] == 2
    assert result.stats["envision/pages/malformed"] == 1
    assert len({i["source_id"] for i in result.items}) == len(result.items) == len(DATASETS)
    incomplete = [i for i in result.items if i["extra"].get("files_incomplete")]
    assert len(incomplete) == 1 and len(incomplete[0]["files"]) == DETAIL_FILES_CAP
    assert result.stats["envision/files/incomplete"] == 1


def test_a_page_malformed_for_good_is_skipped_and_paging_goes_on(fake, crawl):
    for nth in (1, 2, 3):
        fake.fault("search", nth, Reply(200, b'[{"id": 1,'))
    result = crawl("figshare", settings=settings(fake), args={"query": "retina"})
    assert result.stats["envision/pages/malformed_given_up"] == 1
    assert result.stats["envision/paging/lost_pages"] == 1
    offsets = [b["offset"] for b in bodies(fake)]
    assert offsets[:3] == [0, 0, 0] and offsets[3] == 10  # the lost page, then the next one
    assert "Giving up on a malformed page" in result.log


def test_second_crawl_fetches_only_changed_articles(fake, tmp_path):
    first = run_crawl("figshare", tmp_path, settings=settings(fake), name="first")
    assert len(first.items) == len(DATASETS)
    fake.calls.clear()
    changed = make_article(DATASETS[0], fake.base_url)["id"]
    fake.modified_overrides[changed] = "2030-01-01T00:00:00Z"
    second = run_crawl("figshare", tmp_path, settings=settings(fake), name="second")
    assert second.returncode == 0, second.log
    assert [c.path for c in fake.calls_to("article")] == [f"/v2/articles/{changed}"]
    assert [i["source_id"] for i in second.items] == [str(changed)]
    assert second.stats["envision/incremental/unchanged"] == len(DATASETS) - 1


def test_redirect_to_another_origin_drops_the_token_header():
    """Scrapy's RedirectMiddleware (what every download goes through) strips Authorization when
    a redirect leaves the origin: S3 answers 400 to a header it did not sign."""
    from scrapy import Request, Spider
    from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
    from scrapy.http import Response
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(Spider)
    crawler.spider = Spider("figshare")
    middleware = RedirectMiddleware.from_crawler(crawler)
    request = Request("http://127.0.0.1:8001/v2/file/download/38240001", headers={"Authorization": "token secret"})
    same_host = Response(request.url, status=302, request=request,
                         headers={"Location": "http://127.0.0.1:8001/v2/file/download/38240001?v=2"})
    assert middleware.process_response(request, same_host).headers["Authorization"] == b"token secret"
    to_storage = Response(request.url, status=302, request=request,
                          headers={"Location": "http://127.0.0.1:8002/pfigshare-u-files/38240001/file"})
    redirected = middleware.process_response(request, to_storage)
    assert redirected.url.startswith("http://127.0.0.1:8002/") and "Authorization" not in redirected.headers


def _matching(server: FakeFigshare, phrase: str) -> set[str]:
    return {str(a["id"]) for a in server.all_articles() if a["defined_type"] == 3
            and phrase in " ".join([a["title"], a["description"], *a["tags"]]).lower()}


def test_a_broad_term_past_the_offset_cap_goes_on_by_publication_date(crawl):
    """One term with more hits than offsets reach (422 past the cap) is not truncated: it goes
    on ``published_since`` the day before its last hit; the fake reads "published after the
    date" strictly and three articles share each day, so the overlap day is needed."""
    server = FakeFigshare(n_articles=300, max_offset=10, per_day=3)
    with server:
        expected = _matching(server, "retina")
        result = crawl("figshare", settings=settings(server, FIGSHARE_MAX_OFFSET=10), args={"query": "retina"})
        sent = bodies(server)
    assert len(expected) > 2 * 20  # three windows of 20
    assert result.returncode == 0, result.log
    assert {i["source_id"] for i in result.items} == expected and len(result.items) == len(expected)
    assert all(b["offset"] <= 10 and b["order"] == "published_date" and b["order_direction"] == "asc" for b in sent)
    continued = sorted({b["published_since"] for b in sent if "published_since" in b})
    assert len(continued) >= 2
    assert result.stats["envision/paging/splits"] == len(continued)
    assert "envision/paging/truncated" not in result.stats and "truncated" not in result.log


def test_a_single_day_filling_the_window_is_an_error_naming_the_truncation(crawl):
    server = FakeFigshare(n_articles=200, max_offset=10, per_day=200)  # every article on one day
    with server:
        result = crawl("figshare", settings=settings(server, FIGSHARE_MAX_OFFSET=10), args={"query": "retina"})
    assert result.returncode == 0, result.log
    assert result.stats["envision/paging/truncated"] == 1
    assert "ERROR: Results of FigshareQuery(terms=('retina',)" in result.log
    assert "an unknown number of" in result.log
    assert len(result.items) == 20  # what the window reaches

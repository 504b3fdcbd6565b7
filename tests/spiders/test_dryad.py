"""End to end: the real ``scrapy crawl dryad`` against a local fake Dryad API v2."""

from __future__ import annotations

import json

import pytest

from envision_spiders.schema import record_errors
from tests.conftest import run_crawl
from tests.servers.base import Reply
from tests.servers.dryad import FakeDryad

FAST = {"ENVISION_INSPECT_ENABLED": False, "ENVISION_BACKOFF_BASE_DELAY": 0.1}


@pytest.fixture
def fake():
    server = FakeDryad(n_eye=24, n_other=3)
    server.start()
    yield server
    server.stop()


def api(server: FakeDryad, **extra) -> dict:
    return {"DRYAD_API_URL": f"{server.base_url}/api/v2", **FAST, **extra}


def test_crawl_yields_every_dataset_once_with_files_sizes_and_checksums(fake, crawl):
    result = crawl("dryad", settings=api(fake))
    assert result.returncode == 0, result.log
    dois = [item["doi"] for item in result.items]
    assert len(dois) == len(set(dois)) and set(dois) == fake.eye_dois
    for item in result.items:
        assert record_errors(item) == [], item["doi"]
        assert item["source_id"] == item["doi"] and item["license"] == "cc0-1.0"
        i = int(item["doi"].split(".")[-1][:4])
        expected = fake.files[9000 + i]
        assert [f["name"] for f in item["files"]] == [f["path"] for f in expected]  # every page of files
        assert [f["size"] for f in item["files"]] == [f["size"] for f in expected]
        assert item["extra"]["storage_size"] == sum(f["size"] for f in expected)
        assert [f["checksum"] for f in item["files"]] == [
            f"{f['digestType'].replace('-', '')}:{f['digest']}" if "digest" in f else None for f in expected
        ]
    by_i = {int(item["doi"].split(".")[-1][:4]): item for item in result.items}
    assert len(by_i[7]["files"]) == 130  # two pages of files
    algos = {f["checksum"].split(":")[0] for item in result.items for f in item["files"] if f["checksum"]}
    assert algos == {"sha256", "md5"}
    assert any(f["checksum"] is None for item in result.items for f in item["files"])
    assert any(f["access"] == "restricted" and f["url"] is None for item in result.items for f in item["files"])
    # every request was JSON-accepted (the fake answers 406 otherwise), no token sent
    assert all(c.status == 200 for c in fake.calls)
    assert all("Authorization" not in c.headers for c in fake.calls)
    searches = fake.calls_to("search")
    assert len(searches) == result.stats["envision/listing/pages"]
    assert all(c.query["per_page"] == ["100"] for c in searches)
    assert len(fake.calls_to("files")) == 24 + 1  # one per dataset, dataset 7 has two pages


def test_non_json_accept_is_refused_with_406(fake):
    reply = fake.dispatch("GET", "/api/v2/search?q=x", {"Accept": "text/html"}, b"")
    assert reply.status == 406
    assert fake.dispatch("GET", "/api/v2/search?q=x", {"Accept": "application/json"}, b"").status == 200
    encoded = "doi%3A10.5061%2Fdryad.0001fk1"
    assert fake.dispatch("GET", f"/api/v2/datasets/{encoded}", {"Accept": "application/json"}, b"").status == 200


def test_expired_token_is_dropped_once_and_crawl_goes_on_anonymously(fake, crawl):
    stale = "stale-dryad-token-4d1f"
    result = crawl("dryad", settings=api(fake), env={"DRYAD_TOKEN": stale})
    assert result.returncode == 0, result.log
    assert {i["doi"] for i in result.items} == fake.eye_dois
    assert result.stats["envision/auth/token_rejected"] == 1
    assert result.log.count("DRYAD_TOKEN was rejected") == 1
    assert result.stats["envision/auth/retried_anonymously"] == sum(c.status == 401 for c in fake.calls)
    assert all("Authorization" not in c.headers for c in fake.calls_to("files"))
    assert stale not in result.log and all(stale not in json.dumps(i) for i in result.items)


def test_client_credentials_flow_fetches_a_bearer_token(fake, crawl):
    env = {"DRYAD_CLIENT_ID": fake.client_id, "DRYAD_CLIENT_SECRET": fake.client_secret}
    result = crawl("dryad", settings=api(fake), args={"query": "keratoconus"}, env=env)
    assert result.returncode == 0, result.log
    assert fake.tokens_issued == 1 and result.stats["envision/auth/oauth_token"] == 1
    assert all(c.headers.get("Authorization") == f"Bearer {fake.token}" for c in fake.calls if c.route != "oauth")
    assert fake.token not in result.log and fake.client_secret not in result.log
    assert all(fake.token not in json.dumps(i) for i in result.items)


def test_query_max_records_and_since(fake, crawl):
    result = crawl("dryad", settings=api(fake), args={"query": "keratoconus", "max_records": 3})
    assert result.returncode == 0, result.log
    assert len(result.items) == 3 and all("keratoconus" in i["title"].lower() for i in result.items)
    assert fake.calls_to("search")[0].query["q"] == ["keratoconus"]
    assert len(fake.calls_to("files")) == 3
    fake.calls.clear()
    result = crawl("dryad", settings=api(fake), args={"since": "2019-05-01", "query": "fundus"})
    assert fake.calls_to("search")[0].query["modifiedSince"] == ["2019-05-01T00:00:00Z"]
    assert result.items and all(i["modified"] >= "2019-05-01" for i in result.items)


def test_429_waits_for_ratelimit_reset(fake, crawl):
    fake.fault("files", 2, lambda: FakeDryad.rate_limited(1.0))  # the reset counts from the 429 itself
    result = crawl("dryad", settings=api(fake), args={"query": "fundus"})
    assert result.returncode == 0, result.log
    assert result.stats["envision/backoff/429"] == 1
    # the retry of the rejected file list reached the server only once the reset had passed
    # (RateLimit-Reset is whole epoch seconds, at least 1 s after the 429 was sent)
    files = fake.calls_to("files")
    rejected = files[1]
    assert rejected.status == 429
    retry = next(c for c in files[2:] if c.path == rejected.path)
    assert retry.at - rejected.at >= 0.95


def test_malformed_pages_are_refetched_and_a_broken_file_list_still_gives_the_record(fake, crawl):
    fake.fault("search", 1, Reply(200, b'{"_links": {', {"Content-Type": "application/json"}))
    for nth in (1, 2, 3):
        fake.fault("files", nth, Reply(200, b"<html>oops</html>"))
    result = crawl("dryad", settings=api(fake), args={"query": "(6)"})  # dataset 6 only
    assert result.returncode == 0, result.log
    assert result.stats["envision/pages/malformed"] == 4  # 1 search + the file list 3 times
    incomplete = [i for i in result.items if not i["extra"]["files_complete"]]
    assert len(incomplete) == 1 and incomplete[0]["modified"] is None and incomplete[0]["files"] == []
    assert len(result.items) == 1 and result.items[0]["title"].endswith("(6)")
    assert result.stats["envision/files/incomplete"] == 1


def test_second_crawl_fetches_files_only_for_changed_datasets(fake, tmp_path):
    first = run_crawl("dryad", tmp_path, settings=api(fake), name="first")
    assert len(first.items) == 24
    fake.calls.clear()
    fake.datasets[4]["lastModificationDate"] = "2030-01-01"
    second = run_crawl("dryad", tmp_path, settings=api(fake), name="second")
    assert second.returncode == 0, second.log
    assert [c.path for c in fake.calls_to("files")] == ["/api/v2/versions/9005/files"]
    assert [i["doi"] for i in second.items] == [fake.datasets[4]["identifier"].removeprefix("doi:")]
    assert second.stats["envision/incremental/unchanged"] == 23


def test_multi_word_terms_are_quoted_phrases_packed_into_or_groups(fake, crawl):
    """Unquoted, ``optical coherence tomography`` matches any two of its words in Dryad's Solr
    (mm=2<-1 ...): "Optical projection tomography of zebrafish embryos" would be a hit. Quoted
    and OR-ed in groups, it is not, and 47 terms cost a few searches instead of 47."""
    from envision_spiders.queries import SEARCH_TERMS

    zebrafish = {d["identifier"] for d in fake.datasets if "zebrafish" in d["title"]}
    unquoted = fake.dispatch("GET", "/api/v2/search?q=optical+coherence+tomography", {"Accept": "application/json"}, b"")
    assert zebrafish and zebrafish <= {d["identifier"] for d in json.loads(unquoted.body)["_embedded"]["stash:datasets"]}
    fake.calls.clear()
    result = crawl("dryad", settings=api(fake))
    assert result.returncode == 0, result.log
    assert {i["doi"] for i in result.items} == fake.eye_dois  # the zebrafish dataset is not taken
    queries = [c.query["q"][0] for c in fake.calls_to("search") if "page" not in c.query]
    assert 1 < len(queries) == result.stats["envision/search/query_groups"] < len(SEARCH_TERMS) // 4
    joined = " OR ".join(queries)
    assert '"optical coherence tomography"' in joined and '"age-related macular degeneration"' in joined
    assert " OR fundus OR " in f" OR {joined} OR " and '"fundus"' not in joined  # single words stay bare
    assert all(len(q) <= 400 for q in queries)
    assert sorted(t.strip('"') for q in queries for t in q.split(" OR ")) == sorted(SEARCH_TERMS)


def small_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fundus/img001.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        archive.writestr("labels.csv", b"id,grade\n1,2\n")
    return buffer.getvalue()


def test_archive_inspection_sends_the_token_like_downloads_and_drops_it_on_redirect(crawl, nginx):
    """Dryad's file downloads answer 401 without the bearer token: inspection sends DRYAD_TOKEN
    (same origin as DRYAD_API_URL only) and the 302 to storage on another origin goes without it."""
    nginx.reset_log()
    nginx.put("dryad/archive.zip", small_zip())
    server = FakeDryad(n_eye=4, n_other=0, storage_url=lambda path: nginx.storage_url("dryad/archive.zip"))
    with server:
        result = crawl("dryad", settings={**api(server), "ENVISION_INSPECT_ENABLED": True},
                       env={"DRYAD_TOKEN": server.token})
    assert result.returncode == 0, result.log
    downloads = server.calls_to("download")
    assert downloads and all(c.headers.get("Authorization") == f"Bearer {server.token}" for c in downloads)
    assert all(c.status == 302 for c in downloads)
    storage = nginx.requests("/files/dryad/")
    assert storage and all(r["auth"] == "-" for r in storage)  # dropped on the cross-origin redirect
    reports = [c for item in result.items for c in item["archive_contents"]]
    assert len(reports) == 4 and all(r["status"] == "complete" for r in reports), [(r["status"], r.get("error")) for r in reports]
    assert all("fundus/img001.png" in str(r) for r in reports)
    files = [f for item in result.items for f in item["files"]]
    assert {f["access"] for f in files} == {"token", "restricted"}  # a link needs the token, not "open"
    assert server.token not in result.log


def test_without_a_token_dryad_files_are_not_inspected_and_say_why(fake, crawl):
    result = crawl("dryad", settings={**api(fake), "ENVISION_INSPECT_ENABLED": True}, args={"max_records": 2})
    assert result.returncode == 0, result.log
    reports = [c for item in result.items for c in item["archive_contents"]]
    assert reports and all(r["status"] == "skipped" and "no token for dryad" in r["error"] for r in reports)
    assert fake.calls_to("download") == []


def test_archives_are_inspected_with_the_token_the_spider_got_for_its_client_credentials(fake, crawl):
    """Dryad's file downloads answer 401 without a bearer token: with client credentials and no
    DRYAD_TOKEN, archive inspection sends the token the spider was issued (one for the crawl)."""
    import io
    import zipfile

    from tests.servers.base import ranged_reply

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(3):
            archive.writestr(f"fundus/OD_{n:03d}.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    body = buffer.getvalue()
    fake.route("storage", "GET", r"/storage/(.+)", lambda call, match: ranged_reply(call, body))
    fake.storage_url = lambda path: f"{fake.base_url}/storage/{path}"
    env = {"DRYAD_CLIENT_ID": fake.client_id, "DRYAD_CLIENT_SECRET": fake.client_secret}
    result = crawl("dryad", settings=api(fake, ENVISION_INSPECT_ENABLED=True), args={"query": "keratoconus"}, env=env)
    assert result.returncode == 0, result.log
    assert fake.tokens_issued == 1
    downloads = fake.calls_to("download")
    assert downloads and all(c.headers.get("Authorization") == f"Bearer {fake.token}" for c in downloads)
    assert all(c.status != 401 for c in downloads)
    inspected = [c for item in result.items for c in item["archive_contents"] if c["name"].endswith("images.zip")]
    assert inspected and all(c["status"] == "complete" and c["entries_total"] == 3 for c in inspected)


def test_the_client_credentials_are_read_from_envision_file_auth_only(monkeypatch):
    """One place for Dryad's OAuth client credentials: the spider reads its ENVISION_FILE_AUTH
    entry, the one gated downloads and inspection read."""
    from scrapy.settings import Settings

    from envision_spiders import settings as project
    from envision_spiders.spiders.dryad import DryadSpider

    settings = Settings()
    settings.setmodule(project, priority="project")
    assert DryadSpider.client_credentials(settings) == ["/oauth/token", "DRYAD_CLIENT_ID", "DRYAD_CLIENT_SECRET"]
    auth = {**settings.getdict("ENVISION_FILE_AUTH")}
    auth["dryad"] = {**auth["dryad"], "client_credentials": ["/oauth/v2/token", "LAB_DRYAD_ID", "LAB_DRYAD_SECRET"]}
    settings.set("ENVISION_FILE_AUTH", auth, priority="cmdline")
    for name in ("DRYAD_TOKEN", "DRYAD_CLIENT_ID", "DRYAD_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAB_DRYAD_ID", "id")
    monkeypatch.setenv("LAB_DRYAD_SECRET", "secret")
    assert DryadSpider.client_credentials(settings)[0] == "/oauth/v2/token"
    assert DryadSpider.has_token(settings)  # the file rate with a token, from those credentials

"""End to end: the real ``scrapy crawl kaggle`` against a local fake Kaggle API v1."""

from __future__ import annotations

import json

import pytest

from envision_spiders.schema import record_errors
from tests.conftest import run_crawl
from tests.servers.base import Reply
from tests.servers.kaggle import FakeKaggle, make_dataset, make_files

N = 50


@pytest.fixture
def fake():
    server = FakeKaggle(n_datasets=N)
    server.start()
    yield server
    server.stop()


def settings(server: FakeKaggle, **extra) -> dict:
    return {"KAGGLE_API_URL": f"{server.base_url}/api/v1", "KAGGLE_FILES_PAGE_SIZE": 5,
            "ENVISION_INSPECT_ENABLED": False, "ENVISION_BACKOFF_BASE_DELAY": 0.2, "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
            **extra}


ALL = {"query": "ophthalmology"}  # a term every fake dataset matches: 3 list pages instead of one series per term


def basic(server: FakeKaggle) -> dict:
    return {"KAGGLE_USERNAME": server.username, "KAGGLE_KEY": server.key}


def test_every_dataset_once_with_files_sizes_and_no_checksums(fake, crawl):
    result = crawl("kaggle", settings=settings(fake), env=basic(fake))
    assert result.returncode == 0, result.log
    by_id = {item["source_id"]: item for item in result.items}
    assert len(result.items) == len(by_id) == N
    for i in range(1, N + 1):
        expected = make_dataset(i)
        item = by_id[expected["ref"]]
        assert record_errors(item) == [], item["source_id"]
        assert item["title"] == expected["title"]
        assert [f["name"] for f in item["files"]] == [f["name"] for f in make_files(i)]  # also past pageSize
        assert [f["size"] for f in item["files"]] == [int(f["totalBytes"]) for f in make_files(i)]
        assert all(f["checksum"] is None for f in item["files"])
        assert item["extra"]["checksums"] == "not provided by Kaggle"
        assert item["license"] == {0: "cc0-1.0", 1: "cc-by-4.0", 2: None, 3: "odbl-1.0"}[i % 4]
    assert any(c.query.get("pageToken") for c in fake.calls_to("files"))
    # one series of list pages per term, stopped by the short page
    pages: dict[str, list[int]] = {}
    for call in fake.calls_to("list"):
        pages.setdefault(call.query["search"][0], []).append(int(call.query["page"][0]))
    assert all(p == list(range(1, len(p) + 1)) for p in pages.values())
    assert "optical coherence tomography" in pages and len(pages) == result.stats["envision/paging/pages"] - sum(
        len(p) - 1 for p in pages.values())


def test_basic_auth_is_sent_and_never_logged(fake, crawl):
    result = crawl("kaggle", settings=settings(fake), env=basic(fake), args={"max_records": 3})
    assert result.returncode == 0, result.log
    assert all(c.headers["Authorization"].startswith("Basic ") for c in fake.calls)
    assert "basic auth" in result.log
    for secret in (fake.key, fake.calls[0].headers["Authorization"].split()[1]):
        assert secret not in result.log and all(secret not in json.dumps(i) for i in result.items)


def test_token_is_sent_as_bearer_when_no_legacy_pair(fake, crawl):
    result = crawl("kaggle", settings=settings(fake), env={"KAGGLE_API_TOKEN": fake.token}, args={"max_records": 3})
    assert result.returncode == 0, result.log
    assert len(result.items) == 3
    assert all(c.headers["Authorization"] == f"Bearer {fake.token}" for c in fake.calls)
    assert fake.token not in result.log and all(fake.token not in json.dumps(i) for i in result.items)


def test_no_credentials_is_a_clear_error_at_start(fake, crawl):
    result = crawl("kaggle", settings=settings(fake))
    assert result.returncode == 2 and "Traceback" not in result.log
    assert "Kaggle requires credentials" in result.log and "KAGGLE_USERNAME" in result.log
    assert fake.calls == []


def test_refused_token_closes_the_crawl_with_a_hint(crawl):
    server = FakeKaggle(n_datasets=N, accept_bearer=False)  # Bearer on the legacy routes is unconfirmed
    with server:
        result = crawl("kaggle", settings=settings(server), env={"KAGGLE_API_TOKEN": server.token})
    assert "Kaggle refused the bearer credentials (HTTP 401)" in result.log and "KAGGLE_KEY" in result.log
    assert result.stats["finish_reason"] == "kaggle_auth_401"
    assert result.items == [] and len(server.calls) == 1  # the probe only, not one request per term
    assert server.token not in result.log


def test_page_cap_is_respected_and_an_empty_page_past_the_real_cap_ends_paging(crawl):
    server = FakeKaggle(n_datasets=120, max_page=2)  # the server's cap is lower than configured
    with server:
        capped = crawl("kaggle", settings=settings(server, KAGGLE_MAX_PAGE=2), env=basic(server), args={"query": "eye"},
                       name="capped")
        assert [int(c.query["page"][0]) for c in server.calls_to("list")] == [1, 2]
        assert capped.stats["envision/paging/truncated"] == 1
        server.calls.clear()
        result = crawl("kaggle", settings=settings(server, ENVISION_INCREMENTAL=False), env=basic(server),
                       args={"query": "eye"}, name="uncapped")
    assert [int(c.query["page"][0]) for c in server.calls_to("list")] == [1, 2, 3]  # page 3: []
    assert len(result.items) == len({i["source_id"] for i in result.items}) == 40


def test_query_max_records_and_since(fake, crawl):
    result = crawl("kaggle", settings=settings(fake), env=basic(fake), args={"query": "glaucoma", "max_records": 4})
    assert result.returncode == 0, result.log
    assert {c.query["search"][0] for c in fake.calls_to("list")} == {"glaucoma"}
    assert len(result.items) == 4 and all("Glaucoma" in i["title"] for i in result.items)
    since = crawl("kaggle", settings=settings(fake), env=basic(fake), args={"since": "2019-01-01"}, name="since")
    assert since.items and all(i["modified"][:10] >= "2019-01-01" for i in since.items)
    assert since.stats["envision/search/older_than_since"] >= 1 and len(since.items) < N


def test_429_malformed_list_and_files_error(fake, crawl):
    fake.fault("list", 2, FakeKaggle.rate_limited())
    fake.fault("list", 3, Reply(200, b"<html>Just a moment...</html>"))
    fake.fault("files", 3, Reply.json({"datasetFiles": [], "errorMessage": "Internal error, try again"}))
    result = crawl("kaggle", settings=settings(fake), env=basic(fake), args=ALL)
    assert result.returncode == 0, result.log
    assert result.stats["envision/backoff/429"] == 1
    assert result.stats["envision/pages/malformed"] == 1
    assert len(result.items) == len({i["source_id"] for i in result.items}) == N
    assert [i["extra"].get("files_incomplete") for i in result.items].count(True) == 1


def test_second_crawl_costs_only_list_pages(fake, tmp_path):
    first = run_crawl("kaggle", tmp_path, settings=settings(fake), env=basic(fake), args=ALL, name="first")
    assert len(first.items) == N
    fake.calls.clear()
    second = run_crawl("kaggle", tmp_path, settings=settings(fake), env=basic(fake), args=ALL, name="second")
    assert second.returncode == 0, second.log
    assert {c.route for c in fake.calls} == {"list"}
    assert second.items == [] and second.stats["envision/incremental/unchanged"] == N


def test_newer_nullable_keys_are_read_and_file_urls_encode_path_parameters(fake, crawl):
    """Every third list row has title/url/licenseName/totalBytes/ownerRef only under
    ``<name>Nullable`` (plain key absent or false); a file in a folder is one encoded segment."""
    import base64
    import urllib.request

    from tests.servers.kaggle import newer_shape

    result = crawl("kaggle", settings=settings(fake), env=basic(fake), args=ALL)
    assert result.returncode == 0, result.log
    by_id = {item["source_id"]: item for item in result.items}
    newer = [i for i in range(1, N + 1) if "titleNullable" in newer_shape(make_dataset(i), i)]
    assert len(newer) >= 10
    for i in newer:
        expected, item = make_dataset(i), by_id[make_dataset(i)["ref"]]
        assert record_errors(item) == [], item["source_id"]
        assert item["title"] == expected["title"] and item["url"] == expected["url"]
        assert item["license"] == {0: "cc0-1.0", 1: "cc-by-4.0", 2: None, 3: "odbl-1.0"}[i % 4]
        assert item["extra"]["total_bytes"] == int(expected["totalBytes"])
        assert item["extra"]["license_name"] == expected["licenseName"]
        assert item["extra"]["owner_ref"] == expected["ownerRef"]
    files = [f for item in result.items for f in item["files"] if f["name"].startswith("images/")]
    assert files and all(f["url"].endswith("/" + f["name"].replace("/", "%2F")) for f in files)
    auth = "Basic " + base64.b64encode(f"{fake.username}:{fake.key}".encode()).decode()
    with urllib.request.urlopen(urllib.request.Request(files[0]["url"], headers={"Authorization": auth})) as answer:
        assert answer.status == 200  # the fake (like Kaggle) finds the file by its encoded name

"""End to end: the real ``scrapy crawl osf`` against a local fake OSF API v2."""

from __future__ import annotations

import json

import pytest
from scrapy.settings import Settings

from envision_spiders.schema import record_errors
from envision_spiders.spiders.osf import OsfSpider
from tests.conftest import run_crawl
from tests.servers.base import Reply
from tests.servers.osf import FakeOSF

FAST = {"ENVISION_INSPECT_ENABLED": False, "ENVISION_BACKOFF_BASE_DELAY": 0.1}


@pytest.fixture
def fake():
    server = FakeOSF(n_eye=12, n_other=2, n_private=2)
    server.start()
    yield server
    server.stop()


def api(server: FakeOSF, **extra) -> dict:
    return {"OSF_API_URL": f"{server.base_url}/v2", **FAST, **extra}


def test_crawl_walks_file_trees_of_public_nodes_only(fake, crawl):
    result = crawl("osf", settings=api(fake), env={"OSF_TOKEN": fake.token})
    assert result.returncode == 0, result.log
    ids = [item["source_id"] for item in result.items]
    assert len(ids) == len(set(ids)) and set(ids) == fake.public_eye_ids  # private nodes excluded despite the token
    for item in result.items:
        assert record_errors(item) == [], item["source_id"]
        tree = fake.tree_of(item["source_id"])
        expected = sorted(e["attributes"]["materialized_path"].lstrip("/") for es in tree.values() for e in es
                          if e["attributes"]["kind"] == "file")
        assert sorted(f["name"] for f in item["files"]) == expected  # folders walked, all pages
        assert item["creators"] and item["creators"][0].startswith("Maria Lopez")
        assert item["extra"]["alternate_dois"] == [f"10.17605/osf.io/{item['source_id']}"]
        assert item["doi"] is None  # the fake minted no DOI: none made up from the GUID
    files = [f for item in result.items for f in item["files"]]
    assert max(item["file_count"] for item in result.items) >= 150  # node 3: a 150-file folder, two pages
    assert {f["checksum"].split(":")[0] for f in files if f["checksum"]} == {"sha256", "md5"}
    assert any(f["checksum"] is None for f in files)
    assert all(f["url"].startswith(f"{fake.base_url}/download/") and f["size"] is not None for f in files)
    licences = {item["license"] for item in result.items}
    assert licences == {"cc-by-4.0", "cc0-1.0", "mit", None}
    calls = fake.calls_to("nodes")
    assert all(c.query["filter[public]"] == ["true"] and c.query["page[size]"] == ["100"] for c in calls)
    assert all("filter[title,description]" in c.query for c in calls)
    assert all(c.headers.get("Authorization") == f"Bearer {fake.token}" for c in fake.calls)
    assert fake.calls_to("search") == [] and len(fake.calls_to("licenses")) == 1
    assert fake.token not in result.log and all(fake.token not in json.dumps(i) for i in result.items)


def test_anonymous_rate_is_a_setting_applied_as_download_delay(monkeypatch):
    monkeypatch.delenv("OSF_TOKEN", raising=False)
    settings = Settings({"OSF_REQUESTS_PER_HOUR": 100, "OSF_REQUESTS_PER_HOUR_TOKEN": 400})
    OsfSpider.update_settings(settings)
    assert settings.getfloat("DOWNLOAD_DELAY") == 36.0
    monkeypatch.setenv("OSF_TOKEN", "x")
    settings = Settings({"OSF_REQUESTS_PER_HOUR_TOKEN": 400})
    OsfSpider.update_settings(settings)
    assert settings.getfloat("DOWNLOAD_DELAY") == 9.0
    settings = Settings()
    settings.set("DOWNLOAD_DELAY", 0.5, priority="cmdline")
    OsfSpider.update_settings(settings)
    assert settings.getfloat("DOWNLOAD_DELAY") == 0.5  # -s DOWNLOAD_DELAY wins


def test_invalid_token_falls_back_to_anonymous(fake, crawl):
    bad = "osf-revoked-token-77"
    result = crawl("osf", settings=api(fake), env={"OSF_TOKEN": bad}, args={"query": "glaucoma"})
    assert result.returncode == 0, result.log
    assert {i["source_id"] for i in result.items} == {n["id"] for n in fake.all_nodes()[:12]
                                                      if "glaucoma" in n["attributes"]["title"].lower()
                                                      or "glaucoma" in n["attributes"]["description"].lower()}
    assert result.stats["envision/auth/token_rejected"] == 1
    assert bad not in result.log


def test_query_max_records_since_and_throttling(fake, crawl):
    fake.fault("nodes", 1, FakeOSF.throttled(1))
    result = crawl("osf", settings=api(fake), args={"query": "Keratoconus", "max_records": 2, "since": "2020-02-01"})
    assert result.returncode == 0, result.log
    assert len(result.items) == 2 and all("keratoconus" in i["title"].lower() for i in result.items)
    call = fake.calls_to("nodes")[-1]
    assert call.query["filter[title,description]"] == ["Keratoconus"]
    assert call.query["filter[date_modified][gte]"] == ["2020-02-01"]
    assert result.stats["envision/backoff/429"] == 1
    assert all(i["modified"] >= "2020-02-01" for i in result.items)


def test_broken_folder_listing_still_gives_the_record_marked_incomplete(fake, crawl):
    for nth in (2, 3, 4):  # the first node's "images" folder listing, and its re-fetches
        fake.fault("files", nth, Reply(200, b"<html>maintenance</html>"))
    result = crawl("osf", settings=api(fake), args={"query": "Glaucoma OCT study 4"})
    assert result.returncode == 0, result.log
    [item] = result.items
    assert item["extra"]["files_complete"] is False and item["modified"] is None
    assert sorted(f["name"] for f in item["files"]) == ["4-labels.csv", "4-readme.txt"]


def test_second_crawl_skips_unchanged_file_trees(fake, tmp_path):
    first = run_crawl("osf", tmp_path, settings=api(fake), name="first")
    assert len(first.items) == 12
    fake.calls.clear()
    second = run_crawl("osf", tmp_path, settings=api(fake), name="second")
    assert second.returncode == 0, second.log
    assert fake.calls_to("files") == [] and second.items == []
    assert second.stats["envision/incremental/unchanged"] == 12


def test_nodes_edited_during_the_crawl_are_neither_skipped_nor_repeated(crawl):
    """OSF orders nodes by ``-modified``: a node edited while we page jumps to page 1 and
    pushes another back a page (one skipped, one repeated). Sorting by ``date_created`` holds."""
    server = FakeOSF(n_eye=12, n_other=2, n_private=0, edits_during_crawl=3)
    with server:
        result = crawl("osf", settings=api(server, OSF_PAGE_SIZE=5), args={"query": "part"})
        expected = sorted(n["id"] for n in server.all_nodes())
    assert result.returncode == 0, result.log
    ids = [item["source_id"] for item in result.items]
    assert sorted(ids) == expected and len(expected) == 14  # all public nodes, each once
    assert server.edited  # nodes really moved under -modified during the crawl
    assert all(c.query["sort"] == ["date_created"] for c in server.calls_to("nodes"))


def test_doi_only_when_the_node_has_one_minted(crawl):
    fake = FakeOSF(n_eye=12, n_other=2, n_private=0, mint_every=3)
    with fake:
        result = crawl("osf", settings=api(fake), args={"query": "part"})
    assert result.returncode == 0, result.log
    dois = {item["source_id"]: item["doi"] for item in result.items}
    with_doi = {k for k, v in dois.items() if v}
    assert with_doi and with_doi != set(dois)  # some nodes have one, some none
    assert all(dois[k] == fake.minted_doi(k).lower() for k in with_doi)
    assert all(fake.minted_doi(k) is None for k in set(dois) - with_doi)

"""End to end: the real ``scrapy crawl datacite`` against a local fake DataCite REST API."""

from __future__ import annotations

import pytest

from envision_spiders.schema import record_errors
from tests.conftest import run_crawl
from tests.servers.base import Reply
from tests.servers.datacite import FakeDataCite

FAST = {"ENVISION_INSPECT_ENABLED": False, "ENVISION_BACKOFF_BASE_DELAY": 0.1}


@pytest.fixture
def fake():
    server = FakeDataCite(n_eye=45, n_other=5, window=20)  # page numbers would clamp at 20 records
    server.start()
    yield server
    server.stop()


def api(server: FakeDataCite, **extra) -> dict:
    return {"DATACITE_API_URL": server.base_url, "DATACITE_PAGE_SIZE": 10, **FAST, **extra}


def test_cursor_crawl_yields_every_dataset_once_past_the_page_number_window(fake, crawl):
    result = crawl("datacite", settings=api(fake))
    assert result.returncode == 0, result.log
    dois = [item["doi"] for item in result.items]
    assert len(dois) == len(set(dois)) and set(dois) == fake.eye_dois  # 45 > window 20: cursor reaches all
    for item in result.items:
        assert record_errors(item) == [], item["doi"]
        assert item["source_id"] == item["doi"] and item["extra"]["metadata_only"]
        # no file lists on DataCite: only a contentUrl (every 6th record here) becomes a link entry
        expected = [f"https://repo.example.org/files/{int(item['doi'][-5:])}/data.zip"] if int(item["doi"][-5:]) % 6 == 0 else []
        assert [f["url"] for f in item["files"]] == expected and all(f["access"] == "link" for f in item["files"])
    calls = fake.calls_to("dois")
    assert all("page[number]" not in c.query and "page[cursor]" in c.query for c in calls)
    # links.next drops mailto: the spider rebuilt every next URL with all of its parameters
    assert all(c.query["mailto"] == ["envision-spiders@example.org"] for c in calls)
    assert all(c.query["resource-type-id"] == ["dataset"] and c.query["page[size]"] == ["10"] for c in calls)
    assert all("@" in c.headers["User-Agent"] for c in calls)
    assert sum(c.query["page[cursor]"] != ["1"] for c in calls) >= 4  # really paged by cursor


def test_fields_are_mapped(fake, crawl):
    result = crawl("datacite", settings=api(fake), args={"query": "keratoconus"})
    by_doi = {item["doi"]: item for item in result.items}
    item = by_doi[fake.records[10]["id"]]  # i=11: odd -> byte sizes; 11 % 3 -> cc-by
    assert item["title"] == "Slit lamp images of keratoconus corneas (11)"
    assert item["license"] == "cc-by-4.0" and item["access_type"] == "open"
    assert item["size_mb"] == 0.011 and item["extra"]["sizes"] == ["11007 bytes", "11 files"]
    assert item["extra"]["formats"] == ["application/zip"]
    assert item["modified"] == fake.records[10]["attributes"]["updated"]
    cc0 = by_doi[fake.records[14]["id"]]  # i=15: IsIdenticalTo + CC0 URL only
    assert cc0["license"] == "cc0-1.0" and cc0["extra"]["alternate_dois"] == ["10.8098/mirror.15"]
    assert "10.1000/paper.15" in cc0["related_dois"]


def test_query_max_records_and_since(fake, crawl):
    result = crawl("datacite", settings=api(fake), args={"query": "keratoconus", "max_records": 5})
    assert result.returncode == 0, result.log
    assert len(result.items) == 5 and all("keratoconus" in i["title"] for i in result.items)
    assert len(fake.calls_to("dois")) == 1
    assert '"keratoconus"' in fake.calls_to("dois")[0].query["query"][0]
    fake.calls.clear()
    result = crawl("datacite", settings=api(fake), args={"since": "2018-04-01"})
    assert "updated:[2018-04-01 TO *]" in fake.calls_to("dois")[0].query["query"][0]
    assert result.items and all(i["modified"][:10] >= "2018-04-01" for i in result.items)
    assert len(result.items) < 45


def test_rate_limit_429_and_firewall_403_are_backed_off(fake, crawl):
    fake.fault("dois", 2, FakeDataCite.rate_limited())
    fake.fault("dois", 4, FakeDataCite.firewall_403())
    result = crawl("datacite", settings=api(fake))
    assert result.returncode == 0, result.log
    assert {i["doi"] for i in result.items} == fake.eye_dois
    assert result.stats["envision/backoff/429"] == 1 and result.stats["envision/backoff/403"] == 1


def test_malformed_page_is_fetched_again_and_a_lost_cursor_is_reported(fake, crawl):
    fake.fault("dois", 3, Reply(200, b'{"data": [', {"Content-Type": "application/json"}))
    result = crawl("datacite", settings=api(fake))
    assert {i["doi"] for i in result.items} == fake.eye_dois
    assert result.stats["envision/pages/malformed"] == 1


def test_a_page_malformed_for_good_loses_the_rest_of_its_cursor_listing_loudly(fake, crawl):
    for nth in range(1, 4):  # the first page of the only query group, and both re-fetches
        fake.fault("dois", nth, Reply(200, b"<html>maintenance</html>"))
    result = crawl("datacite", settings=api(fake), args={"query": "glaucoma"})
    assert result.returncode == 0 and result.items == []
    assert result.stats["envision/listing/lost"] == 1
    assert "The rest of listing" in result.log and "maintenance" in result.log


def test_second_crawl_of_unchanged_records_stores_nothing_new(fake, tmp_path):
    first = run_crawl("datacite", tmp_path, settings=api(fake), name="first")
    assert len(first.items) == 45
    second = run_crawl("datacite", tmp_path, settings=api(fake), name="second")
    assert second.returncode == 0, second.log
    assert second.items == [] and second.stats["envision/incremental/unchanged"] == 45


def test_terms_are_packed_by_final_url_length_with_room_for_the_cursor(fake, crawl):
    """A group packed to DATACITE_QUERY_MAX_LENGTH (1000) is a URL of ~1,900 characters once
    encoded: under a lower URLLENGTH_LIMIT (or a longer API root) Scrapy would drop it. Packing
    by the final URL (cursor included) keeps every request, first and later pages, under it."""
    result = crawl("datacite", settings=api(fake, URLLENGTH_LIMIT=1200), args={"since": "2000-01-01"})
    assert result.returncode == 0, result.log
    assert "urllength/request_ignored_count" not in result.stats
    assert {item["doi"] for item in result.items} == fake.eye_dois
    calls = fake.calls_to("dois")
    assert result.stats["envision/search/query_groups"] >= 3
    assert any(c.query["page[cursor]"] != ["1"] for c in calls)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse

from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.zenodo import ZenodoRecordPage, ZenodoSearchPage
from envision_spiders.schema import record_errors

FIXTURE = Path(__file__).parent.parent / "fixtures" / "zenodo" / "search_page.json"
URL = "https://zenodo.org/api/records?q=x"


def search_page(body: bytes) -> ZenodoSearchPage:
    return ZenodoSearchPage(HttpResponse(URL, body=body, status=200))


@pytest.fixture
def record():
    import asyncio

    records, problems = asyncio.run(search_page(FIXTURE.read_bytes()).records())
    assert problems == ["hit 1 has no id"]
    assert len(records) == 1
    return ItemAdapter(records[0]).asdict()


def test_identity_and_dois_are_normalised(record):
    assert record["source"] == "zenodo"
    assert record["source_id"] == "8254022"
    assert record["doi"] == "10.5281/zenodo.8254022"
    assert record["version_of"] == "10.5281/zenodo.8254021"
    assert record["extra"]["concept_recid"] == "8254021"


def test_related_dois_exclude_own_concept_and_are_lower_case(record):
    assert record["related_dois"] == ["10.1016/j.ophtha.2023.01.001"]
    assert record["external_links"] == ["https://github.com/example/dme-oct"]


def test_description_html_is_stripped(record):
    assert record["description"] == "Spectral-domain OCT B-scans from 120 eyes. Labels in CSV."


def test_descriptive_fields(record):
    assert record["title"] == "Retinal OCT images of diabetic macular edema"
    assert record["keywords"] == ["OCT", "diabetic macular edema"]
    assert record["creators"] == ["Doe, Jane"]
    assert record["license"] == "cc-by-4.0"
    assert record["access_type"] == "open"
    assert record["modified"] == "2024-02-01T17:03:10.000000+00:00"
    assert record["url"] == "https://zenodo.org/records/8254022"
    assert record["kind"] == "dataset"


def test_files_use_range_capable_route_and_md5(record):
    first = record["files"][0]
    assert first["name"] == "Data set.zip"
    assert first["url"] == "https://zenodo.org/records/8254022/files/Data%20set.zip?download=1"
    assert first["checksum"] == "md5:0123456789abcdef0123456789abcdef"
    assert first["size"] == 302100000


def test_portal_counts(record):
    assert record["file_count"] == 2
    assert record["archive_count"] == 1
    assert record["file_types"] == [".csv", ".zip"]
    assert record["size_mb"] == 302.11


def test_record_matches_schema(record):
    assert record_errors(record) == []


def test_single_record_endpoint_gives_the_same_item(record):
    import asyncio

    hit = json.loads(FIXTURE.read_bytes())["hits"]["hits"][0]
    page = ZenodoRecordPage(HttpResponse("https://zenodo.org/api/records/8254022", body=json.dumps(hit).encode()))
    assert ItemAdapter(asyncio.run(page.to_item())).asdict() == record


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"<html>Service unavailable</html>", "invalid JSON"),
        (b'{"hits": {"total": 3}}', "no hits.hits list"),
        (b'{"hits": {"hits": [], "total": "many"}}', "no hits.total"),
        (b"[1, 2]", "expected a JSON dict"),
    ],
)
def test_malformed_pages_raise_a_clear_error(body, problem):
    page = search_page(body)
    with pytest.raises(MalformedPage, match=problem):
        page.total

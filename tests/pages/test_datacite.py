from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse

from envision_spiders.pages.base import MalformedPage, parse_size
from envision_spiders.pages.datacite import DataCiteListPage, DataCiteRecord
from envision_spiders.schema import record_errors

FIXTURE = Path(__file__).parent.parent / "fixtures" / "datacite" / "dois_page.json"
URL = "https://api.datacite.org/dois?query=fundus"


def page(body: bytes) -> DataCiteListPage:
    return DataCiteListPage(HttpResponse(URL, body=body, status=200))


@pytest.fixture
def listing() -> DataCiteListPage:
    return page(FIXTURE.read_bytes())


@pytest.fixture
def record(listing) -> dict:
    entries, problems = listing.entries()
    assert problems == ["entry 1 has no DOI"] and len(entries) == 1
    return ItemAdapter(asyncio.run(DataCiteRecord(entries[0], api_root="https://api.datacite.org").to_item())).asdict()


def test_paging(listing):
    assert listing.total == 2 and listing.last_link is None
    assert "page%5Bcursor%5D=MTY3" in listing.next_link


def test_identity(record):
    assert record["source"] == "datacite" and record["source_id"] == record["doi"] == "10.5281/zenodo.7625243"
    assert record["api_url"] == "https://api.datacite.org/dois/10.5281/zenodo.7625243"
    assert record["url"] == "https://zenodo.org/records/7625243" and record["kind"] == "dataset"


def test_dois_that_name_the_same_dataset_go_to_dedup(record):
    assert record["version_of"] == "10.5281/zenodo.7625242"
    assert record["extra"]["alternate_dois"] == ["10.17632/abcd1234.1", "10.5281/zenodo.7625242"]
    assert record["related_dois"] == ["10.1016/j.ophtha.2022.11.004"]
    assert record["external_links"] == ["https://github.com/example/rfig"]


def test_descriptive_fields(record):
    assert record["title"] == "Retinal fundus images for glaucoma screening (RFIG)"
    assert record["description"] == "1,200 colour fundus photographs & glaucoma labels."
    assert record["keywords"] == ["fundus photography", "glaucoma", "FOS: Clinical medicine"]
    assert record["creators"] == ["Kumar, Priya"]
    assert record["publication_date"] == "2023-02-09" and record["modified"] == "2024-01-15T08:02:11.000Z"
    assert record["license"] == "cc-by-4.0" and record["access_type"] == "open" and record["version"] == "1.0"


def test_metadata_only_sizes_and_routing(record):
    assert record["files"] == [] and record["file_count"] == 0
    assert record["size_mb"] == 7392.105
    assert record["extra"]["sizes"] == ["7392105331 bytes", "1200 images"]
    assert record["extra"]["formats"] == ["application/zip"]
    assert record["extra"]["client_id"] == "cern.zenodo" and record["extra"]["repository"] == "zenodo"


def test_record_matches_schema(record):
    assert record_errors(record) == []


@pytest.mark.parametrize("text, size", [("7392105331 bytes", 7392105331), ("1.9 GB", 1_900_000_000),
                                        ("512 KiB", 524288), ("120 files", None), (None, None)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("body, problem", [(b"<html>busy</html>", "invalid JSON"), (b'{"errors": []}', "no data list")])
def test_malformed(body, problem):
    with pytest.raises(MalformedPage, match=problem):
        page(body).entries()


def test_content_url_becomes_a_link_entry():
    entry = json.loads(FIXTURE.read_bytes())["data"][0]
    entry["attributes"]["contentUrl"] = ["https://example.org/data/all%20images.zip"]
    item = asyncio.run(DataCiteRecord(entry).to_item())
    assert item.files == [{"name": "all images.zip", "size": None, "url": "https://example.org/data/all%20images.zip",
                           "checksum": None, "access": "link"}]

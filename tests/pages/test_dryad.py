from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse

from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.dryad import DryadFilesPage, DryadRecord, DryadSearchPage, dryad_checksum, href
from envision_spiders.schema import record_errors

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dryad"
BASE = "https://datadryad.org/api/v2/search?q=fundus&per_page=2"


@pytest.fixture
def search() -> DryadSearchPage:
    return DryadSearchPage(HttpResponse(BASE, body=(FIXTURES / "search_page.json").read_bytes()))


@pytest.fixture
def files_page() -> DryadFilesPage:
    url = "https://datadryad.org/api/v2/versions/245811/files?page=2&per_page=2"
    return DryadFilesPage(HttpResponse(url, body=(FIXTURES / "files_page.json").read_bytes()))


@pytest.fixture
def record(search, files_page) -> dict:
    datasets, problems = search.entries()
    assert problems == ["entry 1 has no identifier"]
    files, file_problems = files_page.entries()
    assert file_problems == []
    item = asyncio.run(DryadRecord(datasets[0], file_data=files, base_url=BASE).to_item())
    return ItemAdapter(item).asdict()


def test_hal_paging_links_are_paths(search, files_page):
    assert search.total == 5
    assert search.next_link == "/api/v2/search?page=2&per_page=2&q=fundus"
    assert search.last_link == "/api/v2/search?page=3&per_page=2&q=fundus"
    assert files_page.next_link is None  # the last page has no next


def test_identity_and_urls(record, search):
    assert record["source_id"] == record["doi"] == "10.5061/dryad.8w9ghx3nd"
    assert record["api_url"] == "https://datadryad.org/api/v2/datasets/doi%3A10.5061%2Fdryad.8w9ghx3nd"
    assert record["url"] == "https://doi.org/10.5061/dryad.8w9ghx3nd"
    assert href(search.entries()[0][0], "stash:version") == "/api/v2/versions/245811"


def test_descriptive_fields(record):
    assert record["title"] == "Fundus autofluorescence images of Stargardt disease"
    assert record["description"] == "Short-wavelength fundus autofluorescence images. Graded by two readers."
    assert record["keywords"] == ["fundus autofluorescence", "Stargardt disease"]
    assert record["creators"] == ["Berg, Tom", "Okafor, Lena"]  # by `order`
    assert record["license"] == "cc0-1.0" and record["access_type"] == "open" and record["version"] == "2"
    assert record["publication_date"] == "2023-05-04" and record["modified"] == "2023-06-12"
    assert record["related_dois"] == ["10.1167/iovs.64.3.12"]
    assert record["external_links"] == ["https://github.com/example/faf-grading"]
    assert record["extra"]["storage_size"] == 524288312 and record["extra"]["version_order"] == 2


def test_files_digests_and_download_links(record):
    zip_, csv, readme = record["files"]
    assert zip_["name"] == "FAF images.zip" and zip_["size"] == 524280000
    assert zip_["checksum"] == "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert zip_["url"] == "https://datadryad.org/api/v2/files/3301001/download" and zip_["access"] == "token"  # Dryad downloads need a bearer token
    assert csv["checksum"] == "md5:0cc175b9c0f1b6a831c399e269772661" and csv["mimetype"] == "text/csv"
    assert readme["checksum"] is None and readme["url"] is None and readme["access"] == "restricted"
    assert record["archive_count"] == 1 and record["size_mb"] == 524.288


def test_record_matches_schema(record):
    assert record_errors(record) == []


def test_incomplete_file_list_drops_the_modified_stamp(search):
    item = asyncio.run(DryadRecord(search.entries()[0][0], files_complete=False).to_item())
    assert item.modified is None and item.extra["files_complete"] is False


@pytest.mark.parametrize("digest, kind, out", [("AB12", "sha-256", "sha256:ab12"), ("ab", "md5", "md5:ab"),
                                               ("ab", "sha-1", "sha1:ab"), (None, "md5", None), ("zz", "md5", None)])
def test_checksum(digest, kind, out):
    assert dryad_checksum(digest, kind) == out


def test_empty_result_without_embedded_is_not_malformed():
    page = DryadSearchPage(HttpResponse(BASE, body=b'{"_links": {"self": {"href": "/x"}}, "count": 0, "total": 0}'))
    assert page.entries() == ([], []) and page.next_link is None


@pytest.mark.parametrize("body, problem", [(b"Not Acceptable", "invalid JSON"), (b'{"total": 3}', "no _embedded")])
def test_malformed(body, problem):
    with pytest.raises(MalformedPage, match=problem):
        DryadSearchPage(HttpResponse(BASE, body=body)).entries()

"""Kaggle page objects over recorded-shape JSON (tests/fixtures/kaggle/)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse

from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.kaggle import KaggleDataset, KaggleFilesPage, KaggleListPage, as_int, kaggle_license
from envision_spiders.schema import record_errors

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kaggle"
API = "https://www.kaggle.com/api/v1"


def list_page(body: bytes) -> KaggleListPage:
    return KaggleListPage(HttpResponse(f"{API}/datasets/list?search=oct&page=1", body=body, status=200))


def files_page(body: bytes) -> KaggleFilesPage:
    return KaggleFilesPage(HttpResponse(f"{API}/datasets/list/paultimothymooney/kermany2018", body=body, status=200))


@pytest.fixture
def datasets() -> list[dict]:
    page = list_page((FIXTURES / "list_page.json").read_bytes())
    found, problems = page.entries()
    assert problems == ["entry 2: no owner/slug ref"] and page.count == 3
    return found


@pytest.fixture
def record(datasets) -> dict:
    files = files_page((FIXTURES / "files_page.json").read_bytes()).files()
    item = asyncio.run(KaggleDataset(datasets[0], dataset_files=files, download_base=API).to_item())
    return ItemAdapter(item).asdict()


def test_identity_and_descriptive_fields(record):
    assert record["source"] == "kaggle"
    assert record["source_id"] == "paultimothymooney/kermany2018"
    assert record["kind"] == "dataset" and record["doi"] is None
    assert record["url"] == "https://www.kaggle.com/datasets/paultimothymooney/kermany2018"
    assert record["title"] == "Retinal OCT Images (optical coherence tomography)"
    assert record["description"] == "OCT images of choroidal neovascularization, DME, drusen and normal retinas"
    assert record["keywords"] == ["healthcare", "image"]
    assert record["creators"] == ["Paul Mooney"]
    assert record["license"] == "cc-by-4.0"
    assert record["modified"] == "2018-03-24T19:41:59.123Z"
    assert record["publication_date"] == "2018-03-20T08:00:00.000Z"
    assert record["version"] == "2" and record["extra"]["version_order"] == 2
    assert record["access_type"] == "open"


def test_files_have_sizes_download_urls_and_no_checksums(record):
    first, second = record["files"]
    assert first == {"name": "OCT2017 .zip", "size": 5793183169, "checksum": None, "mimetype": None, "access": "open",
                     "url": f"{API}/datasets/download/paultimothymooney/kermany2018/OCT2017%20.zip"}
    assert second["size"] == 20480
    assert record["extra"]["checksums"] == "not provided by Kaggle"
    assert record["extra"]["total_bytes"] == 5793183169  # an int64 sent as a string
    assert record["extra"]["bundle_url"] == f"{API}/datasets/download/paultimothymooney/kermany2018"
    assert record["archive_count"] == 1 and record["file_count"] == 2


def test_record_matches_schema(record):
    assert record_errors(record) == []


def test_sparse_proto_json_dataset_reads_with_defaults(datasets):
    record = asyncio.run(KaggleDataset(datasets[1]).to_item())
    assert record.license == "cc0-1.0"
    assert record.creators == [] and record.keywords == [] and record.description == ""
    assert record.version is None and record.publication_date is None and record.files == []
    assert record.extra["kaggle_id"] == 4321987 and record.extra["download_count"] == 0
    assert record_errors(ItemAdapter(record).asdict()) == []


def test_files_page_token_and_error_message():
    page = files_page((FIXTURES / "files_page.json").read_bytes())
    assert page.next_page_token == "CgZsYWJlbHM=" and page.error is None
    missing = files_page(b'{"datasetFiles": [], "errorMessage": "Dataset not found"}')
    assert missing.files() == [] and missing.error == "Dataset not found" and missing.next_page_token is None
    assert files_page(b"{}").files() == []  # an empty listing leaves the default out


@pytest.mark.parametrize("value, expected", [(5, 5), ("12", 12), ("", None), (None, None), (True, None), ("1e3", None)])
def test_int64_as_number_or_string(value, expected):
    assert as_int(value) == expected


@pytest.mark.parametrize(
    "name, expected",
    [("CC0: Public Domain", "cc0-1.0"), ("Other (specified in description)", None), ("unknown", None),
     ("CC BY-SA 4.0", "cc-by-sa-4.0"), ("Database: Open Database, Contents: Database Contents", "odbl-1.0"), (None, None)],
)
def test_kaggle_licence_names(name, expected):
    assert kaggle_license(name) == expected


@pytest.mark.parametrize(
    "make, body, problem",
    [
        (list_page, b"<html>Just a moment...</html>", "invalid JSON"),
        (list_page, b'{"datasets": []}', "expected a JSON list"),
        (files_page, b'{"datasetFiles": [{"totalBytes": 3}]}', "no datasetFiles list"),
        (files_page, b'{"datasetFiles": "none"}', "no datasetFiles list"),
    ],
)
def test_malformed_pages_raise_a_clear_error(make, body, problem):
    page = make(body)
    with pytest.raises(MalformedPage, match=problem):
        page.entries() if isinstance(page, KaggleListPage) else page.files()

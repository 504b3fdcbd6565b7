from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse

from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.osf import OsfFilesPage, OsfNodesPage, OsfRecord, related_href
from envision_spiders.schema import record_errors

FIXTURES = Path(__file__).parent.parent / "fixtures" / "osf"
LICENSES = {"563c1cf88c5e4a3877f9e96a": {"name": "CC-By Attribution 4.0 International",
                                         "url": "https://creativecommons.org/licenses/by/4.0/legalcode"}}


@pytest.fixture
def nodes() -> OsfNodesPage:
    return OsfNodesPage(HttpResponse("https://api.osf.io/v2/nodes/?filter%5Btitle%2Cdescription%5D=OCTA",
                                     body=(FIXTURES / "nodes_page.json").read_bytes()))


@pytest.fixture
def files_page() -> OsfFilesPage:
    return OsfFilesPage(HttpResponse("https://api.osf.io/v2/nodes/k7r2q/files/osfstorage/?version=2.1",
                                     body=(FIXTURES / "files_page_v21.json").read_bytes()))


@pytest.fixture
def record(nodes, files_page) -> dict:
    [node], problems = nodes.entries()
    assert problems == ["entry 1 has no id/attributes"]
    files, _ = files_page.entries()
    item = asyncio.run(OsfRecord(node, file_data=files, licenses=LICENSES, doi_prefix="10.17605/osf.io").to_item())
    return ItemAdapter(item).asdict()


def test_total_in_both_api_versions(nodes, files_page):
    assert nodes.total == 5 and files_page.total == 3  # links.meta (2.0) and meta (2.1)
    assert nodes.next_link.endswith("page=2&page%5Bsize%5D=2") and files_page.next_link is None
    assert nodes.last_link.endswith("page=3&page%5Bsize%5D=2")


def test_folders_link_their_listing(files_page):
    folder = files_page.entries()[0][2]
    assert related_href(folder, "files") == "https://api.osf.io/v2/nodes/k7r2q/files/osfstorage/5f1a2b3c4d5e6f7a8b9c0d20/"


def test_node_fields(record):
    assert record["source"] == "osf" and record["source_id"] == "k7r2q" and record["doi"] is None
    assert record["url"] == "https://osf.io/k7r2q/" and record["api_url"] == "https://api.osf.io/v2/nodes/k7r2q/"
    assert record["title"] == "OCT angiography of diabetic eyes"
    assert record["description"] == "OCTA volumes (3x3 mm) acquired with a swept-source device."
    assert record["keywords"] == ["OCTA", "diabetic retinopathy"]
    assert record["creators"] == ["Ines Duarte"]  # non-bibliographic contributors left out
    assert record["license"] == "cc-by-4.0" and record["access_type"] == "open"
    assert record["modified"] == "2022-08-19T09:30:00.452100"
    assert record["extra"]["alternate_dois"] == ["10.17605/osf.io/k7r2q"]
    assert record["extra"]["copyright_holders"] == ["Retina Lab"] and record["extra"]["category"] == "data"


def test_files_prefer_sha256_then_md5_and_skip_folders(record):
    assert [f["name"] for f in record["files"]] == ["data/volumes.zip", "data/notes.txt"]
    zip_, notes = record["files"]
    assert zip_["checksum"] == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert notes["checksum"] == "md5:900150983cd24fb0d6963f7d28e17f72"
    assert zip_["size"] == 104857600 and zip_["url"] == "https://osf.io/download/x8m3t/"
    assert record["size_mb"] == 104.858


def test_record_matches_schema(record):
    assert record_errors(record) == []


def test_errors_body_is_reported_as_malformed():
    body = b'{"errors": [{"detail": "Request was throttled. Expected available in 3 seconds."}]}'
    with pytest.raises(MalformedPage, match="throttled"):
        OsfNodesPage(HttpResponse("https://api.osf.io/v2/nodes/", body=body)).entries()


def test_doi_read_from_embedded_identifiers_only_when_minted(nodes):
    [node], _ = nodes.entries()
    ark = {"id": "i1", "type": "identifiers", "attributes": {"category": "ark", "value": "c7605/osf.io/k7r2q"}}
    doi = {"id": "i2", "type": "identifiers", "attributes": {"category": "doi", "value": "10.17605/OSF.IO/K7R2Q"}}
    minted = {**node, "embeds": {**node.get("embeds", {}), "identifiers": {"data": [ark, doi]}}}
    assert asyncio.run(OsfRecord(minted).to_item()).doi == "10.17605/osf.io/k7r2q"
    none = {**node, "embeds": {**node.get("embeds", {}), "identifiers": {"data": [ark]}}}
    assert asyncio.run(OsfRecord(none).to_item()).doi is None

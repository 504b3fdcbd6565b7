"""Figshare page objects over recorded-shape JSON (tests/fixtures/figshare/)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse

from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.figshare import (
    FigshareArticle,
    FigshareArticlePage,
    FigshareFilesPage,
    FigshareSearchPage,
    md5_checksum,
    needs_file_listing,
)
from envision_spiders.schema import record_errors

FIXTURES = Path(__file__).parent.parent / "fixtures" / "figshare"
API = "https://api.figshare.com/v2"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def record() -> dict:
    page = FigshareArticlePage(HttpResponse(f"{API}/articles/21564738", body=fixture("article.json")))
    return ItemAdapter(asyncio.run(page.to_item())).asdict()


def test_search_page_keeps_readable_hits_and_counts_every_entry():
    page = FigshareSearchPage(HttpResponse(f"{API}/articles/search", body=fixture("search_page.json")))
    hits, problems = page.entries()
    assert [h["id"] for h in hits] == [21564738, 19873012]
    assert problems == ["entry 1: no numeric id"]
    assert page.count == 3  # a short page is judged on every entry, readable or not
    assert hits[0]["modified_date"] == "2024-01-09T08:12:05Z"
    assert "modified_date" not in hits[1]  # the light hit may lack it


def test_identity_version_and_doi(record):
    assert record["source"] == "figshare"
    assert record["source_id"] == "21564738"
    assert record["kind"] == "dataset"
    assert record["doi"] == "10.6084/m9.figshare.21564738.v3"
    assert record["version_of"] == "10.6084/m9.figshare.21564738"
    assert record["version"] == "3"
    assert record["extra"]["version_order"] == 3


def test_descriptive_fields(record):
    assert record["title"] == "Ultra-widefield fundus images of retinal vein occlusion"
    assert record["description"] == "Optos UWF fundus photographs of 412 eyes (RVO and controls). Labels in labels.csv."
    assert record["keywords"] == ["ultra-widefield", "retinal vein occlusion", "fundus",
                                  "Ophthalmology and optometry", "Medical physics"]
    assert record["creators"] == ["Min Lee", "Ada Okafor"]
    assert record["license"] == "cc-by-4.0"
    assert record["access_type"] == "open"
    assert record["modified"] == "2024-01-09T08:12:05Z"
    assert record["publication_date"] == "2023-05-02T10:14:31Z"
    assert record["url"] == "https://figshare.com/articles/dataset/Ultra-widefield_fundus_images/21564738"
    assert record["api_url"] == f"{API}/articles/21564738"


def test_related_dois_and_links(record):
    assert record["related_dois"] == ["10.1016/j.ophtha.2021.05.002", "10.1038/s41598-023-00001-x"]
    assert record["external_links"] == ["https://github.com/uwf-lab/rvo-detection", "https://physionet.org/content/uwf-rvo/"]


def test_files_checksums_prefer_computed_then_supplied_md5(record):
    files = {f["name"]: f for f in record["files"]}
    assert files["uwf_images_part1.zip"]["checksum"] == "md5:9e107d9d372bb6826bd81d3542a419d6"
    assert files["uwf_images_part2.zip"]["checksum"] == "md5:e4d909c290d0fb1ca068ffaddf22cbd0"  # computed ""
    assert files["labels.csv"]["checksum"] is None  # both ""
    assert files["uwf_images_part1.zip"]["size"] == 987654321
    assert files["uwf_images_part1.zip"]["url"] == "https://ndownloader.figshare.com/files/38240001"
    assert files["uwf_images_part1.zip"]["mimetype"] == "application/zip"
    assert files["uwf_images_part1.zip"]["access"] == "open"
    assert record["extra"]["md5_mismatch"] == ["README.txt"]


def test_link_only_file_is_a_link_without_size_or_checksum(record):
    link = next(f for f in record["files"] if f["access"] == "link")
    assert link == {"name": "Full-resolution originals (PhysioNet)", "size": None, "url": "https://physionet.org/content/uwf-rvo/",
                    "checksum": None, "mimetype": None, "access": "link"}
    assert record["extra"]["link_only_files"] == 1


def test_portal_counts_and_schema(record):
    assert record["file_count"] == 5
    assert record["archive_count"] == 2
    assert record["size_mb"] is not None
    assert record_errors(record) == []


def test_detail_needs_the_file_listing_when_full_or_short_of_its_size():
    article = json.loads(fixture("article.json"))
    assert needs_file_listing(article, detail_files_cap=10)  # size 1.88 GB > the listed files
    article["size"] = sum(f["size"] for f in article["files"] if not f["is_link_only"])
    assert not needs_file_listing(article, detail_files_cap=10)
    assert needs_file_listing(article, detail_files_cap=5)  # as many files as the detail can list


def test_full_file_listing_replaces_the_detail_files():
    article = json.loads(fixture("article.json"))
    page = FigshareFilesPage(HttpResponse(f"{API}/articles/21564738/files?page=1", body=fixture("files_page.json")))
    record = asyncio.run(FigshareArticle({**article, "files": page.files()}).to_item())
    assert record.file_names == ["uwf_images_part1.zip", "oct/scan_0001.dcm"]
    assert record.medical_count == 1
    assert record.files[1]["checksum"] == "md5:45c48cce2e2d7fbdea1afc51c7c6ad26"


def test_embargo_disabled_downloads_and_unversioned_institutional_doi():
    article = json.loads(fixture("article.json"))
    article.update(doi="10.25573/data.19873012", version=None, download_disabled=True, license=None)
    record = asyncio.run(FigshareArticle(article).to_item())
    assert record.version_of is None and record.version is None and record.extra["version_order"] == 0
    assert record.access_type == "restricted"
    assert {f["access"] for f in record.files} == {"restricted", "link"}
    assert record.license is None
    article["is_embargoed"] = True
    assert asyncio.run(FigshareArticle(article).to_item()).access_type == "embargoed"


@pytest.mark.parametrize(
    "value, expected",
    [("", None), (None, None), ("ABCDEF0123456789abcdef0123456789", "md5:abcdef0123456789abcdef0123456789"), ("xyz", None)],
)
def test_md5_checksum(value, expected):
    assert md5_checksum(value) == expected


@pytest.mark.parametrize(
    "page_cls, body, problem",
    [
        (FigshareSearchPage, b"<html>WAF challenge</html>", "invalid JSON"),
        (FigshareSearchPage, b'{"message": "oops", "code": "Error"}', "expected a JSON list"),
        (FigshareArticlePage, b"[]", "expected a JSON dict"),
        (FigshareArticlePage, b'{"title": "no id"}', "not an article"),
        (FigshareFilesPage, b'[{"size": 3}]', "a file without a name"),
    ],
)
def test_malformed_pages_raise_a_clear_error(page_cls, body, problem):
    page = page_cls(HttpResponse(f"{API}/x", body=body, status=200))
    with pytest.raises(MalformedPage, match=problem):
        if page_cls is FigshareSearchPage:
            page.entries()
        elif page_cls is FigshareArticlePage:
            page.detail()
        else:
            page.files()


def test_resume_since_is_the_day_before_the_latest_hit_and_must_move_forward():
    from envision_spiders.pages.figshare import resume_since

    hits = [{"published_date": "2020-03-01T08:00:00Z"}, {"published_date": "2020-03-05T00:00:00Z"}, {"id": 1}]
    assert resume_since(hits, None) == "2020-03-04"
    assert resume_since(hits, "2020-03-03") == "2020-03-04"
    assert resume_since(hits, "2020-03-04") is None  # one day fills the window: no progress
    assert resume_since([{"published_date": "not a date"}], None) is None

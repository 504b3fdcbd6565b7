"""NIH RePORTER page objects over a recorded-shape search page (tests/fixtures/nei/)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse

from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.nei import NeiGrant, NeiSearchPage, split_terms
from envision_spiders.schema import record_errors

FIXTURE = Path(__file__).parent.parent / "fixtures" / "nei" / "search_page.json"
URL = "https://api.reporter.nih.gov/v2/projects/search"


def page(body: bytes) -> NeiSearchPage:
    return NeiSearchPage(HttpResponse(URL, body=body, status=200))


@pytest.fixture
def grant() -> dict:
    rows, _ = page(FIXTURE.read_bytes()).rows()
    return ItemAdapter(asyncio.run(NeiGrant({"core_project_num": "R01EY034412", "rows": rows}).to_item())).asdict()


def test_search_page_total_count_and_rows():
    search = page(FIXTURE.read_bytes())
    rows, problems = search.rows()
    assert search.total == 3 and search.count == 3
    assert [r["appl_id"] for r in rows] == [10712345, 10598765]
    assert problems == ["result 2 has no core_project_num"]


def test_fiscal_year_rows_become_one_grant(grant):
    assert grant["source"] == "nei"
    assert grant["source_id"] == "R01EY034412"
    assert grant["kind"] == "grant"
    assert grant["doi"] is None
    assert grant["extra"]["fiscal_years"] == [2022, 2023]
    assert grant["extra"]["project_nums"] == ["1R01EY034412-01", "5R01EY034412-02"]
    assert grant["extra"]["appl_ids"] == [10598765, 10712345]
    assert grant["extra"]["award_amounts"] == {"2022": 425000, "2023": 412500}


def test_latest_fiscal_year_gives_title_abstract_terms_and_url(grant):
    assert grant["title"] == "Open multimodal imaging data for diabetic retinopathy"
    assert grant["description"].startswith("PROJECT SUMMARY We will build an open dataset of widefield fundus")
    assert grant["keywords"] == ["Adult", "Algorithms", "Diabetic Retinopathy", "Fundus photography",
                                 "Optical Coherence Tomography"]
    assert grant["url"] == "https://reporter.nih.gov/project-details/10712345"
    assert grant["creators"] == ["Jane Q Doe"]
    assert grant["publication_date"] == "2022-04-01"
    assert grant["modified"] == "2023-03-25T00:00:00"
    assert grant["extra"]["agency_ic_admin"] == "NEI"
    assert grant["extra"]["organization"] == "JOHNS HOPKINS UNIVERSITY"
    assert grant["extra"]["public_health_relevance"].startswith("PROJECT NARRATIVE Diabetic retinopathy")


def test_grant_has_no_files_and_matches_the_schema(grant):
    assert grant["files"] == [] and grant["file_count"] == 0 and grant["size_mb"] is None
    assert record_errors(grant) == []


def test_detail_url_is_rebuilt_when_missing_or_malformed():
    rows = [{"appl_id": 42, "fiscal_year": 2020, "core_project_num": "R21EY1", "project_detail_url": ""}]
    record = asyncio.run(NeiGrant({"core_project_num": "R21EY1", "rows": rows}).to_item())
    assert record.url == "https://reporter.nih.gov/project-details/42"


@pytest.mark.parametrize(
    "terms, pref, expected",
    [
        ("<Retina><Glaucoma>", "Retina;Eye", ["Retina", "Eye", "Glaucoma"]),
        ("", "", []),
        (None, None, []),
        ("plain; text", None, ["plain", "text"]),
    ],
)
def test_split_terms(terms, pref, expected):
    assert split_terms(terms, pref) == expected


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"<html>Service Unavailable</html>", "invalid JSON"),
        (b'{"results": []}', "no meta.total"),
        (b'{"meta": {"total": "7"}, "results": []}', "no meta.total"),
        (b'[{"field": "offset"}]', "expected a JSON dict"),
    ],
)
def test_malformed_pages_raise_a_clear_error(body, problem):
    with pytest.raises(MalformedPage, match=problem):
        page(body).total

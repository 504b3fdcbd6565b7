"""End to end: the real ``scrapy crawl nei`` against a local fake NIH RePORTER."""

from __future__ import annotations

import json

import pytest

from envision_spiders.schema import record_errors
from tests.servers.base import Reply
from tests.servers.nei import FakeReporter, make_rows

N = 60
NEI_PROJECTS = {make_rows(p)[0]["core_project_num"]: make_rows(p) for p in range(1, N + 1) if p % 9}


@pytest.fixture
def fake():
    server = FakeReporter(n_projects=N)
    server.start()
    yield server
    server.stop()


def settings(server: FakeReporter, **extra) -> dict:
    return {"NEI_API_URL": f"{server.base_url}/v2", "NEI_PAGE_SIZE": 10, "ENVISION_BACKOFF_BASE_DELAY": 0.2,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 4, **extra}


def bodies(server: FakeReporter) -> list[dict]:
    return [json.loads(c.body) for c in server.calls_to("search")]


def test_every_nei_project_once_as_a_grant_with_all_fiscal_years(fake, crawl):
    result = crawl("nei", settings=settings(fake))
    assert result.returncode == 0, result.log
    by_id = {item["source_id"]: item for item in result.items}
    assert len(result.items) == len(by_id) == len(NEI_PROJECTS)  # NCI projects filtered out
    for core, rows in NEI_PROJECTS.items():
        item = by_id[core]
        latest = rows[-1]
        assert record_errors(item) == [], core
        assert item["kind"] == "grant" and item["doi"] is None and item["files"] == []
        assert item["extra"]["fiscal_years"] == [r["fiscal_year"] for r in rows]
        assert item["title"] == latest["project_title"]
        assert item["url"] == f"https://reporter.nih.gov/project-details/{latest['appl_id']}"
        assert item["description"] == " ".join(latest["abstract_text"].split())
        assert "Imaging" in item["keywords"]
    assert result.stats["envision/grants/rows"] == sum(len(r) for r in NEI_PROJECTS.values())


def test_search_body_agency_text_search_and_paging(fake, crawl):
    result = crawl("nei", settings=settings(fake))
    assert result.returncode == 0, result.log
    calls = fake.calls_to("search")
    assert all(c.method == "POST" and c.headers["Content-Type"] == "application/json" for c in calls)
    assert all("Authorization" not in c.headers for c in calls)
    groups: dict[str, list[int]] = {}
    for body in bodies(fake):
        criteria = body["criteria"]
        assert criteria["agencies"] == ["NEI"]
        search = criteria["advanced_text_search"]
        assert search["operator"] == "advanced" and search["search_field"] == "projecttitle,terms,abstracttext"
        assert "ProjectTitle" in body["include_fields"] and "CoreProjectNum" in body["include_fields"]
        assert body["limit"] == 10
        groups.setdefault(search["search_text"], []).append(body["offset"])
    assert "(optical AND coherence AND tomography) OR " in "".join(groups)
    assert len(groups) == result.stats["envision/search/query_groups"]
    for offsets in groups.values():  # paged to meta.total, never past it
        assert offsets == list(range(0, 10 * len(offsets), 10))


def test_total_beyond_the_offset_cap_is_split_by_fiscal_year(fake, crawl):
    result = crawl("nei", settings=settings(fake, NEI_MAX_OFFSET=20))
    assert result.returncode == 0, result.log
    assert {i["source_id"] for i in result.items} == set(NEI_PROJECTS) and len(result.items) == len(NEI_PROJECTS)
    for item in result.items:  # fiscal years gathered across the split queries
        assert item["extra"]["fiscal_years"] == [r["fiscal_year"] for r in NEI_PROJECTS[item["source_id"]]]
    assert result.stats["envision/paging/splits"] >= 2
    assert all(b["offset"] <= 20 for b in bodies(fake))
    assert any("fiscal_years" in b["criteria"] for b in bodies(fake))
    assert 400 not in [c.status for c in fake.calls_to("search")]


def test_a_400_past_a_lower_real_cap_splits_instead_of_losing_results(crawl):
    server = FakeReporter(n_projects=N, max_offset=20)  # like the older 9,999 cap
    with server:
        result = crawl("nei", settings=settings(server, NEI_SEARCH_OPERATOR="and"), args={"query": "imaging"})
    assert result.returncode == 0, result.log
    assert 400 in [c.status for c in server.calls_to("search")]
    assert result.stats["envision/paging/cap_status"] >= 1
    assert {i["source_id"] for i in result.items} == set(NEI_PROJECTS)


def test_query_operator_and_max_records_and_since(fake, crawl):
    result = crawl("nei", settings={"NEI_API_URL": f"{fake.base_url}/v2", "NEI_SEARCH_OPERATOR": "and"},
                   args={"query": "glaucoma progression", "max_records": 2})
    assert result.returncode == 0, result.log
    (body,) = bodies(fake)
    assert body["limit"] == 500
    assert body["criteria"]["advanced_text_search"] == {"operator": "and", "search_field": "projecttitle,terms,abstracttext",
                                                        "search_text": "glaucoma progression"}
    assert len(result.items) == 2 and all("glaucoma" in i["title"].lower() for i in result.items)
    fake.calls.clear()
    since = crawl("nei", settings=settings(fake), args={"since": "2020-01-01"})
    assert all(b["criteria"]["award_notice_date"]["from_date"] == "2020-01-01" for b in bodies(fake))
    assert since.items and all(max(i["extra"]["fiscal_years"]) >= 2020 for i in since.items)
    assert len(since.items) < len(NEI_PROJECTS)


def test_429_is_retried_and_a_malformed_page_fetched_again(fake, crawl):
    fake.fault("search", 2, FakeReporter.rate_limited())
    fake.fault("search", 4, Reply(200, b'{"meta": {"total": 5}, "results": ', {"Content-Type": "application/json"}))
    result = crawl("nei", settings=settings(fake))
    assert result.returncode == 0, result.log
    assert result.stats["envision/backoff/429"] == 1
    assert result.stats["envision/pages/malformed"] == 1
    assert {i["source_id"] for i in result.items} == set(NEI_PROJECTS) and len(result.items) == len(NEI_PROJECTS)


def _nei_rows(n_projects: int) -> int:
    return sum(len(make_rows(p)) for p in range(1, n_projects + 1) if p % 9)


@pytest.mark.parametrize("n_projects", [13, 14, 16])  # 30 rows (exactly reachable), 33 and 38 (beyond)
def test_totals_at_the_offset_cap_boundary_are_all_reached(crawl, n_projects):
    """Offsets 0, 10, 20 are all that a cap of 29 allows with pages of 10 (the scaled-down
    RePORTER 14,999 / 500): 30 rows are reachable, not 39; a total above 30 is split."""
    total = _nei_rows(n_projects)
    server = FakeReporter(n_projects=n_projects, max_offset=29)
    with server:
        result = crawl("nei", settings=settings(server, NEI_MAX_OFFSET=29, NEI_SEARCH_OPERATOR="and"),
                       args={"query": "imaging"})
        sent = bodies(server)
    assert result.returncode == 0, result.log
    assert result.stats["envision/grants/rows"] == total
    assert len(result.items) == len([p for p in range(1, n_projects + 1) if p % 9])
    assert all(b["offset"] <= 29 for b in sent) and 400 not in [c.status for c in server.calls_to("search")]
    assert ("envision/paging/splits" in result.stats) == (total > 30)
    assert "envision/paging/truncated" not in result.stats


def test_a_fiscal_year_beyond_reach_is_an_error_counting_the_rows_lost(crawl):
    rows = [r for p in range(1, N + 1) if p % 9 for r in make_rows(p)]
    per_year = {fy: sum(r["fiscal_year"] == fy for r in rows) for fy in {r["fiscal_year"] for r in rows}}
    lost = sum(max(0, n - 10) for n in per_year.values())
    server = FakeReporter(n_projects=N, max_offset=9)
    with server:
        result = crawl("nei", settings=settings(server, NEI_MAX_OFFSET=9, NEI_MIN_FISCAL_YEAR=2010,
                                                NEI_SEARCH_OPERATOR="and"), args={"query": "imaging"})
    assert result.returncode == 0, result.log
    assert lost > 0
    assert result.stats["envision/paging/lost_results"] == lost
    assert result.stats["envision/paging/truncated"] == sum(n > 10 for n in per_year.values())
    assert result.stats["envision/grants/rows"] == len(rows) - lost
    assert result.log.count("ERROR: Results of ('imaging', ") == result.stats["envision/paging/truncated"]


def test_terms_are_searched_in_both_numbers_because_reporter_does_not_stem(crawl):
    """A project that says only "retinal images", "eyes" and "cataracts" is found although the
    shared terms are "retinal image", "eye image" and "cataract"."""
    server = FakeReporter(n_projects=N, plural_projects=(4, 5))
    with server:
        result = crawl("nei", settings=settings(server))
        texts = {b["criteria"]["advanced_text_search"]["search_text"] for b in bodies(server)}
    assert result.returncode == 0, result.log
    assert {i["source_id"] for i in result.items} == set(NEI_PROJECTS)
    assert {i["title"] for i in result.items if i["source_id"] in ("R01EY030004", "R01EY030005")} == {
        "Grading retinal images of eyes with cataracts"}
    joined = " OR ".join(texts)
    assert "(retinal AND image) OR (retinal AND images)" in joined and "(cataracts)" in joined

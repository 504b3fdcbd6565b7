"""A fake NIH RePORTER v2 that behaves as docs/sources-figshare-kaggle-nei.md describes:
``POST /v2/projects/search``
only (GET -> 405), a JSON body with ``criteria`` (``agencies``, ``fiscal_years``,
``advanced_text_search``, ``award_notice_date``), PascalCase ``include_fields`` answered with
snake_case keys, ``limit`` <= 500 and ``offset`` <= cap (14,999: 400 past it), ``{"meta": {total,
...}, "results": [...]}`` with one row per project and fiscal year, and no auth. Text search
matches whole words only, without stemming (``image`` does not match "images"; RePORTER counts
``wearable`` and ``wearables`` apart). 429s carry no rate-limit headers (none are documented)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.servers.base import Call, FakeAPI, Reply

_TOPICS = [
    ("Adaptive optics imaging of photoreceptors in retinitis pigmentosa", "retina;adaptive optics;photoreceptor"),
    ("Deep learning on fundus photographs for diabetic retinopathy screening", "fundus;diabetic retinopathy"),
    ("Optical coherence tomography biomarkers of glaucoma progression", "glaucoma;optical coherence tomography"),
    ("Corneal nerve regeneration after keratoconus crosslinking", "cornea;keratoconus"),
    ("Mechanisms of myopia in children", "myopia;refraction"),
]
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
_GROUP = re.compile(r"\(([^()]*)\)")
_WORD = re.compile(r"[\w-]+")


def snake(name: str) -> str:
    return _SNAKE.sub("_", name).lower()


def make_rows(p: int) -> list[dict[str, Any]]:
    """The fiscal-year rows of project ``p`` (1-based): 1-4 years; every 9th is NCI, not NEI."""
    title, pref = _TOPICS[p % len(_TOPICS)]
    core = f"R01EY{30000 + p:06d}"
    agency = {"code": "CA", "abbreviation": "NCI", "name": "National Cancer Institute"} if p % 9 == 0 else \
        {"code": "EY", "abbreviation": "NEI", "name": "National Eye Institute"}
    first_year = 2012 + p % 10
    rows = []
    for k in range(1 + p % 4):
        fy = first_year + k
        appl_id = 10_000_000 + p * 10 + k
        rows.append({
            "appl_id": appl_id, "subproject_id": None, "fiscal_year": fy,
            "project_num": f"{5 if k else 1}{core}-{k + 1:02d}", "core_project_num": core,
            "project_serial_num": f"EY{30000 + p:06d}",
            "organization": {"org_name": f"UNIVERSITY {p % 6}", "org_city": "BALTIMORE", "org_state": "MD",
                             "org_country": "UNITED STATES", "dept_type": "OPHTHALMOLOGY", "org_ueis": []},
            "activity_code": "R01", "award_amount": 350000 + 1000 * k, "is_active": k == p % 4,
            "principal_investigators": [{"profile_id": 9000 + p, "first_name": "Ada", "middle_name": "",
                                         "last_name": f"Smith{p}", "is_contact_pi": True,
                                         "full_name": f"Ada Smith{p}", "title": "PROFESSOR"}],
            "agency_ic_admin": agency,
            "project_start_date": f"{first_year}-04-01T00:00:00", "project_end_date": f"{first_year + 4}-03-31T00:00:00",
            "award_notice_date": f"{fy}-03-15T00:00:00", "date_added": f"{fy}-04-02T00:00:00",
            "terms": "".join(f"<{t}>" for t in pref.split(";")) + "<Imaging>",
            "pref_terms": pref + ";Imaging",
            "abstract_text": f"{title}.\n  Aim {k + 1}: imaging of {p} cohorts. ",
            "phr_text": "Public health relevance: vision loss.",
            "project_title": title if k == 0 else f"{title} (renewal {k})",
            "project_detail_url": f"https://reporter.nih.gov/project-details/{appl_id}",
            "spending_categories_desc": "Eye Disease and Disorders of Vision",
        })
    return rows


def plural_rows(p: int) -> list[dict[str, Any]]:
    """Project ``p`` reworded so that only plural forms of the shared terms occur in it."""
    rows = make_rows(p)
    for row in rows:
        row.update(project_title="Grading retinal images of eyes with cataracts",
                   abstract_text="Retinal images from handheld cameras in clinics.", terms="<Cataracts><Retinal images>",
                   pref_terms="Cataracts;Retinal images")
    return rows


def _matches(text: str, search: dict[str, Any]) -> bool:
    operator, query = search.get("operator"), search.get("search_text", "")
    text = set(_WORD.findall(text))
    if operator == "advanced":
        groups = [[w.strip().lower() for w in g.split(" AND ")] for g in _GROUP.findall(query)] or [[query.lower()]]
        return any(all(w in text for w in group) for group in groups)
    words = query.lower().split()
    return all(w in text for w in words) if operator == "and" else any(w in text for w in words)


class FakeReporter(FakeAPI):
    def __init__(self, n_projects: int = 60, max_offset: int = 14999, plural_projects: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.n_projects = n_projects
        self.plural_projects = plural_projects
        self.max_offset = max_offset
        self.route("search", "POST", r"/v2/projects/search", self.search)
        self.route("search_get", "GET", r"/v2/projects/search", lambda c, m: Reply.json({"message": "Method Not Allowed"}, 405))

    def all_rows(self) -> list[dict[str, Any]]:
        return [row for p in range(1, self.n_projects + 1)
                for row in (plural_rows(p) if p in self.plural_projects else make_rows(p))]

    def search(self, call: Call, _: Any) -> Reply:
        try:
            body = json.loads(call.body)
        except ValueError:
            return Reply.json([{"field": "body", "message": "invalid JSON"}], 400)
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 50))
        if limit > 500 or limit < 1:
            return Reply.json([{"field": "limit", "message": "limit must be between 1 and 500"}], 400)
        if offset > self.max_offset:
            return Reply.json([{"field": "offset", "message": f"offset must be at most {self.max_offset}"}], 400)
        criteria = body.get("criteria") or {}
        rows = self.all_rows()
        if criteria.get("agencies"):
            rows = [r for r in rows if r["agency_ic_admin"]["abbreviation"] in criteria["agencies"]]
        if criteria.get("fiscal_years"):
            rows = [r for r in rows if r["fiscal_year"] in criteria["fiscal_years"]]
        if (notice := criteria.get("award_notice_date")) and notice.get("from_date"):
            rows = [r for r in rows if r["award_notice_date"][:10] >= notice["from_date"]]
        if search := criteria.get("advanced_text_search"):
            rows = [r for r in rows if _matches(f"{r['project_title']} {r['abstract_text']} {r['terms']}".lower(), search)]
        if body.get("sort_field") == "appl_id":
            rows.sort(key=lambda r: r["appl_id"], reverse=body.get("sort_order") == "desc")
        keep = {snake(f) for f in body.get("include_fields") or []}
        page = [{k: v for k, v in r.items() if not keep or k in keep} for r in rows[offset : offset + limit]]
        meta = {"search_id": "AbCdEf", "total": len(rows), "offset": offset, "limit": limit,
                "sort_field": body.get("sort_field"), "sort_order": body.get("sort_order"),
                "sorted_by_relevance": False, "properties": {"URL": "https:/reporter.nih.gov/search/AbCdEf/projects"}}
        return Reply.json({"meta": meta, "results": page})

    @staticmethod
    def rate_limited() -> Reply:
        return Reply.json({"message": "Too many requests"}, 429)

"""NIH RePORTER v2 (NEI grants): ``POST /v2/projects/search`` pages, and the fiscal-year rows of
one core project -> one DatasetRecord of kind ``grant`` (no files: RePORTER has none)."""

from __future__ import annotations

import re
from typing import Any

import attrs
from web_poet import WebPage, field

from envision_spiders.items import FileEntry
from envision_spiders.pages.base import MalformedPage, RecordExtractor, json_body, memo, strings

SOURCE = "nei"
PROJECT_DETAIL_URL = "https://reporter.nih.gov/project-details/{appl_id}"
# include_fields take PascalCase names; the response keys are snake_case.
INCLUDE_FIELDS = [
    "ApplId", "SubprojectId", "FiscalYear", "ProjectNum", "CoreProjectNum", "ProjectTitle", "AbstractText",
    "PhrText", "Terms", "PrefTerms", "AgencyIcAdmin", "ProjectDetailUrl", "PrincipalInvestigators",
    "Organization", "ActivityCode", "AwardAmount", "IsActive", "ProjectStartDate", "ProjectEndDate",
    "AwardNoticeDate", "DateAdded", "SpendingCategoriesDesc",
]
_ANGLED = re.compile(r"<([^<>]+)>")


def split_terms(terms: Any, pref_terms: Any) -> list[str]:
    """``pref_terms`` is ``;``-separated; ``terms`` runs ``<term>`` items together (or is plain text)."""
    out = [t.strip() for t in pref_terms.split(";")] if isinstance(pref_terms, str) else []
    if isinstance(terms, str):
        angled = _ANGLED.findall(terms)
        out += [t.strip() for t in angled] if angled else [t.strip() for t in terms.split(";")]
    return list(dict.fromkeys(t for t in out if t))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _date(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


@attrs.define
class NeiGrant(RecordExtractor):
    """``{"core_project_num": ..., "rows": [project, ...]}``: every fiscal-year row of one project."""

    source_name = SOURCE
    id_key = "core_project_num"

    @memo
    def _rows(self) -> list[dict[str, Any]]:
        """Rows newest first (fiscal year, then appl_id)."""
        rows = [r for r in self.data["rows"] if isinstance(r, dict)]
        return sorted(rows, key=lambda r: (r.get("fiscal_year") or 0, r.get("appl_id") or 0), reverse=True)

    def _latest(self, key: str) -> Any:
        return next((r[key] for r in self._rows() if r.get(key) not in (None, "", [])), None)

    @field
    def kind(self) -> str:
        return "grant"

    @field
    def url(self) -> str | None:
        url = self._latest("project_detail_url")
        if isinstance(url, str) and url.startswith("https://"):
            return url
        appl_id = self._latest("appl_id")
        return PROJECT_DETAIL_URL.format(appl_id=appl_id) if appl_id else None

    @field
    def title(self) -> str:
        return _text(self._latest("project_title"))

    @field
    def description(self) -> str:
        return " ".join(_text(self._latest("abstract_text")).split())

    @field
    def keywords(self) -> list[str]:
        return split_terms(self._latest("terms"), self._latest("pref_terms"))

    @field
    def creators(self) -> list[str]:
        pis = self._latest("principal_investigators") or []
        return strings([p.get("full_name") for p in pis if isinstance(p, dict)])

    @field
    def publication_date(self) -> str | None:
        starts = [d for d in (_date(r.get("project_start_date")) for r in self._rows()) if d]
        return min(starts) if starts else None

    @field
    def modified(self) -> str | None:
        """The newest row's ``date_added`` (a new fiscal year or a correction changes it)."""
        stamps = [r.get("date_added") for r in self._rows() if isinstance(r.get("date_added"), str)]
        return max(stamps) if stamps else None

    @field
    def files(self) -> list[FileEntry]:
        return []

    @field
    def extra(self) -> dict[str, Any]:
        rows = self._rows()
        agency = self._latest("agency_ic_admin") or {}
        organization = self._latest("organization") or {}
        return {
            "fiscal_years": sorted({r["fiscal_year"] for r in rows if isinstance(r.get("fiscal_year"), int)}),
            "project_nums": sorted({r["project_num"] for r in rows if r.get("project_num")}),
            "appl_ids": sorted({r["appl_id"] for r in rows if r.get("appl_id")}),
            "award_amounts": {str(r["fiscal_year"]): r.get("award_amount") for r in reversed(rows)
                              if isinstance(r.get("fiscal_year"), int)},
            "activity_code": self._latest("activity_code"),
            "agency_ic_admin": agency.get("abbreviation") if isinstance(agency, dict) else None,
            "organization": organization.get("org_name") if isinstance(organization, dict) else None,
            "project_end_date": _date(self._latest("project_end_date")),
            "is_active": self._latest("is_active"),
            "public_health_relevance": " ".join(_text(self._latest("phr_text")).split()),
            "spending_categories": _text(self._latest("spending_categories_desc")),
        }


@attrs.define
class NeiSearchPage(WebPage):
    """``{"meta": {"total", "offset", "limit", ...}, "results": [project, ...]}``."""

    @memo
    def _data(self) -> dict[str, Any]:
        data = json_body(self.response)
        meta = data.get("meta")
        if not isinstance(data.get("results"), list) or not isinstance(meta, dict) or not isinstance(meta.get("total"), int):
            raise MalformedPage(str(self.response.url), self.response.status, "no meta.total / results list",
                                self.response.body)
        return data

    @property
    def total(self) -> int:
        return self._data()["meta"]["total"]

    @property
    def count(self) -> int:
        return len(self._data()["results"])

    def rows(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Rows with a core project number, and a description of each one without."""
        rows, problems = [], []
        for n, row in enumerate(self._data()["results"]):
            if isinstance(row, dict) and isinstance(row.get("core_project_num"), str) and row["core_project_num"].strip():
                rows.append(row)
            else:
                problems.append(f"result {n} has no core_project_num")
        return rows, problems


class GrantRows:
    """RePORTER answers one row per project and fiscal year: rows collected per
    ``core_project_num`` (a row met twice counts once), drained as one grant each.

    ``add(row, agencies, new_allowed)`` says what became of a row: ``"rows"`` (collected), ``"repeated"``
    (its project was drained already), ``"not_administered"`` (``agency_ic_admin`` is not one
    of ``agencies``: criteria.agencies also matches projects an agency funds but does not
    administer [A]) or ``"no_room"`` (a new project while ``new_allowed`` is False)."""

    def __init__(self) -> None:
        self.pending: dict[str, dict[Any, dict[str, Any]]] = {}  # core_project_num -> appl_id -> row
        self.drained: set[str] = set()

    def __len__(self) -> int:
        """Projects met so far (pending or drained)."""
        return len(self.pending) + len(self.drained)

    @property
    def pending_rows(self) -> int:
        return sum(map(len, self.pending.values()))

    def add(self, row: dict[str, Any], agencies: tuple[str, ...], new_allowed: bool = True) -> str:
        core = row["core_project_num"].strip()
        if core in self.drained:
            return "repeated"
        admin = row.get("agency_ic_admin")
        abbreviation = admin.get("abbreviation") if isinstance(admin, dict) else None
        if abbreviation and abbreviation not in agencies:
            return "not_administered"
        if core not in self.pending and not new_allowed:
            return "no_room"
        rows = self.pending.setdefault(core, {})
        key = row.get("appl_id") or row.get("project_num") or len(rows)
        if key in rows:  # the same row again, through another query
            rows[key] = row
            return "repeated"
        rows[key] = row
        return "rows"

    def drain(self) -> list[NeiGrant]:
        """One ``NeiGrant`` per pending project (sorted by core project number)."""
        pending, self.pending = self.pending, {}
        self.drained.update(pending)
        return [NeiGrant({"core_project_num": core, "rows": list(rows.values())}) for core, rows in sorted(pending.items())]

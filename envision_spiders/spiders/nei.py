"""NIH RePORTER: NEI-administered grants whose title, terms or abstract match the shared terms.

``POST {NEI_API_URL}/projects/search`` with ``criteria.agencies`` (NEI_AGENCIES) and an
``advanced_text_search`` (terms packed into boolean groups, or one request per term with
NEI_SEARCH_OPERATOR = "and"), ``limit`` <= 500, offsets up to NEI_MAX_OFFSET. A query whose
``meta.total`` is beyond reach is split into fiscal-year ranges (a 400 past the offset cap
splits too: older deployments stop at 9,999). RePORTER returns one row per project and fiscal
year: rows are collected per ``core_project_num`` and emitted once paging is done (on
``spider_idle``) as one ``grant`` record with every fiscal year in ``extra``.
NIH asks for at most one request per second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import JsonRequest, Response

from envision_spiders.items import DatasetRecord
from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.nei import INCLUDE_FIELDS, NeiGrant, NeiSearchPage
from envision_spiders.queries import pack_terms, split_words
from envision_spiders.spiders.base import SpiderArgumentError
from envision_spiders.spiders.paging import ONE_REQUEST_PER_SECOND, OffsetPagingSpider, PageCursor

Query = tuple[str, int | None, int | None]  # search_text, first and last fiscal year (None: all)


def render_terms(terms: list[str]) -> str:
    """RePORTER ``advanced`` syntax [A]: every word of a term required, terms OR-ed."""
    return " OR ".join("(" + " AND ".join(w.replace('"', "") for w in split_words(t)) + ")" for t in terms)


class NeiSpider(OffsetPagingSpider):
    name = "nei"
    api_url_setting = "NEI_API_URL"
    page_size_setting = "NEI_PAGE_SIZE"
    max_offset_setting = "NEI_MAX_OFFSET"
    cap_statuses = (400,)
    # NIH asks for no more than 1 request per second (IP blocks otherwise).
    custom_settings = {**ONE_REQUEST_PER_SECOND}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows: dict[str, dict[Any, dict[str, Any]]] = {}  # core_project_num -> appl_id -> row
        self._emitted: set[str] = set()

    @classmethod
    def preflight(cls, settings: Any, **arguments: Any) -> None:
        super().preflight(settings, **arguments)
        if settings.get("NEI_SEARCH_OPERATOR") not in ("advanced", "and"):
            raise SpiderArgumentError(
                f"NEI_SEARCH_OPERATOR={settings.get('NEI_SEARCH_OPERATOR')!r}: use 'advanced' or 'and'"
            )

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NeiSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.flush_on_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.report_unemitted, signal=signals.spider_closed)
        return spider

    def report_unemitted(self, reason: str) -> None:
        """Grants are emitted when paging is done; a crawl closed earlier (CLOSESPIDER_*, Ctrl-C)
        loses the rows collected so far: say so, so a rerun is known to be needed."""
        if self._rows:
            self.crawler.stats.set_value("envision/nei/rows_not_emitted", sum(map(len, self._rows.values())))
            self.logger.error(
                "Closed (%s) before paging ended: %d NEI projects collected but not emitted; run again",
                reason, len(self._rows),
            )

    async def start(self) -> AsyncIterator[Any]:
        settings = self.settings
        self.operator = settings.get("NEI_SEARCH_OPERATOR")
        if self.operator not in ("advanced", "and"):
            raise SpiderArgumentError(f"NEI_SEARCH_OPERATOR={self.operator!r}: use 'advanced' or 'and'")
        self.min_year = settings.getint("NEI_MIN_FISCAL_YEAR")
        if self.operator == "advanced":
            texts = pack_terms(self.terms, render_terms, settings.getint("NEI_QUERY_MAX_LENGTH"))
        else:
            texts = [" ".join(split_words(term)) for term in self.terms]
        self.crawler.stats.set_value("envision/nei/query_groups", len(texts))
        for text in texts:
            yield self.first_page((text, None, None))

    # --- search -------------------------------------------------------------------------------
    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        text, first, last = cursor.query
        criteria: dict[str, Any] = {
            "agencies": self.settings.getlist("NEI_AGENCIES"),
            "advanced_text_search": {"operator": self.operator, "search_field": self.settings.get("NEI_SEARCH_FIELD"),
                                     "search_text": text},
        }
        if first is not None:
            criteria["fiscal_years"] = list(range(first, last + 1))
        if self.since:
            criteria["award_notice_date"] = {"from_date": self.since.isoformat(), "to_date": date.today().isoformat()}
        body = {"criteria": criteria, "include_fields": INCLUDE_FIELDS, "offset": cursor.offset,
                "limit": cursor.page_size, "sort_field": "appl_id", "sort_order": "asc"}
        return JsonRequest(f"{self.api_url}/projects/search", data=body, callback=self.parse_search)

    def split(self, query: Any) -> list[Any] | None:
        text, first, last = query
        if first is None:
            first, last = self.min_year, date.today().year + 1
        if first >= last:
            return None
        mid = (first + last) // 2
        return [(text, first, mid), (text, mid + 1, last)]

    def more_wanted(self) -> bool:
        return self.max_records is None or len(self._rows) + len(self._emitted) < self.max_records

    async def parse_search(self, response: Response, page: NeiSearchPage) -> AsyncIterator[Any]:
        if response.status in self.cap_statuses:
            for request in self.past_cap(response):
                yield request
            return
        try:
            total = page.total
            rows, problems = page.rows()
        except MalformedPage as exc:
            for request in self.lost_page(response, exc):
                yield request
            return
        self.skip_unreadable(response, problems, what="row")
        use_rows, follow = self.paging(response, page.count, total)
        if use_rows:
            for row in rows:
                self.collect_row(row)
        for request in follow:
            yield request

    def collect_row(self, row: dict[str, Any]) -> None:
        """Collect one fiscal-year row under its core project (a row met twice counts once)."""
        core = row["core_project_num"].strip()
        if core in self._emitted:
            return
        # `agencies` may also match projects NEI funds but does not administer [A]: keep NEI's own
        admin = row.get("agency_ic_admin")
        abbreviation = admin.get("abbreviation") if isinstance(admin, dict) else None
        if abbreviation and abbreviation not in self.settings.getlist("NEI_AGENCIES"):
            self.crawler.stats.inc_value("envision/nei/not_administered")
            return
        if core not in self._rows and not self.more_wanted():
            return
        self.crawler.stats.inc_value("envision/nei/rows")
        self._rows.setdefault(core, {})[row.get("appl_id") or row.get("project_num") or len(self._rows[core])] = row

    # --- emitting the grants once paging is done ----------------------------------------------
    def flush_on_idle(self) -> None:
        if self._rows:
            self.crawler.engine.crawl(scrapy.Request("data:,", callback=self.emit_grants, dont_filter=True))
            raise DontCloseSpider

    async def emit_grants(self, response: Response) -> AsyncIterator[DatasetRecord]:
        pending, self._rows = self._rows, {}
        for core in sorted(pending):
            self._emitted.add(core)
        records = [await NeiGrant({"core_project_num": core, "rows": list(rows.values())}).to_item()
                   for core, rows in sorted(pending.items())]
        self.crawler.stats.inc_value("envision/nei/grants", len(records))
        for record in self.take(records):
            yield record


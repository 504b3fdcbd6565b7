"""Zenodo: search ``{ZENODO_API_URL}/records`` with the shared terms packed into OR-groups.

Paging is by page number over at most ZENODO_RESULT_WINDOW hits (Zenodo answers 400 past
10,000, and its ``next`` link keeps pointing past it): a query with more hits is split into
publication-date halves until each fits. Once page 1 gives the total, the other pages are
asked for at once (``fan_out``). Terms are packed by the longest URL a group can need (every
filter, a date window, the deepest page). Search hits carry full legacy records, so an
unchanged repository costs only its search pages. A token raises the page size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import scrapy

from envision_spiders.bases.offset_paging import OffsetPagingSpider, PageCursor, SearchResults
from envision_spiders.bases.spider import SpiderConfig, politeness, setting
from envision_spiders.pages.zenodo import ZenodoSearchPage
from envision_spiders.queries import QUERY_STRING

Window = tuple[str, str]  # publication_date range, inclusive ISO dates


@dataclass(frozen=True)
class ZenodoConfig(SpiderConfig):
    resource_types: tuple[str, ...] = setting("ZENODO_RESOURCE_TYPES")
    query_max_length: int = setting("ZENODO_QUERY_MAX_LENGTH")
    min_date: str = setting("ZENODO_MIN_DATE")  # lower bound of the windows split by date


class ZenodoSpider(OffsetPagingSpider):
    name = "zenodo"
    api_url_setting = "ZENODO_API_URL"
    search_page = ZenodoSearchPage
    config_class = ZenodoConfig
    token_variable = "ZENODO_ACCESS_TOKEN"
    page_size_setting = ("ZENODO_PAGE_SIZE_ANONYMOUS", "ZENODO_PAGE_SIZE_TOKEN")
    max_results_setting = "ZENODO_RESULT_WINDOW"
    fan_out = True
    file_rate_settings = ("ZENODO_FILE_REQUESTS_PER_HOUR", "ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN")
    custom_settings = politeness(2.1)  # 30 search requests/min (60/min overall for guests)

    async def start(self) -> AsyncIterator[Any]:
        for group in self.query_groups(QUERY_STRING, self.longest_url):
            yield self.first_page((QUERY_STRING(group), None))

    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        group, window = cursor.query
        parts = [f"({group})"]
        if self.config.resource_types:
            parts.append("resource_type.type:(" + " OR ".join(self.config.resource_types) + ")")
        if self.since:
            parts.append(f"updated:[{self.since.isoformat()} TO *]")
        if window:
            parts.append(f"publication_date:[{window[0]} TO {window[1]}]")
        params = {"q": " AND ".join(parts), "size": cursor.page_size, "page": cursor.page, "sort": "oldest"}
        return self.api_request(f"{self.api_url}/records?{urlencode(params)}", self.parse_search)

    def longest_url(self, terms: list[str]) -> str:
        """The longest URL a group of ``terms`` may need: a date window and the deepest page."""
        window = (self.config.min_date, date.today().isoformat())
        deepest = self.max_offset // self.page_size + 1
        return self.page_request(PageCursor((QUERY_STRING(terms), window), deepest, self.page_size)).url

    def split(self, query: tuple[str, Window | None]) -> list[Any] | None:
        """Publication-date halves of the query's window, or None for a single day."""
        group, window = query
        lo, hi = (date.fromisoformat(d) for d in window or (self.config.min_date, date.today().isoformat()))
        mid = lo + (hi - lo) // 2
        halves = [(lo, mid), (mid + timedelta(days=1), hi)]
        return [(group, (a.isoformat(), b.isoformat())) for a, b in halves] if lo < hi else None

    async def read_page(self, page: ZenodoSearchPage) -> SearchResults:
        total, (records, problems) = page.total, await page.records()
        return SearchResults(records, problems, len(records) + len(problems), total)

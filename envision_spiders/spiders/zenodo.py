"""Zenodo: search ``{ZENODO_API_URL}/records`` with the shared terms packed into OR-groups.

Paging is by page number over at most ZENODO_RESULT_WINDOW hits (Zenodo answers 400 past
10,000, and its ``next`` link keeps pointing past it): a query with more hits is split into
publication-date halves until each fits. Search hits carry full legacy records, so an
unchanged repository costs only its search pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

from envision_spiders.http.credentials import get_secret
from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.zenodo import ZenodoSearchPage
from envision_spiders.queries import pack_terms, split_words
from envision_spiders.spiders.base import EnvisionSpider

Window = tuple[str, str]  # publication_date range, inclusive ISO dates


def render_terms(terms: list[str]) -> str:
    """Zenodo query-string syntax: every word of a term required, terms OR-ed."""
    rendered = []
    for term in terms:
        words = ['"{}"'.format(w.replace('"', "")) for w in split_words(term)]
        rendered.append("(" + " AND ".join(words) + ")")
    return " OR ".join(rendered)


def split_window(window: Window) -> list[Window] | None:
    lo, hi = date.fromisoformat(window[0]), date.fromisoformat(window[1])
    if lo >= hi:
        return None
    mid = lo + (hi - lo) // 2
    return [(lo.isoformat(), mid.isoformat()), ((mid + timedelta(days=1)).isoformat(), hi.isoformat())]


class ZenodoSpider(EnvisionSpider):
    name = "zenodo"
    api_url_setting = "ZENODO_API_URL"
    custom_settings = {
        # Zenodo allows 30 search requests/min (60/min overall for guests): one every 2.1 s.
        "DOWNLOAD_DELAY": 2.1,
        "DOWNLOAD_DELAY_JITTER": 0,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
    }

    async def start(self) -> AsyncIterator[Any]:
        settings = self.settings
        token = get_secret("ZENODO_ACCESS_TOKEN")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.page_size = settings.getint("ZENODO_PAGE_SIZE_TOKEN" if token else "ZENODO_PAGE_SIZE_ANONYMOUS")
        self.result_window = settings.getint("ZENODO_RESULT_WINDOW")
        self.resource_types = settings.getlist("ZENODO_RESOURCE_TYPES")
        groups = pack_terms(self.terms, render_terms, settings.getint("ZENODO_QUERY_MAX_LENGTH"))
        self.crawler.stats.set_value("envision/zenodo/query_groups", len(groups))
        for group in groups:
            yield self.search_request(group, page=1, window=None)

    def build_query(self, group: str, window: Window | None) -> str:
        parts = [f"({group})"]
        if self.resource_types:
            parts.append("resource_type.type:(" + " OR ".join(self.resource_types) + ")")
        if self.since:
            parts.append(f"updated:[{self.since.isoformat()} TO *]")
        if window:
            parts.append(f"publication_date:[{window[0]} TO {window[1]}]")
        return " AND ".join(parts)

    def search_request(self, group: str, page: int, window: Window | None, total: int | None = None) -> scrapy.Request:
        params = {"q": self.build_query(group, window), "size": self.page_size, "page": page, "sort": "oldest"}
        return scrapy.Request(
            f"{self.api_url}/records?{urlencode(params)}",
            callback=self.parse_search,
            headers=self._headers,
            meta={"zenodo": {"group": group, "page": page, "window": window, "total": total}},
        )

    async def parse_search(self, response: Response, page: ZenodoSearchPage) -> AsyncIterator[Any]:
        ctx = response.meta["zenodo"]
        try:
            total = page.total
            records, problems = await page.records()
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
            elif ctx["page"] == 1:
                self.logger.error("Lost query group %r: its first page never came back readable", ctx["group"][:80])
            return
        self.skip_unreadable(response, problems)

        if ctx["page"] == 1 and total > self.result_window:
            halves = split_window(ctx["window"] or (self.settings.get("ZENODO_MIN_DATE"), date.today().isoformat()))
            if halves:
                self.crawler.stats.inc_value("envision/zenodo/window_splits")
                for window in halves:
                    yield self.search_request(ctx["group"], page=1, window=window)
                return
            self.crawler.stats.inc_value("envision/zenodo/window_truncated")
            self.logger.error(
                "%d hits on one publication date (%s): only the first %d are reachable",
                total, ctx["window"], self.result_window,
            )

        for record in self.take(records):
            yield record
        if ctx["page"] == 1:
            # The total is known now: ask for every other page at once and let the scheduler
            # and the per-domain politeness pace them (a lost page loses only itself).
            for number in range(2, self.last_page(total) + 1):
                yield self.search_request(ctx["group"], number, ctx["window"], total)

    def last_page(self, total: int) -> int:
        reachable = min(total, self.result_window)
        if self.max_records is not None:
            reachable = min(reachable, self.max_records)
        return max(1, -(-reachable // self.page_size))

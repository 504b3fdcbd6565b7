"""NIH RePORTER: NEI-administered grants whose title, terms or abstract match the shared terms.

``POST {NEI_API_URL}/projects/search`` with ``criteria.agencies`` (NEI_AGENCIES) and an
``advanced_text_search`` (terms packed into boolean groups, or one request per term with
NEI_SEARCH_OPERATOR = "and"), ``limit`` <= 500, offsets up to NEI_MAX_OFFSET. RePORTER matches
whole words without stemming, so each term is searched with its singular/plural variants
(``queries.number_variants``: "retinal image" and "retinal images"). A query whose
``meta.total`` is beyond reach is split into fiscal-year ranges (a 400 past the offset cap
splits too: older deployments stop at 9,999). Rows are collected per core project
(``pages.nei.GrantRows``) and emitted once paging is done (on ``spider_idle``) as one
``grant`` record with every fiscal year in ``extra``. NIH asks for at most one request per second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import scrapy
from scrapy.http import Response

from envision_spiders.bases.offset_paging import ONE_REQUEST_PER_SECOND, OffsetPagingSpider, PageCursor, SearchResults
from envision_spiders.bases.spider import SpiderConfig, setting
from envision_spiders.pages.nei import INCLUDE_FIELDS, GrantRows, NeiSearchPage
from envision_spiders.queries import BOOLEAN_WORDS, number_variants, pack_terms, split_words


@dataclass(frozen=True)
class NeiConfig(SpiderConfig):
    operator: str = setting("NEI_SEARCH_OPERATOR", choices=("advanced", "and"))  # "and": one query per term
    agencies: tuple[str, ...] = setting("NEI_AGENCIES")
    search_field: str = setting("NEI_SEARCH_FIELD")
    min_year: int = setting("NEI_MIN_FISCAL_YEAR")  # lower bound of the fiscal-year ranges of splits
    query_max_length: int = setting("NEI_QUERY_MAX_LENGTH")


class NeiSpider(OffsetPagingSpider):
    name = "nei"
    api_url_setting = "NEI_API_URL"
    search_page = NeiSearchPage
    config_class = NeiConfig
    page_size_setting = "NEI_PAGE_SIZE"
    max_offset_setting = "NEI_MAX_OFFSET"
    cap_statuses = (400,)
    unreadable_what = "row"
    # NIH asks for no more than 1 request per second (IP blocks otherwise).
    custom_settings = {**ONE_REQUEST_PER_SECOND}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grants = GrantRows()  # rows per core project, until paging is done

    async def start(self) -> AsyncIterator[Any]:
        terms = number_variants(self.terms)
        texts = (pack_terms(terms, BOOLEAN_WORDS, self.config.query_max_length) if self.config.operator == "advanced"
                 else [" ".join(split_words(term)) for term in terms])
        self.crawler.stats.set_value("envision/search/query_groups", len(texts))
        for text in texts:
            yield self.first_page((text, None, None))

    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        text, first, last = cursor.query  # search text, first and last fiscal year (None: all)
        search = {"operator": self.config.operator, "search_field": self.config.search_field, "search_text": text}
        criteria: dict[str, Any] = {"agencies": list(self.config.agencies), "advanced_text_search": search}
        if first is not None:
            criteria["fiscal_years"] = list(range(first, last + 1))
        if self.since:
            criteria["award_notice_date"] = {"from_date": self.since.isoformat(), "to_date": date.today().isoformat()}
        body = {"criteria": criteria, "include_fields": INCLUDE_FIELDS, "offset": cursor.offset,
                "limit": cursor.page_size, "sort_field": "appl_id", "sort_order": "asc"}
        return self.api_request(f"{self.api_url}/projects/search", self.parse_search, data=body)

    def split(self, query: Any) -> list[Any] | None:
        text, first, last = query
        first, last = (self.config.min_year, date.today().year + 1) if first is None else (first, last)
        mid = (first + last) // 2
        return [(text, first, mid), (text, mid + 1, last)] if first < last else None

    def more_wanted(self) -> bool:
        return self.max_records is None or len(self.grants) < self.max_records

    async def read_page(self, page: NeiSearchPage) -> SearchResults:
        total = page.total
        return SearchResults(*page.rows(), count=page.count, total=total)

    async def on_hits(self, response: Response, hits: list[dict[str, Any]]) -> AsyncIterator[Any]:
        for row in hits:
            outcome = self.grants.add(row, self.config.agencies, new_allowed=self.more_wanted())
            self.crawler.stats.inc_value(f"envision/grants/{outcome}")
        return
        yield  # pragma: no cover - rows become grants on spider_idle

    def deferred(self) -> int:
        return self.grants.pending_rows

    async def drain_deferred(self) -> list[Any]:
        records = [await grant.to_item() for grant in self.grants.drain()]
        self.crawler.stats.inc_value("envision/grants/emitted", len(records))
        return records

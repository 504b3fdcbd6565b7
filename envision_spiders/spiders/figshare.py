"""Figshare: ``POST {FIGSHARE_API_URL}/articles/search`` for datasets, then each article's detail.

The search answers a bare array (no total): a short page is the last one, and no offset past
FIGSHARE_MAX_OFFSET is asked for (422 there). Hits come oldest first (``published_date``
ascending), so a query that reaches the cap goes on as the same query ``published_since`` the
day before its last hit (``pages.figshare.resume_since``); when one day fills the whole window,
the term group is split into halves, and a single term is truncated (an ERROR). Hits carrying ``modified_date`` mark the detail request for incremental
crawls. An article whose detail may not list all its files (10 at most) gets its
``/files`` listing. ``FIGSHARE_ACCESS_TOKEN`` goes as ``Authorization: token ...`` to the
API's origin only: file URLs are never fetched with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import scrapy
from scrapy.http import Response

from envision_spiders.bases.file_listing import FileBatch, FileListing, FileListingSpider
from envision_spiders.bases.offset_paging import ONE_REQUEST_PER_SECOND, OffsetPagingSpider, PageCursor, SearchResults
from envision_spiders.bases.spider import SpiderConfig, query_param, setting, with_query_param
from envision_spiders.pages.figshare import (
    FigshareArticle,
    FigshareArticlePage,
    FigshareFilesPage,
    FigshareSearchPage,
    needs_file_listing,
    resume_since,
)
from envision_spiders.queries import PHRASES


@dataclass(frozen=True)
class FigshareConfig(SpiderConfig):
    item_type: int = setting("FIGSHARE_ITEM_TYPE")
    detail_files_cap: int = setting("FIGSHARE_DETAIL_FILES_CAP")
    files_page_size: int = setting("FIGSHARE_FILES_PAGE_SIZE")
    query_max_length: int = setting("FIGSHARE_QUERY_MAX_LENGTH")


class FigshareQuery(NamedTuple):
    terms: tuple[str, ...]
    published_since: str | None = None  # YYYY-MM-DD: a continuation past the paging cap


class FigshareSpider(FileListingSpider, OffsetPagingSpider):
    name = "figshare"
    api_url_setting = "FIGSHARE_API_URL"
    search_page = FigshareSearchPage
    files_page = FigshareFilesPage
    detail_page = FigshareArticlePage
    config_class = FigshareConfig
    token_variable, token_scheme = "FIGSHARE_ACCESS_TOKEN", "token"
    page_size_setting = "FIGSHARE_PAGE_SIZE"
    max_offset_setting = "FIGSHARE_MAX_OFFSET"
    cap_statuses = (422,)
    # Figshare asks for at most 1 request per second (no rate-limit headers are documented).
    custom_settings = {**ONE_REQUEST_PER_SECOND}
    shared_rate = True  # that one rate covers file downloads on ndownloader.figshare.com too (http/slots.py)

    async def start(self) -> AsyncIterator[Any]:
        groups = self.query_groups(PHRASES)
        for group in groups:
            yield self.first_page(FigshareQuery(tuple(group)))

    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        query: FigshareQuery = cursor.query
        body: dict[str, Any] = {"search_for": PHRASES(list(query.terms)), "item_type": self.config.item_type,
                                "offset": cursor.offset, "limit": cursor.page_size, "order": "published_date",
                                "order_direction": "asc"}
        if self.since:
            body["modified_since"] = self.since.isoformat()
        if query.published_since:
            body["published_since"] = query.published_since
        return self.api_request(f"{self.api_url}/articles/search", self.parse_search, data=body)

    def continuation(self, query: FigshareQuery, hits: list[dict[str, Any]]) -> FigshareQuery | None:
        since = resume_since(hits, query.published_since)
        return query._replace(published_since=since) if since else None

    def split(self, query: FigshareQuery) -> list[FigshareQuery] | None:
        """Two halves of a term group, or None for a single term."""
        mid = len(query.terms) // 2
        return [query._replace(terms=query.terms[:mid]), query._replace(terms=query.terms[mid:])] if mid else None

    async def read_page(self, page: FigshareSearchPage) -> SearchResults:
        return SearchResults(*page.entries(), count=page.count)

    def hit_key(self, hit: dict[str, Any]) -> str:
        return str(hit["id"])  # term groups overlap

    async def on_hits(self, response: Response, hits: list[dict[str, Any]]) -> AsyncIterator[Any]:
        for hit in self.take(hits):
            modified = {"source": self.name, "source_id": str(hit["id"]), "modified": hit.get("modified_date")}
            meta = {"envision_record": modified} if hit.get("modified_date") else {}
            yield self.api_request(f"{self.api_url}/articles/{hit['id']}", self.parse_detail, meta=meta)

    def detail_listing(self, article: dict[str, Any]) -> tuple[str, list[str]] | None:
        if not needs_file_listing(article, self.config.detail_files_cap):
            return None
        return str(article["id"]), [f"{self.api_url}/articles/{article['id']}/files?page=1&page_size={self.config.files_page_size}"]

    def read_files(self, response: Response, page: FigshareFilesPage) -> FileBatch:
        batch = page.files()
        if len(batch) < self.config.files_page_size:
            return FileBatch(batch, [], [])
        number = int(query_param(response.url, "page") or 1)
        return FileBatch(batch, [], [with_query_param(response.url, "page", str(number + 1))])

    async def files_record(self, listing: FileListing) -> Any:
        """All files when the listing was read, else the detail's files, marked incomplete."""
        if listing.complete:
            return await FigshareArticle({**listing.subject, "files": listing.files}).to_item()
        record = await FigshareArticle(listing.subject).to_item()
        record.extra["files_incomplete"] = True
        return record

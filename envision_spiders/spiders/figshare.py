"""Figshare: ``POST {FIGSHARE_API_URL}/articles/search`` for datasets, then each article's detail.

The search answers a bare array (no total): a short page is the last one, and no offset past
FIGSHARE_MAX_OFFSET is asked for (422 there). A term group that fills the cap is split into
smaller groups. Hits carrying ``modified_date`` mark the detail request for incremental
crawls. An article whose detail may not list all its files (10 at most) gets its
``/files`` listing. ``FIGSHARE_ACCESS_TOKEN`` goes as ``Authorization: token ...`` on API
requests only; file URLs are never fetched with it (and Scrapy drops the header on a
cross-host redirect to S3).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import JsonRequest, Response
from twisted.python.failure import Failure

from envision_spiders.http.credentials import get_secret
from envision_spiders.items import DatasetRecord
from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.figshare import (
    FigshareArticle,
    FigshareArticlePage,
    FigshareFilesPage,
    FigshareSearchPage,
    needs_file_listing,
)
from envision_spiders.queries import pack_terms
from envision_spiders.spiders.paging import ONE_REQUEST_PER_SECOND, OffsetPagingSpider, PageCursor

_PHRASE = re.compile(r'"[^"]*"')


def render_terms(terms: list[str]) -> str:
    """Figshare ``search_for``: each term a quoted phrase, terms OR-ed."""
    return " OR ".join('"{}"'.format(term.replace('"', "").strip()) for term in terms)


def split_group(group: str) -> list[str] | None:
    """Two halves of a rendered term group, or None for a single term."""
    phrases = _PHRASE.findall(group)
    if len(phrases) < 2:
        return None
    mid = len(phrases) // 2
    return [" OR ".join(phrases[:mid]), " OR ".join(phrases[mid:])]


class FigshareSpider(OffsetPagingSpider):
    name = "figshare"
    api_url_setting = "FIGSHARE_API_URL"
    page_size_setting = "FIGSHARE_PAGE_SIZE"
    max_offset_setting = "FIGSHARE_MAX_OFFSET"
    cap_statuses = (422,)
    # Figshare asks for at most 1 request per second (no rate-limit headers are documented).
    custom_settings = {**ONE_REQUEST_PER_SECOND}

    async def start(self) -> AsyncIterator[Any]:
        settings = self.settings
        token = get_secret("FIGSHARE_ACCESS_TOKEN")
        self._headers = {"Authorization": f"token {token}"} if token else {}
        self.item_type = settings.getint("FIGSHARE_ITEM_TYPE")
        self.detail_files_cap = settings.getint("FIGSHARE_DETAIL_FILES_CAP")
        self.files_page_size = settings.getint("FIGSHARE_FILES_PAGE_SIZE")
        self._requested: set[int] = set()
        groups = pack_terms(self.terms, render_terms, settings.getint("FIGSHARE_QUERY_MAX_LENGTH"))
        self.crawler.stats.set_value("envision/figshare/query_groups", len(groups))
        for group in groups:
            yield self.first_page(group)

    # --- search -------------------------------------------------------------------------------
    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        body: dict[str, Any] = {
            "search_for": cursor.query,
            "item_type": self.item_type,
            "offset": cursor.offset,
            "limit": cursor.page_size,
            "order": "published_date",
            "order_direction": "asc",
        }
        if self.since:
            body["modified_since"] = self.since.isoformat()
        return JsonRequest(f"{self.api_url}/articles/search", data=body, headers=self._headers,
                           callback=self.parse_search)

    def split(self, query: Any) -> list[Any] | None:
        return split_group(query)

    async def parse_search(self, response: Response, page: FigshareSearchPage) -> AsyncIterator[Any]:
        if response.status in self.cap_statuses:
            for request in self.past_cap(response):
                yield request
            return
        try:
            hits, problems = page.entries()
        except MalformedPage as exc:
            for request in self.lost_page(response, exc):
                yield request
            return
        self.skip_unreadable(response, problems)
        use_hits, follow = self.paging(response, page.count)
        if use_hits:
            new = [hit for hit in hits if hit["id"] not in self._requested]
            for hit in self.take(new):
                self._requested.add(hit["id"])
                yield self.article_request(hit)
        for request in follow:
            yield request

    # --- article detail and file listing ------------------------------------------------------
    def article_request(self, hit: dict[str, Any]) -> scrapy.Request:
        meta: dict[str, Any] = {}
        if hit.get("modified_date"):
            meta["envision_record"] = {"source": self.name, "source_id": str(hit["id"]),
                                       "modified": hit["modified_date"]}
        return scrapy.Request(f"{self.api_url}/articles/{hit['id']}", callback=self.parse_article,
                              headers=self._headers, meta=meta)

    async def parse_article(self, response: Response, page: FigshareArticlePage) -> AsyncIterator[Any]:
        try:
            article = page.article()
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
            return
        if needs_file_listing(article, self.detail_files_cap):
            self.crawler.stats.inc_value("envision/figshare/file_listings")
            yield self.files_request(article, [], page=1)
            return
        yield await page.to_item()

    def files_request(self, article: dict[str, Any], files: list[dict[str, Any]], page: int) -> scrapy.Request:
        query = urlencode({"page": page, "page_size": self.files_page_size})
        return scrapy.Request(
            f"{self.api_url}/articles/{article['id']}/files?{query}",
            callback=self.parse_files,
            errback=self.files_failed,
            headers=self._headers,
            meta={"figshare_files": {"article": article, "files": files, "page": page}},
        )

    async def parse_files(self, response: Response, page: FigshareFilesPage) -> AsyncIterator[Any]:
        ctx = response.meta["figshare_files"]
        try:
            batch = page.files()
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
            else:
                yield await self.record_from_detail(ctx["article"], f"file listing unreadable: {exc.problem}")
            return
        files = ctx["files"] + batch
        if len(batch) >= self.files_page_size:
            yield self.files_request(ctx["article"], files, ctx["page"] + 1)
            return
        yield await FigshareArticle({**ctx["article"], "files": files}).to_item()

    async def files_failed(self, failure: Failure) -> AsyncIterator[DatasetRecord]:
        ctx = failure.request.meta["figshare_files"]
        yield await self.record_from_detail(ctx["article"], f"file listing failed: {failure.getErrorMessage()}")

    async def record_from_detail(self, article: dict[str, Any], why: str) -> DatasetRecord:
        """The record with the files the detail listed, marked incomplete (counted, logged)."""
        self.crawler.stats.inc_value("envision/figshare/files_incomplete")
        self.logger.warning("Article %s: %s; keeping the %d files of its detail", article["id"], why,
                            len(article.get("files") or []))
        record = await FigshareArticle(article).to_item()
        record.extra["files_incomplete"] = True
        return record


"""Kaggle (legacy API v1): ``GET {KAGGLE_API_URL}/datasets/list?search=<term>&page=N``, then
each dataset's file listing ``/datasets/list/{owner}/{slug}`` (sizes; Kaggle has no checksums).

Kaggle requires credentials to list datasets: ``KAGGLE_USERNAME`` + ``KAGGLE_KEY`` (HTTP
Basic) when present, else ``KAGGLE_API_TOKEN`` (Bearer; whether the legacy routes accept it is
unconfirmed). With neither, the crawl stops at once with a clear error; a 401/403 closes it
with a hint. The list serves a fixed 20 per page and comes back empty past page
KAGGLE_MAX_PAGE (500): a short or empty page ends a term. ``-a since`` filters on
``lastUpdated`` (the list cannot). Unchanged datasets (same ``lastUpdated``) cost no file request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from envision_spiders.http.credentials import basic_auth_header, get_secret
from envision_spiders.items import DatasetRecord
from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.kaggle import KaggleDataset, KaggleFilesPage, KaggleListPage
from envision_spiders.queries import split_words
from envision_spiders.spiders.base import SpiderArgumentError
from envision_spiders.spiders.paging import ONE_REQUEST_PER_SECOND, OffsetPagingSpider, PageCursor


class KaggleCredentialsMissing(SpiderArgumentError):
    pass


def auth_header() -> tuple[str, str]:
    """``(style, Authorization value)`` from the environment; the legacy pair wins (it is the
    documented auth of the v1 routes)."""
    username, key = get_secret("KAGGLE_USERNAME"), get_secret("KAGGLE_KEY")
    if username and key:
        return "basic", basic_auth_header(username, key)
    token = get_secret("KAGGLE_API_TOKEN")
    if token:
        return "bearer", f"Bearer {token}"
    raise KaggleCredentialsMissing(
        "Kaggle requires credentials to list datasets: set KAGGLE_USERNAME and KAGGLE_KEY "
        "(from kaggle.json) or KAGGLE_API_TOKEN in the environment or .env"
    )


class KaggleSpider(OffsetPagingSpider):
    name = "kaggle"
    api_url_setting = "KAGGLE_API_URL"
    page_size_setting = "KAGGLE_PAGE_SIZE"
    max_page_setting = "KAGGLE_MAX_PAGE"
    # Limits are unpublished; 429s are documented. Suggested: at most 1 request per second.
    custom_settings = {**ONE_REQUEST_PER_SECOND}

    @classmethod
    def preflight(cls, settings: Any, **arguments: Any) -> None:
        super().preflight(settings, **arguments)
        auth_header()  # no credentials: a clear error before anything starts

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> KaggleSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.auth_style, authorization = auth_header()
        spider._headers = {"Authorization": authorization}
        return spider

    async def start(self) -> AsyncIterator[Any]:
        self.sort_by = self.settings.get("KAGGLE_SORT_BY")
        self.files_page_size = self.settings.getint("KAGGLE_FILES_PAGE_SIZE")
        self._requested: set[str] = set()
        self.logger.info("Kaggle credentials: %s auth", self.auth_style)
        # The first term's first page probes the credentials; the other terms follow its answer,
        # so refused credentials cost one request, not one per term.
        first, *self._waiting_terms = [" ".join(split_words(term)) for term in self.terms]
        yield self.first_page(first)

    def release_terms(self) -> list[scrapy.Request]:
        """The other terms' first pages, once (none when ``max_records`` is already reached)."""
        waiting, self._waiting_terms = self._waiting_terms, []
        return [self.first_page(term) for term in waiting] if self.more_wanted() else []

    # --- dataset list -------------------------------------------------------------------------
    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        params = {"search": cursor.query, "page": cursor.page, "sortBy": self.sort_by, "group": "public"}
        return scrapy.Request(f"{self.api_url}/datasets/list?{urlencode(params)}", headers=self._headers,
                              callback=self.parse_list, errback=self.list_failed)

    async def parse_list(self, response: Response, page: KaggleListPage) -> AsyncIterator[Any]:
        try:
            datasets, problems = page.entries()
        except MalformedPage as exc:
            for request in [*self.lost_page(response, exc), *self.release_terms()]:
                yield request
            return
        self.skip_unreadable(response, problems)
        _, follow = self.paging(response, page.count)
        wanted = [d for d in datasets if d["ref"] not in self._requested and self.is_recent(d)]
        for dataset in self.take(wanted):
            self._requested.add(dataset["ref"])
            yield self.files_request(dataset, [], None)
        for request in [*follow, *self.release_terms()]:
            yield request

    def is_recent(self, dataset: dict[str, Any]) -> bool:
        updated = dataset.get("lastUpdated")
        if self.since is None or not isinstance(updated, str) or updated[:10] >= self.since.isoformat():
            return True
        self.crawler.stats.inc_value("envision/kaggle/older_than_since")
        return False

    # --- file listings ------------------------------------------------------------------------
    def files_request(self, dataset: dict[str, Any], files: list[dict[str, Any]], token: str | None) -> scrapy.Request:
        params: dict[str, Any] = {"pageSize": self.files_page_size}
        if token:
            params["pageToken"] = token
        meta: dict[str, Any] = {"kaggle": {"dataset": dataset, "files": files}}
        if dataset.get("lastUpdated") and token is None:
            meta["envision_record"] = {"source": self.name, "source_id": dataset["ref"], "modified": dataset["lastUpdated"]}
        return scrapy.Request(f"{self.api_url}/datasets/list/{dataset['ref']}?{urlencode(params)}",
                              headers=self._headers, callback=self.parse_files, errback=self.files_failed, meta=meta)

    async def parse_files(self, response: Response, page: KaggleFilesPage) -> AsyncIterator[Any]:
        ctx = response.meta["kaggle"]
        try:
            batch, error, token = page.files(), page.error, page.next_page_token
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            yield retry if retry is not None else await self.record(ctx, f"file listing unreadable: {exc.problem}")
            return
        if error:
            yield await self.record(ctx, f"Kaggle says: {error}")
            return
        files = ctx["files"] + batch
        if token:
            yield self.files_request(ctx["dataset"], files, token)
            return
        yield await self.record({**ctx, "files": files})

    async def files_failed(self, failure: Failure) -> AsyncIterator[DatasetRecord]:
        self.refused(failure)
        yield await self.record(failure.request.meta["kaggle"], f"file listing failed: {failure.getErrorMessage()}")

    async def record(self, ctx: dict[str, Any], problem: str | None = None) -> DatasetRecord:
        """The dataset's record; with a ``problem``, its files are marked incomplete (logged, counted)."""
        record = await KaggleDataset(ctx["dataset"], dataset_files=ctx["files"], download_base=self.api_url).to_item()
        if problem:
            self.crawler.stats.inc_value("envision/kaggle/files_incomplete")
            self.logger.warning("Dataset %s: %s", ctx["dataset"]["ref"], problem)
            record.extra["files_incomplete"] = True
        return record

    def list_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        self.refused(failure)
        self.crawler.stats.inc_value("envision/kaggle/list_failed")
        self.logger.error("Dataset list page %s failed: %s", failure.request.url, failure.getErrorMessage())
        yield from self.release_terms()

    def refused(self, failure: Failure) -> None:
        """401/403: the credentials are wrong (or a token the legacy API does not take): stop."""
        if failure.check(HttpError) and failure.value.response.status in (401, 403):
            status = failure.value.response.status
            self.crawler.stats.inc_value("envision/kaggle/auth_refused")
            hint = (" KAGGLE_API_TOKEN may not be accepted by the legacy API: set KAGGLE_USERNAME and KAGGLE_KEY."
                    if self.auth_style == "bearer" else " Check KAGGLE_USERNAME and KAGGLE_KEY.")
            self.logger.error("Kaggle refused the %s credentials (HTTP %d).%s", self.auth_style, status, hint)
            raise CloseSpider(f"kaggle_auth_{status}")

"""Kaggle (legacy API v1): ``GET {KAGGLE_API_URL}/datasets/list?search=<term>&page=N``, then
each dataset's file listing ``/datasets/list/{owner}/{slug}`` (sizes; Kaggle has no checksums).

Kaggle requires credentials to list datasets: ``KAGGLE_USERNAME`` + ``KAGGLE_KEY`` (HTTP
Basic) when present, else ``KAGGLE_API_TOKEN`` (Bearer; whether the legacy routes accept it is
unconfirmed). With neither, the crawl stops at once with a clear error; a 401/403 closes it
with a hint. The list serves a fixed 20 per page and comes back empty past page
KAGGLE_MAX_PAGE (500): a short or empty page ends a term. ``-a since`` filters on
``lastUpdated`` (the list cannot). Unchanged datasets (same ``lastUpdated``) cost no file request.
The first term's first page probes the credentials; the other terms follow its answer, so
refused credentials cost one request, not one per term.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from envision_spiders.bases.file_listing import FileBatch, FileListing, FileListingSpider
from envision_spiders.bases.offset_paging import ONE_REQUEST_PER_SECOND, OffsetPagingSpider, PageCursor, SearchResults
from envision_spiders.bases.spider import SpiderArgumentError, SpiderConfig, setting, with_query_param
from envision_spiders.http.credentials import ApiToken, api_token, basic_token
from envision_spiders.pages.kaggle import KaggleDataset, KaggleFilesPage, KaggleListPage
from envision_spiders.queries import split_words


@dataclass(frozen=True)
class KaggleConfig(SpiderConfig):
    sort_by: str = setting("KAGGLE_SORT_BY")
    files_page_size: int = setting("KAGGLE_FILES_PAGE_SIZE")


class KaggleSpider(FileListingSpider, OffsetPagingSpider):
    name = "kaggle"
    api_url_setting = "KAGGLE_API_URL"
    search_page = KaggleListPage
    files_page = KaggleFilesPage
    config_class = KaggleConfig
    page_size_setting = "KAGGLE_PAGE_SIZE"
    max_page_setting = "KAGGLE_MAX_PAGE"
    # Limits are unpublished; 429s are documented. Suggested: at most 1 request per second, for
    # every request (downloads too; their 302 to GCS leaves the budget: http/slots.py).
    custom_settings = {**ONE_REQUEST_PER_SECOND}
    shared_rate = True

    @classmethod
    def api_token(cls, settings: BaseSettings, api_url: str) -> ApiToken:
        """The legacy pair wins (the documented auth of the v1 routes), else the API token."""
        token = basic_token(api_url, "KAGGLE_USERNAME", "KAGGLE_KEY") or api_token(api_url, "KAGGLE_API_TOKEN")
        if token is not None:
            return token
        raise SpiderArgumentError("Kaggle requires credentials to list datasets: set KAGGLE_USERNAME and KAGGLE_KEY "
                                  "(from kaggle.json) or KAGGLE_API_TOKEN in the environment or .env")


    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_terms: list[str] = []  # until the first page has answered

    @property
    def auth_style(self) -> str:
        return "basic" if self.token and self.token.value.startswith("Basic ") else "bearer"

    async def start(self) -> AsyncIterator[Any]:
        self.logger.info("Kaggle credentials: %s auth", self.auth_style)
        first, *self.waiting_terms = [" ".join(split_words(term)) for term in self.terms]
        yield self.first_page(first)

    def release_terms(self) -> list[scrapy.Request]:
        """The other terms' first pages, once (none when ``max_records`` is already reached)."""
        waiting, self.waiting_terms = self.waiting_terms, []
        return [self.first_page(term) for term in waiting] if self.more_wanted() else []

    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        params = {"search": cursor.query, "page": cursor.page, "sortBy": self.config.sort_by, "group": "public"}
        return self.api_request(f"{self.api_url}/datasets/list?{urlencode(params)}", self.parse_search,
                                errback=self.list_failed)

    async def follow_search(self, response: Response, page: KaggleListPage) -> AsyncIterator[Any]:
        async for out in super().follow_search(response, page):
            yield out
        for request in self.release_terms():  # after the first page's answer, whatever it was
            yield request

    async def read_page(self, page: KaggleListPage) -> SearchResults:
        return SearchResults(*page.entries(), count=page.count)

    async def on_hits(self, response: Response, hits: list[dict[str, Any]]) -> AsyncIterator[Any]:
        for dataset in self.take([d for d in hits if self.is_recent(d)]):
            modified = dataset.get("lastUpdated")
            meta = {"envision_record": {"source": self.name, "source_id": dataset["ref"], "modified": modified}}
            owner, slug = (quote(part, safe="") for part in dataset["ref"].split("/", 1))
            url = f"{self.api_url}/datasets/list/{owner}/{slug}?{urlencode({'pageSize': self.config.files_page_size})}"
            async for out in self.list_files(dataset["ref"], dataset, [url], meta if modified else None):
                yield out

    def hit_key(self, dataset: dict[str, Any]) -> str:
        return dataset["ref"]  # terms overlap

    def is_recent(self, dataset: dict[str, Any]) -> bool:
        updated = dataset.get("lastUpdated")
        if self.since is None or not isinstance(updated, str) or updated[:10] >= self.since.isoformat():
            return True
        self.crawler.stats.inc_value("envision/search/older_than_since")
        return False

    def read_files(self, response: Response, page: KaggleFilesPage) -> FileBatch:
        batch, error, token = page.files(), page.error, page.next_page_token
        if error:
            return FileBatch([], [f"Kaggle says: {error}"], [])
        return FileBatch(batch, [], [with_query_param(response.url, "pageToken", token)] if token else [])

    async def files_record(self, listing: FileListing) -> Any:
        record = await KaggleDataset(listing.subject, dataset_files=listing.files, download_base=self.api_url).to_item()
        if not listing.complete:
            record.extra["files_incomplete"] = True
        return record

    def request_failed(self, request: scrapy.Request, failure: Failure) -> Iterable[Any]:
        self.refused(failure)
        return super().request_failed(request, failure)

    def list_failed(self, failure: Failure) -> list[scrapy.Request]:
        self.refused(failure)
        self.crawler.stats.inc_value("envision/search/list_failed")
        self.logger.error("Dataset list page %s failed: %s", failure.request.url, failure.getErrorMessage())
        return self.release_terms()

    def refused(self, failure: Failure) -> None:
        """401/403: the credentials are wrong (or a token the legacy API does not take): stop."""
        if failure.check(HttpError) and failure.value.response.status in (401, 403):
            status = failure.value.response.status
            self.crawler.stats.inc_value("envision/auth/refused")
            hint = (" KAGGLE_API_TOKEN may not be accepted by the legacy API: set KAGGLE_USERNAME and KAGGLE_KEY."
                    if self.auth_style == "bearer" else " Check KAGGLE_USERNAME and KAGGLE_KEY.")
            self.logger.error("Kaggle refused the %s credentials (HTTP %d).%s", self.auth_style, status, hint)
            raise CloseSpider(f"kaggle_auth_{status}")

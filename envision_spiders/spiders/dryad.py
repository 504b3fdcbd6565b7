"""Dryad: ``{DRYAD_API_URL}/search`` per shared term (Dryad ANDs the words of ``q``), then
the files of each dataset's latest version (``_links."stash:version".href`` + ``/files``),
following HAL ``_links.next`` on both listings.

Search hits carry the full dataset metadata, so a dataset costs one files request (more for
over 100 files); that request carries ``meta["envision_record"]`` with the dataset's
``lastModificationDate``, so an unchanged dataset costs nothing but its share of a search page.

Auth (optional): ``DRYAD_TOKEN`` (a bearer token), or ``DRYAD_CLIENT_ID`` +
``DRYAD_CLIENT_SECRET`` for the documented OAuth2 client-credentials flow (a token valid 10 h,
fetched at start through Scrapy). A 401 on a request that carried the token (expired or
invalid: Dryad then refuses even public metadata) drops the token and retries anonymously.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urlencode, urljoin

import scrapy
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from twisted.python.failure import Failure

from envision_spiders.http.credentials import get_secret
from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.dryad import DryadFilesPage, DryadRecord, DryadSearchPage, href
from envision_spiders.spiders.links_paging import LinksPagingSpider

FILES_META = "dryad_files"


class DryadSpider(LinksPagingSpider):
    name = "dryad"
    api_url_setting = "DRYAD_API_URL"
    token_variable = "DRYAD_TOKEN"
    rate_settings = ("DRYAD_REQUESTS_PER_HOUR", "DRYAD_REQUESTS_PER_HOUR_TOKEN")
    custom_settings = {"DOWNLOAD_DELAY_JITTER": 0, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    @classmethod
    def has_token(cls) -> bool:
        return bool(get_secret("DRYAD_TOKEN") or (get_secret("DRYAD_CLIENT_ID") and get_secret("DRYAD_CLIENT_SECRET")))

    async def start(self) -> AsyncIterator[Any]:
        self.set_token(get_secret("DRYAD_TOKEN") or await self.client_credentials_token())
        async for request in super().start():
            yield request

    async def client_credentials_token(self) -> str | None:
        client_id, secret = get_secret("DRYAD_CLIENT_ID"), get_secret("DRYAD_CLIENT_SECRET")
        if not (client_id and secret):
            return None
        request = scrapy.FormRequest(
            urljoin(self.api_url, "/oauth/token"), callback=NO_CALLBACK, dont_filter=True,
            formdata={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            meta={"handle_httpstatus_all": True},
        )
        response = await self.crawler.engine.download_async(request)
        try:
            token = json.loads(response.body).get("access_token") if response.status == 200 else None
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            self.crawler.stats.inc_value("envision/dryad/oauth_failed")
            self.logger.error("Dryad OAuth token request failed (HTTP %d): crawling anonymously", response.status)
            return None
        self.crawler.stats.inc_value("envision/dryad/oauth_token")
        return token

    def first_listings(self) -> Iterator[str]:
        for term in self.terms:
            params = {"q": term, "per_page": self.settings.getint("DRYAD_PAGE_SIZE")}
            if self.since:
                params["modifiedSince"] = f"{self.since.isoformat()}T00:00:00Z"
            yield f"{self.api_url}/search?{urlencode(params)}"

    def entry_key(self, entry: dict[str, Any]) -> str | None:
        return str(entry.get("identifier") or "").lower() or None

    async def parse_listing(self, response: Response, page: DryadSearchPage) -> AsyncIterator[Any]:
        async for out in self.follow_listing(response, page):
            yield out

    async def on_entries(self, response: Response, entries: list[dict[str, Any]]) -> AsyncIterator[Any]:
        for dataset in self.take(entries):
            version = href(dataset, "stash:version")
            if not version:  # nothing to list files of: the metadata is still a record
                self.crawler.stats.inc_value("envision/dryad/no_version_link")
                yield await DryadRecord(dataset, base_url=response.url).to_item()
                continue
            url = urljoin(response.url, version).rstrip("/") + "/files?" + urlencode(
                {"per_page": self.settings.getint("DRYAD_PAGE_SIZE")}
            )
            record = DryadRecord(dataset)
            ident = {"source": "dryad", "source_id": record.source_id, "modified": dataset.get("lastModificationDate")}
            yield self.api_request(url, self.parse_files, meta={
                "envision_record": ident, FILES_META: {"dataset": dataset, "files": [], "base": response.url},
            })

    async def parse_files(self, response: Response, page: DryadFilesPage) -> AsyncIterator[Any]:
        ctx = response.meta[FILES_META]
        try:
            files, problems = page.entries()
            next_link = page.next_link
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
            else:
                yield await self.dataset_record(ctx, complete=False)
            return
        for problem in problems:
            self.crawler.stats.inc_value("envision/dryad/unreadable_files")
            self.logger.warning("Skipping a file of %s: %s", response.url, problem)
        ctx = {**ctx, "files": ctx["files"] + files}
        if next_link:
            yield self.api_request(urljoin(response.url, next_link), self.parse_files,
                                   meta={**response.meta, FILES_META: ctx})
            return
        yield await self.dataset_record(ctx, complete=not problems)

    async def dataset_record(self, ctx: dict[str, Any], complete: bool) -> Any:
        if not complete:
            self.crawler.stats.inc_value("envision/dryad/files_incomplete")
        return await DryadRecord(ctx["dataset"], file_data=ctx["files"], base_url=ctx["base"],
                                 files_complete=complete).to_item()

    def request_failed(self, request: scrapy.Request, failure: Failure) -> Iterable[Any]:
        super().request_failed(request, failure)
        ctx = request.meta.get(FILES_META)
        if ctx is None:
            return []

        async def emit() -> AsyncIterator[Any]:  # the metadata is good without its file list
            yield await self.dataset_record(ctx, complete=False)

        return emit()

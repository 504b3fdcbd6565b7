"""Links-following paging: the API itself says where the next page is.

For APIs whose list answers carry the next page's address: JSON:API ``links.next`` (OSF,
DataCite) and HAL ``_links.next.href`` (Dryad). The base does the paging, the loop guards,
the malformed-page policy, a rejected token and politeness; a concrete spider says which
listings to start and what to do with the entries of a page.

Contract of a concrete spider (on top of ``EnvisionSpider``'s ``name``/``api_url_setting``):

``listing_page``
    The listing's page object class. The base gives the spider the callback
    ``parse_listing(response, page: <listing_page>)`` (scrapy-poet injects by annotation),
    which runs ``follow_listing``. The page object offers ``entries() -> (list[dict],
    problems)``, ``next_link`` (href or None, relative or absolute), ``last_link`` (or None)
    and ``total`` (int or None); any of them raises ``MalformedPage`` when the answer is not
    the documented shape.
``first_listings()``
    The absolute URL of each listing's first page (one per query group or term).
``on_entries(response, entries)``
    Async generator: records (through ``self.take``) and/or follow-up requests (built with
    ``self.api_request``) for the *new* entries of a page. Entries already met in this run
    (through another query) are removed before, by ``entry_key(entry)``.
``entry_id`` (optional)
    The entry field that identifies it (``"id"``): the default ``entry_key`` is its value,
    lower-cased. Override ``entry_key(entry)`` for anything else.
``cursor_param`` (optional)
    For an API that rebuilds ``links.next`` from a whitelist and drops parameters (DataCite):
    the next URL is then this page's URL with only that parameter copied out of
    ``links.next`` (a link without it is followed as given: logged,
    ``envision/listing/next_without_cursor``). Default: ``links.next`` as given. Override
    ``next_listing_url(response, page)`` for anything else.
``page_size_param`` (optional)
    The page-size parameter (``"page[size]"``): ``self.sized(url)`` sets it to the config's
    ``page_size`` (for hrefs the API gives without it, e.g. OSF's folders and licences).
``page_param`` (optional)
    Name of the page-number parameter (``"page"``), or None for cursor paging. With page
    numbers, a page that stays malformed after its retries is skipped (we know the next
    page's URL); with a cursor, the rest of that listing is lost (logged, counted).
``token_variable`` (optional, see ``EnvisionSpider``)
    Requests built with ``self.api_request`` carry the token to the API's origin only (a
    ``links.next`` or href to another origin is followed without it). When the API answers
    401 to a request that carried it, the token is dropped for the rest of the crawl (one
    logged error, ``envision/auth/token_rejected``) and the request is retried anonymously,
    so an expired token never silently ends a crawl.
``rate_settings`` (optional)
    ``(anonymous, with_token)`` names of requests-per-hour settings. Unless DOWNLOAD_DELAY
    is given on the command line, the spider's DOWNLOAD_DELAY becomes ``3600 / rate``
    (decided before the crawl starts). After a rejected token the server's rate limit is
    met by ``BackoffMiddleware`` (429 + ``Retry-After``): the spider never writes the
    downloader's slots.

Hook ``async def prepare()`` (optional) runs once, after the token and before the first
listing; there ``await self.read_side_listing(url, read, failed_key)`` reads every page of a
listing needed first (OSF's licences) through the downloader.

Stats: ``envision/listing/pages``, ``envision/listing/total`` (sum of first-page totals, each
logged), ``envision/listing/reported`` (listings whose first page gave a total),
``envision/listing/repeated_entries``, ``envision/listing/unreadable_entries``,
``envision/listing/paging_loop``, ``envision/listing/lost``, ``envision/listing/page_skipped``,
``envision/auth/token_rejected``, ``envision/auth/retried_anonymously``, ``envision/requests/failed``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from envision_spiders.bases.spider import EnvisionSpider, declare_callbacks, query_param, with_query_param
from envision_spiders.pages.base import MalformedPage

LISTING_META = "envision_listing"


class LinksPagingSpider(EnvisionSpider):
    listing_page: type | None = None
    page_param: str | None = "page"
    entry_id: str | None = None
    cursor_param: str | None = None
    page_size_param: str | None = None
    rate_settings: tuple[str, str] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declare_callbacks(cls, ("listing_page", "parse_listing", "follow_listing"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._entries_seen: set[str] = set()
        self._listing_urls: set[str] = set()
        self._token_rejected = False

    # --- politeness --------------------------------------------------------------------
    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        delay = cls.rate_delay(settings, token=cls.has_token(settings))
        if delay is not None and (settings.getpriority("DOWNLOAD_DELAY") or 0) <= SETTINGS_PRIORITIES["spider"]:
            settings.set("DOWNLOAD_DELAY", delay, priority="spider")

    @classmethod
    def rate_delay(cls, settings: BaseSettings, token: bool) -> float | None:
        """Seconds between requests for the documented rate, or None when not configured."""
        if not cls.rate_settings:
            return None
        per_hour = settings.getfloat(cls.rate_settings[1 if token else 0])
        return round(3600.0 / per_hour, 3) if per_hour > 0 else None

    # --- requests ----------------------------------------------------------------------
    def api_request(self, url: str, callback: Any, data: Any = None, **kwargs: Any) -> scrapy.Request:
        """A request to the API with the token-aware errback (unless one is given)."""
        kwargs.setdefault("errback", self.on_request_error)
        return super().api_request(url, callback, data, **kwargs)

    def on_request_error(self, failure: Failure) -> Any:
        request = failure.request  # type: ignore[attr-defined]
        response = failure.value.response if failure.check(HttpError) else None
        if response is not None and response.status == 401 and b"Authorization" in request.headers:
            return self._retry_without_token(request)
        return super().on_request_error(failure)

    def _retry_without_token(self, request: scrapy.Request) -> scrapy.Request:
        stats = self.crawler.stats
        if not self._token_rejected:
            self._token_rejected = True
            self.drop_token()
            stats.inc_value("envision/auth/token_rejected")
            self.logger.error(
                "%s was rejected (HTTP 401: expired or invalid): continuing anonymously; "
                "downloads that need a token will not work", self.token_variable or "The token",
            )
        stats.inc_value("envision/auth/retried_anonymously")
        retry = request.replace(dont_filter=True)
        del retry.headers["Authorization"]
        return retry

    async def read_side_listing(self, url: str, read: Callable[[Response], tuple[Any, str | None]],
                                failed_key: str) -> list[Any]:
        """Every page of a listing fetched before the crawl starts (e.g. OSF's licences), through
        the downloader: ``read(response)`` gives a page's content and the next page's URL (or
        raises ``MalformedPage``). An unreadable page ends it (logged, counted as ``failed_key``)."""
        contents: list[Any] = []
        next_url: str | None = url
        while next_url:
            request = self.api_request(next_url, NO_CALLBACK, dont_filter=True, meta={"handle_httpstatus_all": True})
            response = await self.crawler.engine.download_async(request)
            try:
                content, next_url = read(response)
            except MalformedPage as exc:
                self.crawler.stats.inc_value(failed_key)
                self.logger.error("Side listing %s unavailable: %s", url, exc)
                break
            contents.append(content)
        return contents

    async def prepare(self) -> None:
        """Hook: what must be read before the first listing (OSF: its licence names)."""

    # --- listings ----------------------------------------------------------------------
    def first_listings(self) -> Iterable[str]:
        raise NotImplementedError

    def entry_key(self, entry: dict[str, Any]) -> str | None:
        return str(entry.get(self.entry_id) or "").lower() or None if self.entry_id else None

    def sized(self, url: str) -> str:
        return with_query_param(url, self.page_size_param, str(self.config.page_size))

    async def on_entries(self, response: Response, entries: list[dict[str, Any]]) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield  # pragma: no cover

    def next_listing_url(self, response: Response, page: Any) -> str | None:
        link = page.next_link
        if not link or not self.cursor_param:
            return urljoin(response.url, link) if link else None
        cursor = query_param(link, self.cursor_param)
        if cursor is None:
            self.crawler.stats.inc_value("envision/listing/next_without_cursor")
            self.logger.warning("links.next has no cursor, following it as given: %s", link)
            return urljoin(response.url, link)
        return with_query_param(response.url, self.cursor_param, cursor)

    async def start(self) -> AsyncIterator[Any]:
        await self.fetch_token()
        await self.prepare()
        for url in self.first_listings():
            yield self.listing_request(url, {"first": url, "last": None})

    def listing_request(self, url: str, ctx: dict[str, Any], **kwargs: Any) -> scrapy.Request:
        self._listing_urls.add(url)
        return self.api_request(url, self.parse_listing, meta={LISTING_META: ctx}, **kwargs)

    async def follow_listing(self, response: Response, page: Any) -> AsyncIterator[Any]:
        ctx = response.meta[LISTING_META]
        stats = self.crawler.stats
        try:
            entries, problems = page.entries()
            next_url = self.next_listing_url(response, page)
            total = page.total
            ctx = {**ctx, "last": page.last_link or ctx.get("last")}
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
            else:
                skip = self._skip_lost_page(response, ctx)
                if skip is not None:
                    yield skip
                else:
                    stats.inc_value("envision/listing/lost")
                    self.logger.error("The rest of listing %s is lost (no way to page past %s)", ctx["first"], response.url)
            return
        stats.inc_value("envision/listing/pages")
        if response.url == ctx["first"] and total is not None:
            stats.inc_value("envision/listing/total", total)
            stats.inc_value("envision/listing/reported")
            self.logger.info("Listing %s: %d entries", response.url, total)
        for problem in problems:
            stats.inc_value("envision/listing/unreadable_entries")
            self.logger.warning("Skipping an entry of %s: %s", response.url, problem)

        fresh = []
        for entry in entries:
            key = self.entry_key(entry)
            if key is not None and key in self._entries_seen:
                stats.inc_value("envision/listing/repeated_entries")
                continue
            if key is not None:
                self._entries_seen.add(key)
            fresh.append(entry)
        async for out in self.on_entries(response, fresh):
            yield out

        if not entries or not next_url or not self.wants_more:
            return
        if next_url in self._listing_urls:
            stats.inc_value("envision/listing/paging_loop")
            self.logger.error("Paging loop: %s links back to %s; stopping this listing", response.url, next_url)
            return
        yield self.listing_request(next_url, ctx)

    def _skip_lost_page(self, response: Response, ctx: dict[str, Any]) -> scrapy.Request | None:
        """The next page after one that stayed malformed, when page numbers make that possible."""
        if not self.page_param or not self.wants_more:
            return None
        current = int(query_param(response.url, self.page_param) or 1)
        last = query_param(ctx.get("last"), self.page_param)
        if last is None or not last.isdigit() or current >= int(last):
            return None
        self.crawler.stats.inc_value("envision/listing/page_skipped")
        url = with_query_param(response.url, self.page_param, str(current + 1))
        return self.listing_request(url, ctx)

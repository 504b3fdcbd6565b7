"""The base every repository spider stands on. Its docstring is the contract.

A concrete spider declares:

``name``
    Spider name = module name = the records' ``source``.
``api_url_setting``
    The setting holding the API root (e.g. ``"ZENODO_API_URL"``); read once into ``self.api_url``.
``custom_settings``
    The source's politeness (``DOWNLOAD_DELAY``, concurrency) from its documented rate limits.

and writes ``async def start(self)`` plus its callbacks: pagination and which requests to
make, nothing else. Records are built by page objects in ``envision_spiders.pages``.

Spider arguments, validated before the crawl starts (a bad value is an error at once):

``-a query="..."``
    One search term instead of the shared list (all of its words are required).
``-a max_records=N``
    Stop asking for more once N records have been emitted.
``-a since=YYYY-MM-DD``
    Only records created or updated on/after that date (where the API can filter).

``preflight(settings, **arguments)`` (a classmethod) checks, before the engine starts, that
the spider can run: its arguments and the settings/credentials it needs. ``scrapy crawl``
calls it and turns a ``SpiderArgumentError`` into a one-line error and exit status 2.
Subclasses extend it (Kaggle: credentials; portal: the browser).

Helpers: ``self.terms`` (the terms to search), ``self.take(records)`` (applies
``max_records``), ``self.wants_more`` (False once the limit is reached),
``self.skip_unreadable(response, problems)`` (log and count entries a page could not
read), ``self.retry_malformed(response, error)`` (re-fetch an API page that was not the JSON
expected, then give up with a logged error and a counter — the crawl goes on).
Incremental crawling (skip unchanged records) is done by ``IncrementalMiddleware``:
mark detail requests with ``meta["envision_record"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Response
from scrapy.settings import BaseSettings

from envision_spiders.queries import SEARCH_TERMS


class SpiderArgumentError(ValueError):
    pass


def parse_since(value: str | None) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SpiderArgumentError(f"since={value!r} is not a date in YYYY-MM-DD form") from None


def parse_max_records(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SpiderArgumentError(f"max_records={value!r} is not a whole number") from None
    if number < 1:
        raise SpiderArgumentError(f"max_records={value!r} must be at least 1")
    return number


class EnvisionSpider(scrapy.Spider):
    api_url_setting: str = ""

    def __init__(
        self,
        *args: Any,
        query: str | None = None,
        max_records: Any = None,
        since: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if query is not None and not str(query).strip():
            raise SpiderArgumentError("query is empty")
        self.query = str(query).strip() if query else None
        self.max_records = parse_max_records(max_records)
        self.since = parse_since(since)
        self.records_emitted = 0
        self.api_url = ""

    @classmethod
    def preflight(cls, settings: BaseSettings, **arguments: Any) -> None:
        """Raise SpiderArgumentError when this spider cannot start with these arguments/settings."""
        if arguments.get("query") is not None and not str(arguments["query"]).strip():
            raise SpiderArgumentError("query is empty")
        parse_max_records(arguments.get("max_records"))
        parse_since(arguments.get("since"))
        if cls.api_url_setting and not settings.get(cls.api_url_setting):
            raise SpiderArgumentError(f"setting {cls.api_url_setting} is empty")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> EnvisionSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if cls.api_url_setting:
            api_url = crawler.settings.get(cls.api_url_setting)
            if not api_url:
                raise SpiderArgumentError(f"setting {cls.api_url_setting} is empty")
            spider.api_url = str(api_url).rstrip("/")
        return spider

    @property
    def terms(self) -> list[str]:
        return [self.query] if self.query else list(SEARCH_TERMS)

    @property
    def wants_more(self) -> bool:
        return self.max_records is None or self.records_emitted < self.max_records

    def take(self, records: Iterable[Any]) -> Iterator[Any]:
        for record in records:
            if not self.wants_more:
                self.crawler.stats.inc_value("envision/spider/max_records_reached")
                return
            self.records_emitted += 1
            yield record

    def skip_unreadable(self, response: Response, problems: Iterable[str], what: str = "hit") -> None:
        """Log and count (``envision/<spider>/unreadable_<what>s``) entries a page object could not read."""
        for problem in problems:
            self.crawler.stats.inc_value(f"envision/{self.name}/unreadable_{what}s")
            self.logger.warning("Skipping a %s of %s: %s", what, response.url, problem)

    def retry_malformed(self, response: Response, error: Exception) -> scrapy.Request | None:
        """A retry of a page that was not the JSON expected, or None (logged, counted) to give up."""
        self.crawler.stats.inc_value(f"envision/pages/malformed/{self.name}")
        retry = get_retry_request(
            response.request,
            spider=self,
            reason="malformed_page",
            max_retry_times=self.settings.getint("ENVISION_MALFORMED_RETRIES"),
            stats_base_key="envision/pages/malformed_retry",
        )
        if retry is None:
            self.crawler.stats.inc_value(f"envision/pages/malformed_given_up/{self.name}")
            self.logger.error("Giving up on a malformed page: %s", error)
        else:
            self.logger.warning("Malformed page, fetching it again: %s", error)
        return retry

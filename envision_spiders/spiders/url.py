"""Any dataset URL or DOI in, at most one record out: ``-a url=URL`` or ``-a urls=FILE`` (one
URL or DOI per line, ``#`` comments; default: the file in ``ENVISION_INGEST_URLS``).

What each input is: ``envision_spiders.ingest.route``; how it is read (the source spiders'
own requests and page objects, DataCite, Crossref, the DOI resolver, GitHub, HEAD for files
and pages) and the per-input summary: the base ``bases.ingest.IngestSpider``
(docs/url-ingest.md). Incremental skipping is off: every input is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from envision_spiders.bases.ingest import IngestSpider
from envision_spiders.bases.spider import SpiderArgumentError, politeness
from envision_spiders.ingest.route import InputError, read_inputs, route


class UrlSpider(IngestSpider):
    name = "url"
    custom_settings = {**politeness(1.0, per_domain=2), "ENVISION_INCREMENTAL": False}

    def __init__(self, *args: Any, url: str | None = None, urls: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arguments = {"url": url, "urls": urls}
        self.inputs: list[str] = []

    @staticmethod
    def read_arguments(settings: BaseSettings, url: str | None = None, urls: str | None = None, **_: Any) -> list[str]:
        if url and urls:
            raise SpiderArgumentError("give -a url=URL or -a urls=FILE, not both")
        if url:
            try:
                route(url)
            except InputError as exc:
                raise SpiderArgumentError(f"url: {exc}") from None
            return [url.strip()]
        path = urls or settings.get("ENVISION_INGEST_URLS")
        if not path:
            raise SpiderArgumentError("give -a url=URL (a dataset URL or DOI) or -a urls=FILE (one per line)")
        try:
            inputs = read_inputs(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise SpiderArgumentError(f"urls={path!r} cannot be read: {exc}") from None
        if not inputs:
            raise SpiderArgumentError(f"urls={path!r} holds no URL or DOI")
        return inputs

    @classmethod
    def preflight(cls, settings: BaseSettings, **arguments: Any) -> None:
        super().preflight(settings, **arguments)
        cls.read_arguments(settings, **arguments)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> UrlSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.inputs = cls.read_arguments(crawler.settings, **spider.arguments)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        for text in self.inputs:
            self.expect(text)
            try:
                target = route(text, self.hosts)
            except InputError as exc:
                self.no_record(text, "invalid", str(exc))
                continue
            async for request in self.requests_for(target):
                yield request

"""Carries the URL-ingest input along the requests an input leads to, onto its record.

A request with ``meta["envision_ingest_input"]`` (set by the ``url`` spider) hands it on to
every request its callback yields (source spiders' file listings, next pages) and writes it
into ``extra["ingest_input"]`` of every record it yields, so the ``url`` spider's summary can
say which record each input gave. Inert for requests without the key (every other spider).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response

from envision_spiders.ingest.ledger import INPUT_KEY, INPUT_META
from envision_spiders.items import DatasetRecord


class IngestTrailMiddleware:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IngestTrailMiddleware:
        return cls()

    async def process_spider_output(self, response: Response, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        text = response.meta.get(INPUT_META) if response is not None else None
        async for out in result:
            if text is not None:
                if isinstance(out, Request):
                    out.meta.setdefault(INPUT_META, text)
                elif isinstance(out, DatasetRecord):
                    out.extra.setdefault(INPUT_KEY, text)
            yield out

"""Incremental crawls: records unchanged since they were stored are neither fetched nor processed.

A spider marks what it yields with the record's identity and ``modified`` stamp:
- a detail/file-list Request carries ``meta["envision_record"] = {"source", "source_id", "modified"}``;
- a DatasetRecord item carries its own ``source``, ``source_id`` and ``modified``.
When the state says that record was stored (or found a duplicate) with the same ``modified``,
and its file is still in the store, the request or item is dropped here and counted in
``envision/incremental/unchanged``. Records without a ``modified`` stamp, records stored
while the classifier failed on them (still owed a label), and records stored but not yet in
any feed (a killed crawl's exporter buffer; ``envision/incremental/undelivered``) are always
processed.
Turn off with ``ENVISION_INCREMENTAL = False`` (a full re-crawl).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from envision_spiders.items import field_value, record_owner
from envision_spiders.state.db import state_for_crawler
from envision_spiders.state.store import RecordBackend, StoreConfig, records_for_crawler


class IncrementalMiddleware:
    def __init__(self, crawler: Crawler, store: StoreConfig) -> None:
        self.crawler = crawler
        self.store = store
        self.stats = crawler.stats
        self._records: RecordBackend | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalMiddleware:
        if not crawler.settings.getbool("ENVISION_INCREMENTAL"):
            raise NotConfigured("ENVISION_INCREMENTAL is off: every record is processed")
        return cls(crawler, StoreConfig.from_settings(crawler.settings))

    def is_unchanged(self, source: str, source_id: str, modified: str | None) -> bool:
        if not modified:
            return False
        known = state_for_crawler(self.crawler).lookup(source, str(source_id))
        if known is None or known["modified"] != modified or known["unclassified"]:
            return False
        if known["undelivered"]:  # stored, never reached a feed: emit it again
            self.stats.inc_value("envision/incremental/undelivered")
            return False
        if known["duplicate_of"]:
            return True
        if not known["stored_at"]:
            return False
        if self._records is None:
            self._records = records_for_crawler(self.crawler, self.store)
        return self._records.exists((source, str(source_id)))

    def _keep(self, result: Any) -> bool:
        if isinstance(result, Request):
            ident = result.meta.get("envision_record")
            if not ident:
                return True
            unchanged = self.is_unchanged(ident["source"], ident["source_id"], ident.get("modified"))
        else:
            owner = record_owner(result)  # None for what is not a record (no source/source_id)
            if owner is None:
                return True
            unchanged = self.is_unchanged(*owner, field_value(result, "modified"))
        if unchanged:
            self.stats.inc_value("envision/incremental/unchanged")
        return not unchanged

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        async for item_or_request in result:
            if self._keep(item_or_request):
                yield item_or_request

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item_or_request in start:
            if self._keep(item_or_request):
                yield item_or_request

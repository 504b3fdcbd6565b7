"""The internal spider behind ``scrapy download``: stored records become items again, for
GatedFilesPipeline only. It lives outside ``spiders/`` on purpose: it is no source, so
``scrapy list`` does not show it.

Its items come from ``start()``, not from responses, so the end of the last item's downloads
wakes nothing in the engine: Scrapy would notice the crawl is idle only at its next heartbeat
(up to 5 s later, measured as the largest piece of a short run's wall time). Once every
record read has left the pipelines, the spider schedules the empty ``data:,`` request, whose
completion makes the engine check at once that it is idle and close.

With ``ENVISION_DOWNLOAD_SHARES`` (``scrapy download --processes N``) the spider claims each record
just before it offers it (downloads/shares.py), and keeps only about FILES_AHEAD_PER_REQUEST files
per request it may have in flight in the pipeline: the records it has not claimed yet stay free
for a process that runs out of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from envision_spiders.downloads.shares import claim, claim_order, read_share
from envision_spiders.downloads.takeover import takeover_for_crawler
from envision_spiders.items import RECORD_FIELDS, DatasetRecord
from envision_spiders.state.store import StoreConfig, open_records, stored_records

FILES_PIPELINE = "envision_spiders.pipelines.files.GatedFilesPipeline"
# with shares: files of claimed records in the pipeline per file request in flight
# (ENVISION_DOWNLOAD_CONCURRENCY), enough to keep the requests busy while a record ends; 2,000
# small files, 2 processes, 8 runs each on a loaded machine: 1 and 2 as fast, 4 ~1 s slower
# (more records left with a slow process at the end)
FILES_AHEAD_PER_REQUEST = 2


def listed_files(item: Any) -> int:
    files = ItemAdapter(item).get("files")
    return len(files) if isinstance(files, list) else 0


def stored_record_item(record: dict[str, Any]) -> DatasetRecord:
    """A stored JSON record as a DatasetRecord (unknown keys from other versions are dropped)."""
    return DatasetRecord(**{k: v for k, v in record.items() if k in RECORD_FIELDS})


class StoredRecordsSpider(scrapy.Spider):
    name = "stored-records"
    custom_settings = {
        "ITEM_PIPELINES": {FILES_PIPELINE: 900},  # no dedup/classifier/store: the records are stored
        # no page objects here (scrapy-poet's per-request injection is pure overhead); the
        # User-Agent still names the contact
        "ADDONS": {"envision_spiders.middlewares.contact.ContactAddon": 100},
        "SPIDER_MIDDLEWARES": {},
        "FEEDS": {},
        "ENVISION_FEEDS": {},
        "ENVISION_DOWNLOAD": True,
    }

    def __init__(self, *args: Any, sources: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sources = sources or None
        self._in_pipelines = 0
        self._read_all = False
        self._records_in_flight = 0  # records in the pipeline at once, from the settings in from_crawler; 0 = no bound
        self._files_in_pipelines = 0
        self._files_ahead = 0  # files listed by the records in the pipeline at once (with shares); 0 = no bound
        self._slot_freed: asyncio.Event | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> StoredRecordsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(spider._item_left, signal=signal)
        settings = crawler.settings
        spider._records_in_flight = settings.getint("ENVISION_DOWNLOAD_RECORDS_IN_FLIGHT")
        if not spider._records_in_flight and settings.get("ENVISION_STATE_URL"):
            # a shared state means other nodes: lease no more records than this node downloads at
            # once. On one machine (the embedded state) no bound, as before: a bound of 16 cost
            # 0.2-0.8 s of a ~4.2 s run of 2,000 small files
            spider._records_in_flight = settings.getint("ENVISION_DOWNLOAD_CONCURRENCY")
        if settings.get("ENVISION_DOWNLOAD_SHARES"):
            spider._files_ahead = FILES_AHEAD_PER_REQUEST * max(1, settings.getint("ENVISION_DOWNLOAD_CONCURRENCY"))
        return spider

    def _item_left(self, item: Any = None) -> None:
        self._in_pipelines -= 1
        self._files_in_pipelines -= listed_files(item) if item is not None else 0
        if self._slot_freed is not None:
            self._slot_freed.set()
        if item is not None:  # a revisited record the pipeline never answered is not waited for again
            adapter = ItemAdapter(item)
            takeover_for_crawler(self.crawler).settled(f"{adapter.get('source')}:{adapter.get('source_id')}")
        self._wake_when_done()

    def _wake_when_done(self) -> None:
        if self._read_all and self._in_pipelines == 0:
            self.crawler.engine.crawl(scrapy.Request("data:,", callback=self._done, dont_filter=True))

    def _done(self, response: Response) -> list[Any]:
        return []

    def _full(self) -> bool:
        return bool((self._records_in_flight and self._in_pipelines >= self._records_in_flight)
                    or (self._files_ahead and self._files_in_pipelines >= self._files_ahead))

    async def _room(self) -> None:
        """Wait until fewer than ENVISION_DOWNLOAD_RECORDS_IN_FLIGHT records (and, with shares,
        fewer files than the files ahead) are in the pipeline. A record's lock (and lease) is
        taken when it enters the pipeline, so without this bound one node would lease every
        record at once and leave nothing for the other nodes."""
        if self._slot_freed is None:
            self._slot_freed = asyncio.Event()
        while self._full():
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def _entering(self, item: Any) -> Any:
        self._in_pipelines += 1
        self._files_in_pipelines += listed_files(item)
        return item

    async def start(self) -> AsyncIterator[Any]:
        takeover = takeover_for_crawler(self.crawler)
        async for item in self._records():
            yield self._entering(item)
        # records another node or process held: offered to the pipeline again until it locks
        # them, they complete elsewhere or the wait runs out (downloads/takeover.py); start()
        # stays open meanwhile, which keeps the engine from closing the spider
        if takeover.enabled:
            async for item in takeover.revisit(lambda: self._in_pipelines > 0):
                await self._room()
                yield self._entering(item)
        self._read_all = True
        self._wake_when_done()

    def _stored(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The stored records to offer: all of them (``--source`` aside), or with
        ENVISION_DOWNLOAD_RECORDS only that share's, read by name in name order (the other
        processes of ``scrapy download --processes N`` have the rest: none of them parses the
        whole store again); with ENVISION_DOWNLOAD_SHARES, its share's as dealt, then the other
        shares' unclaimed ones, each claimed before it is read (:meth:`_claimed`)."""
        share_file = self.settings.get("ENVISION_DOWNLOAD_RECORDS")
        if not share_file:
            yield from stored_records(self.settings, self.sources)
            return
        backend = open_records(StoreConfig.from_settings(self.settings))
        shares = self.settings.get("ENVISION_DOWNLOAD_SHARES")
        owners = self._claimed(Path(shares), Path(share_file)) if shares else sorted(read_share(share_file))
        for owner in owners:
            where = f"{owner[0]}:{owner[1]}"
            try:
                record = backend.get(owner)
            except Exception as exc:  # noqa: BLE001  gone or unreadable since it was dealt (file or object store)
                self.crawler.stats.inc_value("envision/download/stored/unreadable")
                self.logger.error("cannot read stored record %s: %s", where, exc)
                continue
            yield where, record

    def _claimed(self, folder: Path, own: Path) -> Iterator[tuple[str, str]]:
        """The records this process claims, in claim order (downloads/shares.py); one claimed by
        another process is skipped, one taken from another share is counted."""
        for name, owner, mine in claim_order(folder, own):
            if claim(folder, name):
                if not mine:
                    self.crawler.stats.inc_value("envision/download/stored/from_other_shares")
                yield owner

    async def _records(self) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        stored = self._stored()
        while True:
            await self._room()  # first: with shares, a record is claimed only when this process can take it
            entry = next(stored, None)
            if entry is None:
                return
            path, record = entry
            stats.inc_value("envision/download/stored/read")
            if record.get("duplicate_of"):
                stats.inc_value("envision/download/stored/duplicates_skipped")
                continue
            try:
                yield stored_record_item(record)
            except (TypeError, ValueError) as exc:
                stats.inc_value("envision/download/stored/unreadable")
                self.logger.error("cannot read stored record %s: %s", path, exc)

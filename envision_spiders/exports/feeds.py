"""Feed export helpers referenced from the FEEDS setting, the JSON-lines exporter, and the feeds'
delivery bookkeeping.

``RecordJsonLinesExporter`` (``FEED_EXPORTERS["jsonlines"]``: the portal feeds, ``-o x.jsonl``,
scrapyd's item files) writes a record as one line of JSON in field order, as Scrapy's exporter
does, through ``jsoncodec.json_line`` and without Scrapy's per-field steps (an ItemAdapter, the
field's metadata and a serializer call per field: ~45 µs a record, more than the encoding).
Anything else — another item type, ``fields_to_export``, an encoding other than UTF-8,
encoder options, a field serializer — goes through Scrapy's exporter unchanged.

``FeedDelivery`` makes the feeds durable across a killed crawl; ``DeliveringFeedExporter`` (Scrapy's
feed exporter, in its place in ``EXTENSIONS_BASE``) builds it and calls it from its own
``item_scraped``. The store writes a record before the feed exporter sees it, and Scrapy's
exporter buffers lines until the feed closes: a SIGKILL used to leave records stored (so the
next run skipped them as unchanged) but in no feed. Now the store marks each record it writes
as owed to the feeds (state table ``undelivered``, same transaction as the file), and
``FeedDelivery`` settles it:
- local file feeds (the portal's ``feeds/{source}/*.jsonl``, ``-o``/``-O`` files) are flushed
  and their records marked delivered in small batches (``ENVISION_FEED_DELIVERY_BATCH`` items
  or ``ENVISION_FEED_DELIVERY_SECONDS``, whichever comes first; the rest at close) — a mark
  always follows the flush of the lines it covers, so a kill can only repeat lines, never lose
  them;
- any other storage (S3, FTP, post-processing such as gzip) delivers at close: the records are
  marked delivered when every feed closed without a storage error
  (``feedexport/failed_count/*``), else they stay owed and an ERROR says how many.
The incremental middleware does not skip an owed record, so the next run emits it again
(``envision/incremental/undelivered``). Delivery is at least once: a kill between the feed's
flush and the mark repeats the lines of that batch in the next run's feed. Records owed when a crawl starts
are counted in ``envision/feeds/owed_at_start``. Off with ``ENVISION_FEED_DELIVERY = False``
(or with no feed at all: nothing is owed then).
"""

from __future__ import annotations

import codecs
import os
import time
from typing import IO, Any

import attrs
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exporters import JsonLinesItemExporter
from scrapy.extensions.feedexport import FeedExporter, FileFeedStorage, ItemFilter

from envision_spiders.items import DatasetRecord, field_value, record_owner, record_to_dict
from envision_spiders.jsoncodec import json_line
from envision_spiders.state.db import Owner, state_for_crawler
from envision_spiders.state.store import feed_delivery_tracked

EYE_IMAGING = "EYE_IMAGING"


class EyeImagingFilter(ItemFilter):
    """Lets through the records the classifier labelled EYE_IMAGING."""

    def accepts(self, item: Any) -> bool:
        return field_value(item, "label") == EYE_IMAGING


# a serializer in a field's metadata is Scrapy's to apply: the direct path is for records without one
_RECORD_SERIALIZERS = any("serializer" in f.metadata for f in attrs.fields(DatasetRecord))


class RecordJsonLinesExporter(JsonLinesItemExporter):
    """Scrapy's JSON-lines exporter, with a DatasetRecord written directly (module docstring)."""

    def __init__(self, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._direct = (
            not _RECORD_SERIALIZERS
            and self.fields_to_export is None
            and self._kwargs == {"ensure_ascii": False}  # no encoder option but the one utf-8 implies
            and codecs.lookup(self.encoding or "ascii").name == "utf-8"
        )

    def export_item(self, item: Any) -> None:
        if self._direct and type(item) is DatasetRecord:
            self.file.write(json_line(record_to_dict(item), default=self.encoder.default))
        else:
            super().export_item(item)


def uri_params(params: dict[str, Any], spider: Any) -> dict[str, Any]:
    """Adds ``%(data_dir)s`` (ENVISION_DATA_DIR) and ``%(store)s`` (ENVISION_STORE_URL without
    its trailing ``/``, else ENVISION_DATA_DIR) to feed URIs, so the portal feeds follow the
    record store: local files, or objects written by Scrapy's S3 feed storage."""
    params["data_dir"] = spider.settings.get("ENVISION_DATA_DIR")
    params["store"] = (spider.settings.get("ENVISION_STORE_URL") or "").rstrip("/") or params["data_dir"]
    return params


class PortalFeedsAddon:
    """Merges ``ENVISION_FEEDS`` (the portal's feeds) into ``FEEDS``.

    ``-o``/``-O`` and scrapyd's ``items_dir`` set ``FEEDS`` on the command line, which would
    replace the portal feeds; merged here, they add their outputs instead. Turn the portal
    feeds off with ``-s ENVISION_FEEDS={}``.
    """

    def update_settings(self, settings: Any) -> None:
        portal_feeds = settings.getdict("ENVISION_FEEDS")
        if not portal_feeds:
            return
        feeds = {**portal_feeds, **settings.getdict("FEEDS")}
        settings.set("FEEDS", feeds, priority=settings.getpriority("FEEDS") or "addon")


class DeliveringFeedExporter(FeedExporter):
    """Scrapy's feed exporter (in its place in ``EXTENSIONS_BASE``), whose ``item_scraped`` also
    does ``FeedDelivery``'s bookkeeping once the item's lines are written. One receiver instead
    of two: Scrapy dispatches ``item_scraped`` to each receiver through a task of its own and
    ``robustApply`` (~17 µs a receiver and item here, more than writing the line)."""

    delivery: FeedDelivery | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DeliveringFeedExporter:
        exporter = super().from_crawler(crawler)  # NotConfigured without any feed
        if feed_delivery_tracked(crawler.settings):
            exporter.delivery = FeedDelivery.from_crawler(crawler, exporter)
        return exporter

    def item_scraped(self, item: Any, spider: Spider) -> None:
        super().item_scraped(item, spider)
        if self.delivery is not None:  # after the lines: a record counts once its feeds have it
            self.delivery.item_scraped(item)


class FeedDelivery:
    """Marks stored records delivered once a feed has them (see the module docstring). Built and
    called by ``DeliveringFeedExporter``, whose feeds it settles."""

    def __init__(self, crawler: Crawler, exporter: FeedExporter) -> None:
        self.crawler = crawler
        self.exporter = exporter
        self.stats = crawler.stats
        self.fsync = crawler.settings.getbool("ENVISION_STORE_FSYNC")
        self.batch_size = max(1, crawler.settings.getint("ENVISION_FEED_DELIVERY_BATCH"))
        self.batch_seconds = crawler.settings.getfloat("ENVISION_FEED_DELIVERY_SECONDS")
        self.pending: list[Owner] = []  # scraped, not yet marked delivered
        self._batch_started = time.monotonic()
        self._line_by_line: bool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, exporter: FeedExporter) -> FeedDelivery:
        delivery = cls(crawler, exporter)
        crawler.signals.connect(delivery.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(delivery.feed_exporter_closed, signal=signals.feed_exporter_closed)
        return delivery

    def spider_opened(self, spider: Spider) -> None:
        owed = len(state_for_crawler(self.crawler).undelivered(spider.name))
        if owed:
            self.stats.set_value("envision/feeds/owed_at_start", owed)
            spider.logger.info("%d record(s) stored by an earlier run never reached a feed: emitted again when met", owed)

    def _slots(self) -> list[Any]:
        # FeedExporter keeps its open feeds in ``slots`` (one per feed and batch)
        return list(getattr(self.exporter, "slots", []) or [])

    def line_by_line(self) -> bool:
        """Every feed is a local file without post-processing: a flushed line is delivered."""
        if self._line_by_line is None:
            slots = self._slots()
            self._line_by_line = bool(slots) and all(
                isinstance(slot.storage, FileFeedStorage) and not slot.feed_options.get("postprocessing")
                for slot in slots
            )
        return self._line_by_line

    def item_scraped(self, item: Any) -> None:
        owner = record_owner(item)
        if owner is None:
            return
        if not self.pending:
            self._batch_started = time.monotonic()
        self.pending.append(owner)
        if self.line_by_line() and (
            len(self.pending) >= self.batch_size or time.monotonic() - self._batch_started >= self.batch_seconds
        ):
            # one flush and one state transaction per batch, not per line (the crawl's hot path)
            for slot in self._slots():
                if slot.file is not None and not slot.file.closed:
                    slot.file.flush()
                    if self.fsync:
                        os.fsync(slot.file.fileno())
            state_for_crawler(self.crawler).mark_delivered(self.pending)
            self.stats.inc_value("envision/feeds/delivered", len(self.pending))
            self.pending = []

    def feed_exporter_closed(self) -> None:
        if not self.pending:
            return
        failed = sum(v for k, v in self.stats.get_stats().items() if k.startswith("feedexport/failed_count/"))
        if failed:
            self.stats.set_value("envision/feeds/undelivered", len(self.pending))
            self.crawler.spider.logger.error(
                "%d feed(s) could not be stored: %d record(s) stay owed and are emitted again by the next run",
                failed, len(self.pending),
            )
            return
        state_for_crawler(self.crawler).mark_delivered(self.pending)
        self.stats.inc_value("envision/feeds/delivered", len(self.pending))
        self.pending = []

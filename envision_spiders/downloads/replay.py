"""The internal spider behind ``scrapy download``: stored records become items again, for
GatedFilesPipeline only. It lives outside ``spiders/`` on purpose: it is no source, so
``scrapy list`` does not show it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy

from envision_spiders.items import RECORD_FIELDS, DatasetRecord
from envision_spiders.state.store import iter_stored_records

FILES_PIPELINE = "envision_spiders.pipelines.files.GatedFilesPipeline"


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

    async def start(self) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        for path, record in iter_stored_records(self.settings.get("ENVISION_DATA_DIR"), self.sources):
            stats.inc_value("envision/download/stored/read")
            if record.get("duplicate_of"):
                stats.inc_value("envision/download/stored/duplicates_skipped")
                continue
            try:
                yield stored_record_item(record)
            except (TypeError, ValueError) as exc:
                stats.inc_value("envision/download/stored/unreadable")
                self.logger.error("cannot read stored record %s: %s", path, exc)

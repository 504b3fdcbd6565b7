"""The per-record JSON store (``metadata/{source}/{source_id}.json`` under ``ENVISION_DATA_DIR``,
or under ``ENVISION_STORE_URL`` when that is ``s3://bucket/prefix``).

Written atomically through ``state.store.RecordStore`` (the one writer of those files), then
recorded in the state with the record's ``modified`` stamp, so a crawl killed at any point
resumes with every record stored exactly once, and a later crawl skips what did not change.
A record whose DOIs a better record claimed while it was in flight is stored as a copy
(``duplicate_of``, ``envision/store/superseded_in_flight``). The records that reach the pipeline
together are written in one state transaction (``state.batch.GroupCommit``); each is
acknowledged (passed on, counted in ``envision/store/written``) once that transaction committed.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from envision_spiders.doi import record_dois
from envision_spiders.items import record_to_dict
from envision_spiders.jsoncodec import discard_staged
from envision_spiders.state.batch import GroupCommit, group_commit_for_crawler
from envision_spiders.state.db import format_owner, state_for_crawler
from envision_spiders.state.store import FileStager, RecordStore, StoreConfig, record_bytes, records_for_crawler


def utc_now_iso() -> str:
    """The current UTC second in ISO form (``2026-12-05T10:30:00+00:00``)."""
    return _iso_second(int(time.time()))


@functools.lru_cache(maxsize=1)
def _iso_second(second: int) -> str:
    # formatted once a second, not for every stored record (~1.5 µs each with datetime)
    return datetime.fromtimestamp(second, UTC).isoformat()


class StorePipeline:
    def __init__(self, crawler: Crawler, config: StoreConfig) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.config = config
        self._records: RecordStore | None = None
        self._commits: GroupCommit | None = None
        self.stager = FileStager(config.fsync_threads, barrier=config.fsync_barrier)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler, StoreConfig.from_settings(crawler.settings))

    @property
    def records(self) -> RecordStore:
        # the state DB opens on first use (it is shared by the crawl's components)
        if self._records is None:
            self._records = RecordStore(
                self.config, state_for_crawler(self.crawler), records_for_crawler(self.crawler, self.config)
            )
        return self._records

    @property
    def commits(self) -> GroupCommit:
        if self._commits is None:
            self._commits = group_commit_for_crawler(self.crawler)
        return self._commits

    def close_spider(self) -> None:
        self.stager.close()

    async def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        now = utc_now_iso()
        if not adapter.get("scraped_at"):
            adapter["scraped_at"] = now
        record = record_to_dict(item)
        dois = record_dois(adapter)
        records = self.records
        staged = None
        if self.config.fsync and records.stages_files:
            # The fsync (0.5-5 ms) runs in a worker thread, on a file written as the state says
            # the record will be stored (encoded here: JSON under the GIL stays on this thread);
            # the store then renames it into place under the state lock, or writes it anew when
            # a claim changed the answer meanwhile. The fsyncs of records in flight overlap, and
            # the reactor never waits on the disk. Without fsync the write is cheaper than the
            # hand-off to a thread, so it stays inline (and an object store's PUT is one call).
            staged = records.preview(record)
            staged.tmp = await self.stager.stage(staged.path, record_bytes(staged.record))
        try:
            canonical = await self.commits.run(
                functools.partial(records.write, record, dois, adapter.get("modified"), now, staged=staged)
            )
        finally:
            if staged is not None and staged.tmp is not None:  # its transaction never began (StateBusy)
                discard_staged(staged.tmp)
        if record.get("doi") and not adapter.get("doi"):  # a DOI adopted from a losing copy (dedup)
            adapter["doi"] = record["doi"]
        if canonical:
            adapter["duplicate_of"] = format_owner(canonical)
            self.stats.inc_value("envision/store/superseded_in_flight")
        self.stats.inc_value("envision/store/written")
        self.stats.inc_value(f"envision/store/written/{adapter['source']}")
        return item

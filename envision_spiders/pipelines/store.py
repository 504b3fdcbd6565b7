"""The per-record JSON store (``{ENVISION_DATA_DIR}/metadata/{source}/{source_id}.json``).

Written atomically, then recorded in the state with the record's ``modified`` stamp, so a
crawl killed at any point resumes with every record stored exactly once, and a later
crawl skips what did not change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from envision_spiders.items import record_to_dict
from envision_spiders.pipelines.dedup import record_dois
from envision_spiders.state.db import format_owner, state_for_crawler
from envision_spiders.state.store import record_path, write_json_atomic


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class StorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.data_dir = Path(crawler.settings.get("ENVISION_DATA_DIR"))
        self.fsync = crawler.settings.getbool("ENVISION_STORE_FSYNC")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        now = utc_now_iso()
        if not adapter.get("scraped_at"):
            adapter["scraped_at"] = now
        source, source_id = adapter["source"], str(adapter["source_id"])
        path = record_path(self.data_dir, source, source_id)
        state = state_for_crawler(self.crawler)
        # A better record of the same dataset may have claimed its DOIs while this one waited in
        # inspection or classification (another crawl, or another spider of crawlall). Decide and
        # write under the state's write lock, so the superseding side either sees this file
        # (and marks it) or this side sees its claim.
        with state.immediate():
            owners = state.other_owners(record_dois(adapter), (source, source_id))
            if owners:
                adapter["duplicate_of"] = format_owner(owners[0])
            write_json_atomic(path, record_to_dict(item), fsync=self.fsync)
            if owners:
                state.mark_duplicate(source, source_id, adapter.get("modified"), owners[0])
                self.stats.inc_value("envision/store/superseded_in_flight")
            else:
                state.mark_stored(source, source_id, adapter.get("modified"), adapter.get("doi"), now)
        self.stats.inc_value("envision/store/written")
        self.stats.inc_value(f"envision/store/written/{source}")
        return item

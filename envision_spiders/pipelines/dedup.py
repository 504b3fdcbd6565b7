"""Dedup by DOI: one canonical record per dataset, whatever order the crawls run in.

A record claims its normalised DOI and the DOI of the concept it is a version of
(``version_of``), plus any ``extra["alternate_dois"]`` the spider found (e.g. DataCite's
IsIdenticalTo). Claims live in the shared state, so the rule holds across sources,
processes and runs. The lowest rank wins:

1. repository-native before aggregator (ENVISION_AGGREGATOR_SOURCES, e.g. DataCite);
2. latest version before older (``extra["version_order"]``: bigger = newer; then the later
   ``publication_date``);
3. source name, then source_id: a deterministic tie-break.

The loser is dropped with a reason (``envision/dedup/dropped``); a record that loses to one
arriving later is marked in the store with ``duplicate_of`` (``envision/dedup/superseded``).
Records with no DOI pass through (``envision/dedup/no_doi``). A record met again in the
same run (one record matching several query groups) is dropped quietly
(``envision/dedup/repeat_in_run``), so a run's feed has one line per record.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from envision_spiders.doi import normalize_doi, strip_version_suffix
from envision_spiders.state.db import Owner, format_owner, state_for_crawler
from envision_spiders.state.store import load_record, record_path, write_json_atomic

logger = logging.getLogger(__name__)


def record_dois(adapter: ItemAdapter) -> list[str]:
    """The DOIs that identify this record's dataset, normalised."""
    candidates = [adapter.get("doi"), adapter.get("version_of")]
    candidates += (adapter.get("extra") or {}).get("alternate_dois", [])
    dois = []
    for value in candidates:
        doi = normalize_doi(value) if value else None
        if doi:
            dois.append(doi)
            bare = strip_version_suffix(doi)
            if bare != doi:
                dois.append(bare)
    return sorted(set(dois))


def _date_ordinal(value: str | None) -> int:
    digits = "".join(ch for ch in (value or "")[:10] if ch.isdigit())
    return int(digits) if len(digits) == 8 else 0


def rank_of(adapter: ItemAdapter, aggregators: frozenset[str]) -> list[Any]:
    """Sort key of a record among records of one dataset: lower is more canonical."""
    source = adapter["source"]
    version_order = (adapter.get("extra") or {}).get("version_order") or 0
    return [
        1 if source in aggregators else 0,
        -float(version_order),
        -_date_ordinal(adapter.get("publication_date")),
        source,
        str(adapter["source_id"]),
    ]


class DedupPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.aggregators = frozenset(crawler.settings.getlist("ENVISION_AGGREGATOR_SOURCES"))
        self.data_dir = Path(crawler.settings.get("ENVISION_DATA_DIR"))
        self.fsync = crawler.settings.getbool("ENVISION_STORE_FSYNC")
        self.seen_this_run: set[Owner] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        me: Owner = (adapter["source"], str(adapter["source_id"]))
        if me in self.seen_this_run:
            self.stats.inc_value("envision/dedup/repeat_in_run")
            raise DropItem(f"{format_owner(me)} already processed in this run", log_level="DEBUG")
        self.seen_this_run.add(me)
        dois = record_dois(adapter)
        if not dois:
            self.stats.inc_value("envision/dedup/no_doi")
            return item
        state = state_for_crawler(self.crawler)
        result = state.claim(dois, me, rank_of(adapter, self.aggregators))
        for loser in result.superseded:
            self._mark_superseded(loser, result.canonical)
        if result.canonical != me:
            state.mark_duplicate(*me, adapter.get("modified"), result.canonical)
            self.stats.inc_value("envision/dedup/dropped")
            self.stats.inc_value(f"envision/dedup/dropped/{adapter['source']}")
            raise DropItem(
                f"duplicate DOI {dois[0]}: {format_owner(me)} is a copy of {format_owner(result.canonical)}",
                log_level="INFO",
            )
        self.stats.inc_value("envision/dedup/canonical")
        return item

    def _mark_superseded(self, loser: Owner, canonical: Owner) -> None:
        """A record stored earlier lost to this one: say so in its stored file (and in the files of
        the records that were copies of it), keep their data."""
        state = state_for_crawler(self.crawler)
        known = state.lookup(*loser)
        state.mark_duplicate(*loser, known["modified"] if known else None, canonical)
        self.stats.inc_value("envision/dedup/superseded")
        self.crawler.spider.logger.info(
            "%s supersedes %s (same dataset)", format_owner(canonical), format_owner(loser)
        )
        for owner in [loser, *state.reassign_duplicates(loser, canonical)]:
            path = record_path(self.data_dir, *owner)
            if path.exists():
                record = load_record(path)
                record["duplicate_of"] = format_owner(canonical)
                write_json_atomic(path, record, fsync=self.fsync)

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
Dedup decides, the record store writes: the claim and the rewrite of the superseded records'
files happen in one state transaction, so no other crawl can store a newer version of a
loser between them and have it overwritten. The claims of records arriving together (a search
page's) share that transaction, each in a savepoint of its own (``state.batch.GroupCommit``); a
record goes on only once it has committed.
The canonical record keeps the best identifiers: when it has no ``doi`` of its own (an OSF
node whose DOI only DataCite's record states) it adopts the ``doi`` of the copy that lost to
it (``envision/dedup/doi_adopted``): the adoption is kept in the state, so every store of the
canonical record carries it; a canonical record already stored is rewritten with the DOI and
owed to the feeds again (its next crawl emits it with the DOI).
A dropped copy is owed to no feed (its ``undelivered`` mark, if any, is cleared).
Records with no DOI pass through (``envision/dedup/no_doi``). A record met again in the
same run (one record matching several query groups) is dropped quietly
(``envision/dedup/repeat_in_run``), so a run's feed has one line per record.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from envision_spiders.doi import normalize_doi, record_dois
from envision_spiders.state.batch import GroupCommit, group_commit_for_crawler
from envision_spiders.state.db import Owner, format_owner, state_for_crawler
from envision_spiders.state.runs import utc_now
from envision_spiders.state.store import RecordStore, StoreConfig, records_for_crawler


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


@dataclass(frozen=True)
class DedupConfig:
    """Dedup's settings, read once: ENVISION_AGGREGATOR_SOURCES and the store's."""

    aggregators: frozenset[str]
    store: StoreConfig

    @classmethod
    def from_settings(cls, settings: Any) -> DedupConfig:
        return cls(frozenset(settings.getlist("ENVISION_AGGREGATOR_SOURCES")), StoreConfig.from_settings(settings))


@dataclass
class Claimed:
    """What one record's claim decided: the canonical record, the DOI this record adopted (when it
    is canonical without one of its own), the stored records it superseded, and the DOIs adopted
    (winner, DOI, the copy it came from)."""

    canonical: Owner
    adopted: str | None
    superseded: list[Owner] = field(default_factory=list)
    adoptions: list[tuple[Owner, str, Owner]] = field(default_factory=list)


class DedupPipeline:
    def __init__(self, crawler: Crawler, config: DedupConfig) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.config = config
        self.seen_this_run: set[Owner] = set()
        self._records: RecordStore | None = None
        self._commits: GroupCommit | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        return cls(crawler, DedupConfig.from_settings(crawler.settings))

    @property
    def records(self) -> RecordStore:
        # the state DB opens on first use (it is shared by the crawl's components)
        if self._records is None:
            self._records = RecordStore(
                self.config.store, state_for_crawler(self.crawler), records_for_crawler(self.crawler, self.config.store)
            )
        return self._records

    @property
    def commits(self) -> GroupCommit:
        if self._commits is None:
            self._commits = group_commit_for_crawler(self.crawler)
        return self._commits

    async def process_item(self, item: Any) -> Any:
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
        own_doi = normalize_doi(adapter.get("doi"))
        rank = rank_of(adapter, self.config.aggregators)
        # the records of a page claim in one transaction (state/batch.py), each in its own step
        claimed = await self.commits.run(
            functools.partial(self._claim, me, dois, rank, own_doi, adapter.get("modified"))
        )
        # counted and logged once its transaction committed: a step the group commit ran again
        # (after a refused object write, or undone with its savepoint) is counted once or not at all
        for loser in claimed.superseded:
            self.stats.inc_value("envision/dedup/superseded")
            self.crawler.spider.logger.info(
                "%s supersedes %s (same dataset)", format_owner(claimed.canonical), format_owner(loser)
            )
        for winner, doi, copy in claimed.adoptions:
            self._adopted(winner, doi, copy)
        canonical, adopted = claimed.canonical, claimed.adopted
        if adopted:
            adapter["doi"] = adopted
        if canonical != me:
            self.stats.inc_value("envision/dedup/dropped")
            self.stats.inc_value(f"envision/dedup/dropped/{adapter['source']}")
            shown = own_doi or dois[0]
            raise DropItem(
                f"duplicate DOI {shown}: {format_owner(me)} is a copy of {format_owner(canonical)}",
                log_level="INFO",
            )
        self.stats.inc_value("envision/dedup/canonical")
        return item

    def _claim(
        self, me: Owner, dois: list[str], rank: list[Any], own_doi: str | None, modified: str | None
    ) -> Claimed:
        """One record's claim, inside the state transaction: the claim, the rewrite of what it
        superseded, this record's mark, and the DOI the winner adopts from the copy it beat.
        Touches no stats and logs nothing: what it did is returned for the caller to count once
        the transaction committed."""
        records = self.records
        state = records.state
        superseded: list[Owner] = []
        adoptions: list[tuple[Owner, str, Owner]] = []
        with state.immediate():
            result = state.claim(dois, me, rank)
            for loser in result.superseded:
                loser_doi = normalize_doi((state.lookup(*loser) or {}).get("doi"))
                records.supersede(loser, result.canonical)
                superseded.append(loser)
                if not own_doi and loser_doi and state.adopt_doi(me, loser_doi, loser):
                    adoptions.append((me, loser_doi, loser))
            if result.canonical != me:
                state.mark_duplicate(*me, modified, result.canonical)
                state.mark_delivered([me])  # a copy is owed to no feed
                if own_doi and records.adopt_doi(result.canonical, own_doi, me, utc_now().isoformat()):
                    adoptions.append((result.canonical, own_doi, me))
                return Claimed(result.canonical, None, superseded, adoptions)
            return Claimed(me, None if own_doi else state.adopted_doi(me), superseded, adoptions)

    def _adopted(self, canonical: Owner, doi: str, copy: Owner) -> None:
        self.stats.inc_value("envision/dedup/doi_adopted")
        self.crawler.spider.logger.info(
            "%s has no DOI of its own: it takes %s from its copy %s", format_owner(canonical), doi, format_owner(copy)
        )

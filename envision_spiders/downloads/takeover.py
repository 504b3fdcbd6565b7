"""Records held by another download, revisited after this run's own pass: the takeover of a dead node's work.

What enters: gated records GatedFilesPipeline could not lock because another holder (another node
sharing the state, or another process on this machine) has the record's ``download`` lease or
folder lock, each with a way to read the record's manifest status. What leaves: the records to
offer to the pipeline again, one poll every ``ENVISION_DOWNLOAD_TAKEOVER_POLL`` seconds, until
each record is complete (its manifest says so: the holder finished it) or the pipeline got its
lock (the holder released it, or died and its lease expired: the pipeline then resumes from what
the store already holds) or ``ENVISION_DOWNLOAD_TAKEOVER_WAIT`` seconds have passed since the
record was first found held (then it is left, as before takeover existed). Who calls it:
GatedFilesPipeline (``defer`` / ``taken``; at the end of a crawl it offers ``due()`` records itself
from the engine's idle signal) and the ``scrapy download`` spider (downloads/replay.py), which yields
``revisit()``'s records after its own; one Takeover per crawl (``takeover_for_crawler``).

``ENVISION_DOWNLOAD_TAKEOVER_WAIT = 0`` (the default) switches it off: a held record is skipped
for the rest of the run. Each record is logged once when found held and once when it leaves the
waiting list; stats ``envision/download/takeover/<event>``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class HeldRecord:
    item: Any
    is_complete: Callable[[], bool]  # the record's manifest says complete (read from the store)
    since: float  # monotonic time it was first found held
    offered: bool = False  # handed back to the pipeline, which has not answered yet


class Takeover:
    """The records of one crawl that another download holds, and the wait for them."""

    def __init__(self, wait: float, poll: float, stats: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        if wait < 0 or poll <= 0:
            raise ValueError(f"ENVISION_DOWNLOAD_TAKEOVER_WAIT ({wait}) must be >= 0 and _POLL ({poll}) > 0")
        self.wait = wait
        self.poll = poll
        self.stats = stats
        self.clock = clock
        self.held: dict[str, HeldRecord] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> Takeover:
        settings = crawler.settings
        return cls(
            settings.getfloat("ENVISION_DOWNLOAD_TAKEOVER_WAIT"),
            settings.getfloat("ENVISION_DOWNLOAD_TAKEOVER_POLL"),
            crawler.stats,
        )

    @property
    def enabled(self) -> bool:
        return self.wait > 0

    def _count(self, event: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"envision/download/takeover/{event}")

    def is_revisit(self, key: str) -> bool:
        """The pipeline is seeing ``key`` again because this Takeover offered it."""
        return key in self.held

    def defer(self, key: str, item: Any, is_complete: Callable[[], bool]) -> bool:
        """Remember a record another download holds; True the first time (the caller logs and
        counts it then, not at every poll)."""
        entry = self.held.get(key)
        if entry is not None:
            entry.offered = False
            return False
        self.held[key] = HeldRecord(item, is_complete, self.clock())
        self._count("waiting")
        logger.info("%s is held by another download: waiting up to %gs for it to finish or for its lease to expire",
                    key, self.wait)
        return True

    def taken(self, key: str) -> None:
        """The pipeline holds ``key`` now: it downloads what the holder left."""
        if self.held.pop(key, None) is not None:
            self._count("taken")
            logger.info("%s: taking over its download (the other holder finished or let its lease expire)", key)

    def dropped(self, key: str) -> None:
        """The pipeline answered a revisit without locking or deferring (e.g. a limit skipped it)."""
        self.held.pop(key, None)

    def settled(self, key: str) -> None:
        """An offered record has left the pipeline: if the pipeline neither took nor deferred it
        (an error on the way), stop waiting for it rather than wait for an answer forever."""
        entry = self.held.get(key)
        if entry is not None and entry.offered:
            del self.held[key]
            logger.warning("%s: its revisit ended without an answer from the pipeline; no longer waited for", key)

    @property
    def waiting(self) -> bool:
        return bool(self.held)

    def _settle(self, key: str, entry: HeldRecord, complete: bool) -> bool:
        """One look at a held record: True when it is to be offered to the pipeline again."""
        if complete:
            del self.held[key]
            self._count("finished_elsewhere")
            logger.info("%s: the other holder completed it; nothing to take over", key)
            return False
        if self.clock() - entry.since >= self.wait:
            del self.held[key]
            self._count("gave_up")
            logger.warning("%s: still held by another download after %gs (ENVISION_DOWNLOAD_TAKEOVER_WAIT);"
                           " left to that download", key, self.wait)
            return False
        entry.offered = True
        return True

    def due(self) -> list[Any]:
        """One look at every held record not being offered already: the records to offer to the
        pipeline now (the end of a crawl: GatedFilesPipeline's idle handler)."""
        return [entry.item for key, entry in list(self.held.items())
                if not entry.offered and self._settle(key, entry, entry.is_complete())]

    async def revisit(self, busy: Callable[[], bool]) -> AsyncIterator[Any]:
        """Yield held records for the pipeline to try again, every ``poll`` seconds, while any is
        held or ``busy()`` (this run's own items are still in the pipelines: they may find more
        records held). Ends when nothing is held and nothing is busy (``scrapy download``)."""
        while self.held or busy():
            for key, entry in list(self.held.items()):
                if entry.offered:
                    continue
                complete = await asyncio.to_thread(entry.is_complete)  # a manifest read: maybe a GET
                if self._settle(key, entry, complete):
                    yield entry.item
            await asyncio.sleep(self.poll if self.held else min(self.poll, 0.2))


_by_crawler: weakref.WeakKeyDictionary[Any, Takeover] = weakref.WeakKeyDictionary()


def takeover_for_crawler(crawler: Any) -> Takeover:
    """The one Takeover of a crawl, shared by the pipeline and the spider."""
    takeover = _by_crawler.get(crawler)
    if takeover is None:
        takeover = _by_crawler[crawler] = Takeover.from_crawler(crawler)
    return takeover

"""Work leases held by one crawl: taken on the shared state, renewed in the background, released.

What enters: (kind, key) pairs a component wants to work on alone across every node sharing the
state (downloads: ``("download", "source:source_id")``). What leaves: whether this crawl holds
the lease; while it does, a Twisted ``LoopingCall`` renews every held lease each third of
ENVISION_LEASE_SECONDS, so a lease outlives its holder by at most that long. Who calls it:
GatedFilesPipeline (one keeper per crawl, ``lease_keeper_for_crawler``); ``leases()`` on the
state is the status view. The decisions themselves (who may take a lease, takeover of expired
ones and of dead processes on this host) live in ``StateDB.take_lease`` (state/base.py).

The holder is ``node:pid`` (ENVISION_NODE_NAME, else the host name). A lease found lost at
renewal (it expired, e.g. the reactor was blocked, and another holder took it) is logged,
counted and forgotten; :meth:`LeaseKeeper.lost` says so to the work that relied on it. When the
engine stops every lease still held is released (not done), for another holder to take at once.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from scrapy import signals
from twisted.internet import task

from envision_spiders.state.base import StateDB, holder_name
from envision_spiders.state.db import state_for_crawler

logger = logging.getLogger(__name__)

Lease = tuple[str, str]  # (kind, key)


class LeaseKeeper:
    """The leases of one crawl. ``stats`` gets ``envision/lease/<event>/<kind>`` counters."""

    def __init__(self, state: StateDB, holder: str, seconds: float, stats: Any = None) -> None:
        if seconds <= 0:
            raise ValueError(f"ENVISION_LEASE_SECONDS must be positive, not {seconds}")
        self.state = state
        self.holder = holder
        self.seconds = seconds
        self.stats = stats
        self.held: set[Lease] = set()
        self._lost: set[Lease] = set()
        self._renewal: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> LeaseKeeper:
        settings = crawler.settings
        keeper = cls(
            state_for_crawler(crawler),
            holder_name(settings.get("ENVISION_NODE_NAME") or None),
            settings.getfloat("ENVISION_LEASE_SECONDS"),
            crawler.stats,
        )
        # before the state closes (it closes on engine_stopped too): engine_stopped handlers run in
        # connection order, and the keeper connects after state_for_crawler did; release on
        # spider_closed, which comes first
        crawler.signals.connect(keeper.release_all, signal=signals.spider_closed, weak=False)
        return keeper

    def _count(self, event: str, kind: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"envision/lease/{event}/{kind}")

    def take(self, kind: str, key: str) -> bool:
        """Hold ``kind``/``key`` from now on (True), or another holder has it (False)."""
        if not self.state.take_lease(kind, key, self.holder, self.seconds):
            self._count("busy", kind)
            return False
        self._count("taken", kind)
        self.held.add((kind, key))
        self._lost.discard((kind, key))
        self._start_renewal()
        return True

    def release(self, kind: str, key: str, done: bool = False) -> None:
        if (kind, key) not in self.held:
            return
        self.held.discard((kind, key))
        self.state.release_lease(kind, key, self.holder, done=done)
        self._count("released", kind)
        if not self.held:
            self._stop_renewal()

    def lost(self, kind: str, key: str) -> bool:
        """Whether a lease this keeper held was taken over by another holder."""
        return (kind, key) in self._lost

    def renew(self) -> None:
        """Extend every held lease (the LoopingCall's step; also callable directly)."""
        for kind, key in sorted(self.held):
            if self.state.renew_lease(kind, key, self.holder, self.seconds):
                self._count("renewed", kind)
                continue
            self.held.discard((kind, key))
            self._lost.add((kind, key))
            self._count("lost", kind)
            logger.warning("lease %s %s lost: it expired and another holder took it (holder here: %s)",
                           kind, key, self.holder)
        if not self.held:
            self._stop_renewal()

    def release_all(self) -> None:
        for kind, key in sorted(self.held):
            self.release(kind, key)
        self._stop_renewal()

    def _start_renewal(self) -> None:
        if self._renewal is None or not self._renewal.running:
            self._renewal = task.LoopingCall(self._renew_logged)
            self._renewal.start(self.seconds / 3, now=False)

    def _renew_logged(self) -> None:
        try:
            self.renew()
        except Exception:  # a failing state (network, server restart): the next step tries again
            logger.exception("lease renewal failed (holder %s)", self.holder)
            if self.stats is not None:
                self.stats.inc_value("envision/lease/renew_failed")

    def _stop_renewal(self) -> None:
        if self._renewal is not None and self._renewal.running:
            self._renewal.stop()
        self._renewal = None


_by_crawler: weakref.WeakKeyDictionary[Any, LeaseKeeper] = weakref.WeakKeyDictionary()


def lease_keeper_for_crawler(crawler: Any) -> LeaseKeeper:
    """The one LeaseKeeper of a crawl, shared by the components that take leases."""
    keeper = _by_crawler.get(crawler)
    if keeper is None:
        keeper = _by_crawler[crawler] = LeaseKeeper.from_crawler(crawler)
    return keeper

"""The scheduler's priority queue: a rate-budget slot takes a spider request only when it is short of work.

What enters: the requests the spider yields (through Scrapy's scheduler). What leaves: the next
one for the engine to download, or None while every slot that has requests waiting is a budget
slot (``http/slots.py``) with enough of them already in the downloader. Set as
``SCHEDULER_PRIORITY_QUEUE`` in ``settings.py``; Scrapy's scheduler builds and calls it.

Why: Scrapy's engine moves requests from the scheduler into the downloader until
``CONCURRENT_REQUESTS`` (16) are there, so a slot that sends one request a second holds up to
16 of the spider's, in arrival order. Archive inspection sends its file requests to the same
slot when the repository has one rate for everything (Figshare, Kaggle: the shared slot) and
they queued behind those 16: with ``ENVISION_INSPECT_CONCURRENCY`` archives at a time,
inspection got about a fifth of the budget, records piled up waiting for it while the spider
kept paging, and the crawl ended with a tail of file requests paced by the archive reads
rather than by the rate (Kaggle, 300 datasets: 1.28x the time the rate allows). Here a budget
slot holds at most its concurrency plus ``ENVISION_BUDGET_SLOT_BACKLOG`` requests in the
downloader (in flight or waiting for the delay, file requests included): enough that it never
runs empty while the spider has more, few enough that a file request waits behind at most
that many. The rest wait in the scheduler, where request priorities order them. Scrapy's
engine asks again whenever a download finishes (and every 5 seconds).

Everything else is Scrapy's ``DownloaderAwarePriorityQueue``: other slots are not held back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.pqueues import DownloaderAwarePriorityQueue

from envision_spiders.http.slots import is_budget_slot


class BudgetSlotQueue(DownloaderAwarePriorityQueue):
    """``SCHEDULER_PRIORITY_QUEUE``: see the module docstring."""

    def __init__(self, crawler: Crawler, *args: Any, **kwargs: Any) -> None:
        super().__init__(crawler, *args, **kwargs)
        settings = crawler.settings
        backlog = settings.getint("ENVISION_BUDGET_SLOT_BACKLOG")
        if backlog < 1:
            raise ValueError(f"ENVISION_BUDGET_SLOT_BACKLOG={backlog} must be at least 1")
        default = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        # requests the downloader may hold for each budget slot: its concurrency + the backlog
        self.limits = {
            slot: int(entry.get("concurrency", default)) + backlog
            for slot, entry in settings.getdict("DOWNLOAD_SLOTS").items()
            if is_budget_slot(slot)
        }
        self.downloader = crawler.engine.downloader

    def held(self) -> dict[str, int]:
        """Requests in the downloader per budget slot (counted from the moment the engine hands
        them over: a slot's own queue sees them only after the downloader middlewares)."""
        counts = dict.fromkeys(self.limits, 0)
        for request in self.downloader.active:
            slot = self.downloader.get_slot_key(request)
            if slot in counts:
                counts[slot] += 1
        return counts

    def full_slots(self) -> set[str]:
        """Budget slots with requests waiting here that have as many in the downloader as they may."""
        waiting = [slot for slot in self.limits if slot in self.pqueues]
        if not waiting:
            return set()
        held = self.held()
        return {slot for slot in waiting if held[slot] >= self.limits[slot]}

    @contextmanager
    def _without(self, slots: set[str]) -> Iterator[None]:
        """Scrapy's choice of a slot, among the others."""
        hidden = {slot: self.pqueues.pop(slot) for slot in slots}
        try:
            yield
        finally:
            self.pqueues.update(hidden)

    def pop(self) -> Request | None:
        with self._without(self.full_slots()):
            return super().pop()

    def peek(self) -> Request | None:
        with self._without(self.full_slots()):
            return super().peek()

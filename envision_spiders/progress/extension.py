"""``CrawlProgress``: a periodic progress line per crawler, in the spirit of Scrapy's
``PeriodicLog``, with the figures of ``figures.py``.

Every ``ENVISION_PROGRESS_INTERVAL`` seconds (0: off) it logs one INFO line (unless
``ENVISION_PROGRESS_LOG`` is False: ``scrapy crawlall`` draws live lines on a terminal instead)
and sets the ``envision/progress/*`` values, which the final stats keep:
``expected``, ``processed``, ``waiting`` (at the last tick) and ``seconds``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

from envision_spiders.progress.figures import Figures, bytes_done, figures, line

logger = logging.getLogger(__name__)


def queued_requests(crawler: Crawler) -> tuple[int, int]:
    """(requests waiting in the downloader's slot queues, requests in the scheduler)."""
    engine = getattr(crawler, "_engine", None)  # Crawler.engine raises before the crawl starts
    if engine is None:
        return 0, 0
    waiting = sum(len(slot.queue) for slot in engine.downloader.slots.values())
    scheduler = engine.scheduler
    try:
        scheduled = len(scheduler) if scheduler is not None else 0  # type: ignore[arg-type]
    except TypeError:  # a scheduler without __len__
        scheduled = 0
    return waiting, scheduled


class ProgressMeter:
    """Reads a crawler's figures; keeps what a rate needs (start time, the last byte count)."""

    def __init__(self, crawler: Crawler, clock: Any = time.monotonic) -> None:
        self.crawler = crawler
        self.clock = clock
        self.started = clock()
        self._last: tuple[float, int] | None = None

    def read(self, average: bool = False) -> Figures:
        """The figures now; the byte rate over the time since the last read (``average``: since
        the start, for a final line)."""
        stats = self.crawler.stats.get_stats()
        now = self.clock()
        done = bytes_done(stats)
        rate = None
        since = (self.started, 0) if average else self._last
        if since is not None and now > since[0]:
            rate = (done - since[1]) / (now - since[0])
        self._last = (now, done)
        waiting, scheduled = queued_requests(self.crawler)
        return figures(stats, now - self.started, waiting, scheduled, rate)


class CrawlProgress:
    def __init__(self, crawler: Crawler) -> None:
        self.interval = crawler.settings.getfloat("ENVISION_PROGRESS_INTERVAL")
        if self.interval <= 0:
            raise NotConfigured  # switched off on purpose: no WARNING
        self.log = crawler.settings.getbool("ENVISION_PROGRESS_LOG")
        self.crawler = crawler
        self.meter: ProgressMeter | None = None
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlProgress:
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self) -> None:
        self.meter = ProgressMeter(self.crawler)
        self.task = create_looping_call(self.tick)
        self.task.start(self.interval, now=False)

    def tick(self) -> Figures | None:
        if self.meter is None:
            return None
        current = self.meter.read()
        self._record(current)
        if self.log:
            logger.info("Progress: %s", line(current), extra={"spider": self.crawler.spider})
        return current

    def _record(self, current: Figures) -> None:
        stats = self.crawler.stats
        if current.expected is not None:
            stats.set_value("envision/progress/expected", current.expected)
        stats.set_value("envision/progress/processed", current.handled)
        stats.set_value("envision/progress/waiting", current.waiting)
        stats.set_value("envision/progress/seconds", round(current.elapsed, 1))

    def spider_closed(self) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        if self.meter is not None:
            current = self.meter.read(average=True)
            self._record(current)
            if self.log:
                logger.info("Progress (final): %s", line(current), extra={"spider": self.crawler.spider})

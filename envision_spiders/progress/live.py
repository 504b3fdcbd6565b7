"""Live progress on a terminal: one line per crawler, redrawn in place (``scrapy crawlall``).

Log lines still go to the same terminal: before any is written, the block of live lines is
erased (a filter on the root logger's handlers), and the next redraw puts it back below.
Not for a stream that is not a terminal (scrapyd logs): there ``CrawlProgress`` logs plain lines.
"""

from __future__ import annotations

import logging
import shutil
from typing import IO, Any

from scrapy.crawler import Crawler
from scrapy.utils.asyncio import create_looping_call

from envision_spiders.progress.extension import ProgressMeter
from envision_spiders.progress.figures import duration, line

UP_AND_CLEAR = "\x1b[{n}F\x1b[J"  # cursor up n lines to column 1, erase to the end of screen


class LiveLines(logging.Filter):
    """One redrawn line per named crawler on ``stream``; also a logging filter that erases the
    block before a log line is written."""

    def __init__(self, crawlers: dict[str, Crawler], stream: IO[str], interval: float = 1.0) -> None:
        super().__init__()
        self.crawlers = crawlers
        self.stream = stream
        self.interval = interval
        self.meters: dict[str, ProgressMeter] = {}
        self.drawn = 0
        self.task: Any = None
        self._handlers: list[logging.Handler] = []

    def lines(self) -> list[str]:
        width = max(shutil.get_terminal_size((120, 24)).columns - 1, 40)
        out = []
        for name, crawler in self.crawlers.items():
            stats = getattr(crawler, "_stats", None)  # Crawler.stats raises before the crawl starts
            if stats is None:
                text = "starting"
            else:
                meter = self.meters.setdefault(name, ProgressMeter(crawler))
                current = meter.read()
                reason = stats.get_value("finish_reason")
                text = line(current)
                if reason:
                    text = f"{reason} after {duration(current.elapsed)}; {text}"
            out.append(f"{name:<10} {text}"[:width])
        return out

    def clear(self) -> None:
        if self.drawn:
            self.stream.write(UP_AND_CLEAR.format(n=self.drawn))
            self.stream.flush()
            self.drawn = 0

    def draw(self) -> None:
        lines = self.lines()
        self.clear()
        self.stream.write("".join(f"{text}\n" for text in lines))
        self.stream.flush()
        self.drawn = len(lines)

    def filter(self, record: logging.LogRecord) -> bool:
        self.clear()
        return True

    def start(self) -> None:
        """Redraw every ``interval`` seconds (the event loop must be set up)."""
        if self.task is not None:
            return
        self._handlers = list(logging.getLogger().handlers)
        for handler in self._handlers:
            handler.addFilter(self)
        self.task = create_looping_call(self.draw)
        self.task.start(self.interval, now=True)

    def stop(self) -> None:
        """The last figures stay on the terminal; log lines are no longer watched."""
        if self.task is not None and self.task.running:
            self.task.stop()
        for handler in self._handlers:
            handler.removeFilter(self)
        self._handlers = []
        self.clear()
        self.draw()
        self.drawn = 0

"""Runs of several spiders: which spiders a run covers, how each one ended, and the run ledger.

Used by ``scrapy crawlall`` (one process, every spider) and ``scrapy schedule`` (one scrapyd
job per spider). Spiders are discovered (Scrapy's SpiderLoader, or scrapyd's
``listspiders.json``), never listed by hand. A spider named in ``ENVISION_CRAWLALL_NEEDS``
joins such runs only when the setting named there is non-empty (``portal`` needs configured
``ENVISION_PORTALS`` presets), unless it is asked for by name.

``RunLedger`` (an extension) records every crawl in the state DB's ``crawl_runs`` table:
start, end, finish reason, items, ERROR log lines, and whether it was *clean* (finished, no
spider exception, no ERROR logged). The weekly schedule starts each spider from its last
clean run (``since``), so a run that lost pages is covered again by the next one.
An *empty* run is not clean either: a spider that met no record at all (none scraped, dropped
or skipped as unchanged) where its last clean run met at least ``ENVISION_EMPTY_RUN_MIN_PREVIOUS``
(an API change, a new required parameter, a renamed field) ends ``warn``, with one WARNING line
saying why and ``envision/run/empty`` in its stats; the next ``since`` stays where it was.

``CrawlerLogCount`` (an extension, in place of Scrapy's ``LogCount``) counts the log lines
of *its* crawler in ``log_count/<LEVEL>``: Scrapy's handler counts every line of the process
in every crawler, so under ``scrapy crawlall`` one spider's ERROR made every spider unclean.
A line belongs to a crawler when it carries that crawler's spider (``spider.logger`` and
Scrapy's own engine/scraper lines do; components can pass ``extra={"spider": ...}``). A line
that names no spider counts in ``log_count/<LEVEL>`` when one crawler is open, and in
``envision/log/unattributed/<LEVEL>`` of every open crawler when several are: it may be
anyone's, so it still keeps each of them from being clean (the ledger errs towards
re-crawling).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings

from envision_spiders.state.db import state_for_crawler

logger = logging.getLogger(__name__)

UNATTRIBUTED_PREFIX = "envision/log/unattributed"


class UnknownSpiders(ValueError):
    pass


def select_spiders(
    available: Iterable[str],
    settings: BaseSettings,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> list[str]:
    """The spiders a multi-spider run covers, in name order.

    ``only``: just these (a spider named here runs even when its ENVISION_CRAWLALL_NEEDS
    setting is empty); ``skip``: all but these. Unknown names raise ``UnknownSpiders``.
    """
    names = sorted(set(available))
    only, skip = list(dict.fromkeys(only)), list(dict.fromkeys(skip))
    unknown = [n for n in only + skip if n not in names]
    if unknown:
        raise UnknownSpiders(f"unknown spider(s): {', '.join(unknown)} (available: {', '.join(names)})")
    if only:
        return [n for n in names if n in only and n not in skip]
    needs: Mapping[str, str] = settings.getdict("ENVISION_CRAWLALL_NEEDS")
    chosen = []
    for name in names:
        if name in skip:
            continue
        needed = needs.get(name)
        if needed and not settings.get(needed):
            logger.info("Leaving out spider %s: setting %s is empty", name, needed)
            continue
        chosen.append(name)
    return chosen


def records_seen(stats: Mapping[str, Any]) -> int:
    """Records a crawl met: scraped, dropped (duplicates included) or skipped as unchanged."""
    return sum(
        int(stats.get(key, 0))
        for key in ("item_scraped_count", "item_dropped_count", "envision/incremental/unchanged")
    )


def outcome(stats: Mapping[str, Any], finish_reason: str | None) -> dict[str, Any]:
    """How one crawl ended: ``ok`` (finished, no spider exception) and ``clean`` (ok, no ERROR
    of its own nor any ERROR of unknown origin logged while it ran, not a suspiciously empty
    run: ``envision/run/empty``)."""
    errors = int(stats.get("log_count/ERROR", 0))
    unattributed = int(stats.get(f"{UNATTRIBUTED_PREFIX}/ERROR", 0))
    exceptions = int(stats.get("spider_exceptions/count", 0)) or sum(
        int(v) for k, v in stats.items() if k.startswith("spider_exceptions/") and k != "spider_exceptions/count"
    )
    ok = finish_reason == "finished" and exceptions == 0
    return {
        "finish_reason": finish_reason,
        "items": int(stats.get("item_scraped_count", 0)),
        "dropped": int(stats.get("item_dropped_count", 0)),
        "errors": errors,
        "spider_exceptions": exceptions,
        "ok": ok,
        "clean": ok and errors == 0 and unattributed == 0 and not stats.get("envision/run/empty"),
    }


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def since_for(last_clean_run: Mapping[str, Any] | None, overlap_days: int, today: date | None = None,
              fallback_days: int | None = None) -> str | None:
    """The ``since`` argument of the next crawl: the last clean run's start date minus the
    overlap; without one, ``fallback_days`` ago, or None (a full crawl)."""
    if last_clean_run:
        started = datetime.fromisoformat(last_clean_run["started_at"]).date()
        return (started - timedelta(days=overlap_days)).isoformat()
    if fallback_days is not None:
        return ((today or utc_now().date()) - timedelta(days=fallback_days)).isoformat()
    return None


class RunLedger:
    """Records each crawl in the state DB (``crawl_runs``). Off with ``ENVISION_RUN_LEDGER=False``."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.run_id = uuid.uuid4().hex
        self.empty_min_previous = crawler.settings.getint("ENVISION_EMPTY_RUN_MIN_PREVIOUS")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunLedger:
        if not crawler.settings.getbool("ENVISION_RUN_LEDGER"):
            raise NotConfigured  # switched off on purpose: no WARNING
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        # scrapyd passes its job id as the spider argument ``_job``
        job = getattr(spider, "_job", None)
        state_for_crawler(self.crawler).start_run(self.run_id, spider.name, utc_now().isoformat(), job)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        stats = self.crawler.stats
        state = state_for_crawler(self.crawler)
        seen = records_seen(stats.get_stats())
        if seen == 0 and self.empty_min_previous > 0:
            self._check_empty(spider, state.last_clean_run(spider.name))
        result = outcome(stats.get_stats(), reason)
        state.finish_run(
            self.run_id, utc_now().isoformat(), reason, result["items"], result["errors"], result["clean"], seen
        )
        stats.set_value("envision/run/clean", result["clean"])

    def _check_empty(self, spider: Spider, last_clean: Mapping[str, Any] | None) -> None:
        if not last_clean:
            return
        before = last_clean["seen"] if last_clean["seen"] is not None else (last_clean["items"] or 0)
        if before < self.empty_min_previous:
            return
        self.crawler.stats.set_value("envision/run/empty", 1)
        spider.logger.warning(
            "Run not clean: %s met 0 records where its last clean run (%s) met %d; an API change? "
            "The next `since` stays at that run",
            spider.name, last_clean["started_at"], before,
        )


class _CrawlerLogHandler(logging.Handler):
    """Counts the records of one crawler (see the module docstring) in its stats."""

    def __init__(self, crawler: Crawler, open_handlers: list[_CrawlerLogHandler], level: int | str) -> None:
        super().__init__(level=level)
        self.crawler = crawler
        self.open_handlers = open_handlers

    def emit(self, record: logging.LogRecord) -> None:
        spider = getattr(record, "spider", None)
        if spider is not None:
            if spider is self.crawler.spider:
                self.crawler.stats.inc_value(f"log_count/{record.levelname}")
            return
        if len(self.open_handlers) > 1:
            self.crawler.stats.inc_value(f"{UNATTRIBUTED_PREFIX}/{record.levelname}")
        else:
            self.crawler.stats.inc_value(f"log_count/{record.levelname}")


class CrawlerLogCount:
    """``log_count/<LEVEL>`` per crawler, also with several crawlers in one process."""

    _open: list[_CrawlerLogHandler] = []  # the handlers of the crawlers open in this process

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.handler: _CrawlerLogHandler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlerLogCount:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.handler = _CrawlerLogHandler(self.crawler, self._open, self.crawler.settings.get("LOG_LEVEL"))
        self._open.append(self.handler)
        logging.root.addHandler(self.handler)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.handler is not None:
            logging.root.removeHandler(self.handler)
            self._open.remove(self.handler)
            self.handler = None

"""Small extensions of our own."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from envision_spiders.jsoncodec import write_json_atomic


class StatsFile:
    """Writes the crawl's final stats as JSON to ENVISION_STATS_FILE (for cron jobs and tests)."""

    def __init__(self, crawler: Crawler, path: str) -> None:
        self.crawler = crawler
        self.path = path

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StatsFile:
        path = crawler.settings.get("ENVISION_STATS_FILE")
        if not path:
            raise NotConfigured  # not asked for: nothing to say (a message would log a WARNING)
        ext = cls(crawler, path)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Any, reason: str) -> None:
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, datetime) else value

        stats = {k: plain(v) for k, v in self.crawler.stats.get_stats().items()}
        stats.setdefault("finish_reason", reason)
        write_json_atomic(self.path, json.loads(json.dumps(stats, default=str)))

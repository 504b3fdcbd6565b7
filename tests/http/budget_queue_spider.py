"""A probe spider for the budget-slot scheduling tests (``scrapy runspider``).

Its ``PAGES`` requests all go to one rate-budget slot (``probe:all``, a short delay); when the
fourth answers, it sends a file request to the same slot through ``engine.download_async``,
as archive inspection does. It writes to ``-a out=PATH``: how many requests waited in the
slot ahead of the file request when it reached the downloader, and the most that ever waited.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK

from envision_spiders.http.slots import SLOT_META, shared_slot

SLOT = shared_slot("probe")
PAGES = 20
FILE_META = "probe_file"


class BudgetSlotProbeSpider(scrapy.Spider):
    name = "budget_probe"
    custom_settings: ClassVar[dict[str, Any]] = {
        "DOWNLOAD_SLOTS": {SLOT: {"delay": 0.02, "jitter": 0, "concurrency": 1}},
        "ITEM_PIPELINES": {},
        "SPIDER_MIDDLEWARES": {},
        "ROBOTSTXT_OBEY": False,
        "AUTOTHROTTLE_ENABLED": False,
    }

    def __init__(self, url: str = "", out: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url, self.out = url, Path(out)
        self.ahead_of_file: int | None = None
        self.most_waiting = 0
        self.pages = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> BudgetSlotProbeSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.reached, signal=signals.request_reached_downloader)
        return spider

    def reached(self, request: scrapy.Request) -> None:
        slot = self.crawler.engine.downloader.slots.get(SLOT)
        waiting = len(slot.queue) if slot else 0  # the signal comes before the request joins the queue
        self.most_waiting = max(self.most_waiting, waiting)
        if request.meta.get(FILE_META):
            self.ahead_of_file = waiting

    async def start(self) -> AsyncIterator[Any]:
        for n in range(PAGES):
            yield scrapy.Request(f"{self.url}/page/{n}", meta={SLOT_META: SLOT}, dont_filter=True)

    async def parse(self, response: Response) -> None:
        self.pages += 1
        if response.url.endswith("/page/3"):
            await self.crawler.engine.download_async(scrapy.Request(
                f"{self.url}/file", meta={SLOT_META: SLOT, FILE_META: True}, callback=NO_CALLBACK))

    def closed(self, reason: str) -> None:
        self.out.write_text(json.dumps({"ahead_of_file": self.ahead_of_file, "most_waiting": self.most_waiting,
                                        "pages": self.pages}))

"""A safety margin below the documented rates: every downloader slot with a delay waits a little longer.

What enters: ``ENVISION_RATE_MARGIN`` (a fraction, ``settings.py``) and each downloader slot as
Scrapy creates it. What leaves: that slot's delay times ``1 + margin``, once per slot (a slot
Scrapy drops when idle and creates again is widened again). Slots without a delay (local
servers, object stores) are left alone. Built by Scrapy as an extension (``EXTENSIONS``); off
(``NotConfigured``) with a margin of 0.

Why: every delay this project sets is a documented rate's interval (a spider's
``DOWNLOAD_DELAY``, a budget slot of ``http/slots.py``), and Scrapy spaces requests by when it
sends them, not by when they arrive: a request that waited on a new connection and the next on a
warm one arrive closer than the delay. At exactly the documented interval that is a 429 now and
then (one from Zenodo, measured), or an IP block (NIH RePORTER blocks above one request a
second). Scrapy reports a slot only through the ``request_reached_downloader`` signal, sent
after the slot exists and before its queue is processed, so the first request's successor
already waits the wider delay. Counted as ``envision/slots/widened`` (slots given the margin).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request, signals
from scrapy.core.downloader import Slot
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from envision_spiders.http.slots import SLOT_META


def widened(delay: float, margin: float) -> float:
    """``delay`` with the margin (0 stays 0)."""
    return delay * (1.0 + margin)


class RateMargin:
    """Extension: see the module docstring."""

    def __init__(self, crawler: Crawler, margin: float) -> None:
        self.crawler = crawler
        self.margin = margin
        self._widened: dict[str, Slot] = {}  # slot key -> the slot object given the margin

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RateMargin:
        margin = crawler.settings.getfloat("ENVISION_RATE_MARGIN")
        if margin < 0:
            raise NotConfigured(f"ENVISION_RATE_MARGIN={margin} must not be negative")
        if margin == 0:
            raise NotConfigured("ENVISION_RATE_MARGIN is 0")
        extension = cls(crawler, margin)
        crawler.signals.connect(extension.request_reached_downloader, signal=signals.request_reached_downloader)
        return extension

    def request_reached_downloader(self, request: Request, **_: Any) -> None:
        key = request.meta.get(SLOT_META)
        slot = self.crawler.engine.downloader.slots.get(key) if key is not None else None
        if slot is None or self._widened.get(key) is slot:
            return
        self._widened[key] = slot
        if slot.delay > 0:
            slot.delay = widened(slot.delay, self.margin)
            self.crawler.stats.inc_value("envision/slots/widened")

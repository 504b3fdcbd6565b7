"""A redirect hop that leaves a repository's origin leaves its rate-budget slot, for the object
store's own politeness.

Scrapy writes every request's downloader slot into ``meta["download_slot"]`` and a redirect
copies the meta, so a 302 from a repository's download route to a signed object-store URL (S3,
GCS) would wait in the repository's slot and spend its documented rate on a request the
repository never sees. For budget slots only (a source's file or shared slot, ``http/slots.py``)
this middleware moves a hop to another origin to that host's object-store slot
(``object_store_slot``), counted as ``envision/slots/left_on_redirect``. Keyed by its host alone,
the hop would get the spider's ``DOWNLOAD_DELAY`` (every new slot's default: the repository's API
delay); an object-store slot gets ``ENVISION_OBJECT_STORE_SLOT`` instead, registered with the
downloader before its first request (later reads of the final URL, ``http/ranges.py``, come here
in that slot too). Other slots (Scrapy's per-host ones, a ``DOWNLOAD_SLOTS`` entry of the user's
that is not a budget slot) keep Scrapy's behaviour.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler

from envision_spiders.http.slots import SLOT_META, is_object_store_slot, leaves_budget, object_store_slot


class BudgetSlotMiddleware:
    """Downloader middleware: see the module docstring."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.object_store: dict[str, Any] = crawler.settings.getdict("ENVISION_OBJECT_STORE_SLOT")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BudgetSlotMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        hops = request.meta.get("redirect_urls")
        if hops and leaves_budget(request.meta.get(SLOT_META), hops[-1], request.url):
            request.meta[SLOT_META] = object_store_slot(request.url)
            self.stats.inc_value("envision/slots/left_on_redirect")
        slot = request.meta.get(SLOT_META)
        if is_object_store_slot(slot):
            # read by the downloader when it creates the slot (after this middleware); a -s
            # DOWNLOAD_SLOTS entry of that name wins
            self.crawler.engine.downloader.per_slot_settings.setdefault(slot, dict(self.object_store))

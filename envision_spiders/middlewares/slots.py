"""A redirect hop that leaves a repository's origin leaves its rate-budget slot.

Scrapy writes every request's downloader slot into ``meta["download_slot"]`` and a redirect
copies the meta, so a 302 from a repository's download route to a signed object-store URL (S3,
GCS) would wait in the repository's slot and spend its documented rate on a request the
repository never sees. For budget slots only (a source's file or shared slot, ``http/slots.py``)
this middleware drops the slot from a hop to another origin: Scrapy then keys it by its host, as
any request. Other slots (Scrapy's per-host ones, a ``DOWNLOAD_SLOTS`` entry of the user's that
is not a budget slot) keep Scrapy's behaviour. Counted as ``envision/slots/left_on_redirect``.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.crawler import Crawler

from envision_spiders.http.slots import SLOT_META, leaves_budget


class BudgetSlotMiddleware:
    """Downloader middleware: see the module docstring."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BudgetSlotMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        hops = request.meta.get("redirect_urls")
        if hops and leaves_budget(request.meta.get(SLOT_META), hops[-1], request.url):
            request.meta.pop(SLOT_META)
            self.stats.inc_value("envision/slots/left_on_redirect")

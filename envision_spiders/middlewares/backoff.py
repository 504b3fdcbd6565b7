"""Exponential backoff for 429/503 that honours ``Retry-After``, bounded.

Scrapy's RetryMiddleware re-sends at once, which turns a rate limit into a 429 storm. Here a
429/503 pauses every request to that host until the server's ``Retry-After`` (or
``X-RateLimit-Reset``/``RateLimit-Reset``, or ``base * 2**attempt`` with jitter) has passed, then retries. After
``ENVISION_BACKOFF_MAX_RETRIES`` attempts, or when the server asks for a wait longer than
``ENVISION_BACKOFF_MAX_DELAY``, the request gives up with a logged error and the response goes
on to HttpErrorMiddleware. Per-request opt-out: ``meta["dont_retry"] = True``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from email.utils import parsedate_to_datetime

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached

logger = logging.getLogger(__name__)


def retry_after_seconds(response: Response, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``Retry-After`` (delta or HTTP date) or ``X-RateLimit-Reset``."""
    now = time.time() if now is None else now
    value = response.headers.get(b"Retry-After")
    if value:
        text = value.decode("latin-1").strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(text).timestamp() - now)
            except (TypeError, ValueError):
                pass
    # Zenodo sends X-RateLimit-Reset; Dryad the unprefixed RateLimit-Reset (both epoch seconds)
    reset = response.headers.get(b"X-RateLimit-Reset") or response.headers.get(b"RateLimit-Reset")
    if reset:
        try:
            reset_at = float(reset.decode("latin-1").strip())
        except ValueError:
            return None
        # epoch seconds (Zenodo) or seconds-from-now (some others)
        return max(0.0, reset_at - now) if reset_at > 1e9 else max(0.0, reset_at)
    return None


class BackoffMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.codes = {int(c) for c in settings.getlist("ENVISION_BACKOFF_HTTP_CODES")}
        if not self.codes:
            raise NotConfigured("ENVISION_BACKOFF_HTTP_CODES is empty")
        self.max_retries = settings.getint("ENVISION_BACKOFF_MAX_RETRIES")
        self.base_delay = settings.getfloat("ENVISION_BACKOFF_BASE_DELAY")
        self.max_delay = settings.getfloat("ENVISION_BACKOFF_MAX_DELAY")
        self.stats = crawler.stats
        self._paused_until: dict[str, float] = {}  # per host

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        until = self._paused_until.get(urlparse_cached(request).netloc)
        if until is not None:
            wait = until - time.monotonic()
            if wait > 0:
                self.stats.inc_value("envision/backoff/waits")
                await asyncio.sleep(wait)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status not in self.codes or request.meta.get("dont_retry"):
            return response
        attempt = request.meta.get("envision_backoff_attempt", 0)
        asked = retry_after_seconds(response)
        delay = asked if asked is not None else self.base_delay * 2**attempt * random.uniform(0.8, 1.2)
        spider: Spider = self.crawler.spider
        if attempt >= self.max_retries or delay > self.max_delay:
            why = "too many attempts" if attempt >= self.max_retries else f"server asks for {delay:.0f}s"
            spider.logger.error(
                "Giving up on %s after %d backoff attempt(s): HTTP %d, %s",
                request.url, attempt, response.status, why,
            )
            self.stats.inc_value(f"envision/backoff/gave_up/{response.status}")
            return response
        host = urlparse_cached(request).netloc
        until = time.monotonic() + delay
        self._paused_until[host] = max(self._paused_until.get(host, 0.0), until)
        retry = get_retry_request(
            request,
            spider=spider,
            reason=f"backoff_{response.status}",
            max_retry_times=self.max_retries,
            stats_base_key="envision/backoff",
        )
        if retry is None:  # RetryMiddleware's own counter ran out first
            self.stats.inc_value(f"envision/backoff/gave_up/{response.status}")
            return response
        retry.meta["envision_backoff_attempt"] = attempt + 1
        spider.logger.info(
            "HTTP %d from %s: waiting %.1fs before attempt %d", response.status, host, delay, attempt + 2
        )
        self.stats.inc_value(f"envision/backoff/{response.status}")
        self.stats.max_value("envision/backoff/max_delay", round(delay, 3))
        return retry

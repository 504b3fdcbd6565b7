"""Exponential backoff for 429/503 that honours ``Retry-After``, bounded.

Scrapy's RetryMiddleware re-sends at once, which turns a rate limit into a 429 storm. Here a
429/503 pauses every request to that host until the wait of the project's backoff policy
(``http.backoff``: the server's ``Retry-After`` / ``X-RateLimit-Reset`` / ``RateLimit-Reset``, or
``base * 2**attempt`` with jitter) has passed, then retries. After
``ENVISION_BACKOFF_MAX_RETRIES`` attempts, or when the wait would be longer than
``ENVISION_BACKOFF_MAX_DELAY``, the request gives up with a logged error and the response goes
on to HttpErrorMiddleware. Per-request opt-out: ``meta["dont_retry"] = True``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached

from envision_spiders.http.backoff import BackoffPolicy, SharedPauses

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackoffConfig:
    """ENVISION_BACKOFF_HTTP_CODES and the policy of the other ENVISION_BACKOFF_* settings, read once."""

    codes: frozenset[int]
    policy: BackoffPolicy

    @classmethod
    def from_settings(cls, settings: Any) -> BackoffConfig:
        codes = frozenset(int(c) for c in settings.getlist("ENVISION_BACKOFF_HTTP_CODES"))
        if not codes:
            raise NotConfigured("ENVISION_BACKOFF_HTTP_CODES is empty")
        return cls(codes, BackoffPolicy.from_settings(settings))


class BackoffMiddleware:
    def __init__(self, crawler: Crawler, config: BackoffConfig) -> None:
        self.crawler = crawler
        self.config = config
        self.stats = crawler.stats
        self._paused_until: dict[str, float] = {}  # per host
        # scrapy download --processes N: a 429 one process gets pauses the host for all of them
        shared = crawler.settings.get("ENVISION_BACKOFF_SHARED_DIR")
        self._shared = SharedPauses(shared) if shared else None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffMiddleware:
        return cls(crawler, BackoffConfig.from_settings(crawler.settings))

    async def process_request(self, request: Request) -> None:
        host = urlparse_cached(request).netloc
        until = self._paused_until.get(host)
        if self._shared is not None:
            shared = self._shared.until(host)
            if shared is not None and (until is None or shared > until):
                until = shared
        if until is not None:
            wait = until - time.monotonic()
            if wait > 0:
                self.stats.inc_value("envision/backoff/waits")
                await asyncio.sleep(wait)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status not in self.config.codes or request.meta.get("dont_retry"):
            return response
        attempt = request.meta.get("envision_backoff_attempt", 0)
        delay, give_up = self.config.policy.next(attempt, response)
        spider: Spider = self.crawler.spider
        if give_up:
            spider.logger.error(
                "Giving up on %s after %d backoff attempt(s): HTTP %d, %s",
                request.url, attempt, response.status, give_up,
            )
            self.stats.inc_value(f"envision/backoff/gave_up/{response.status}")
            return response
        host = urlparse_cached(request).netloc
        until = time.monotonic() + delay
        self._paused_until[host] = max(self._paused_until.get(host, 0.0), until)
        if self._shared is not None:
            self._shared.pause(host, self._paused_until[host])
        retry = get_retry_request(
            request,
            spider=spider,
            reason=f"backoff_{response.status}",
            max_retry_times=self.config.policy.times,
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

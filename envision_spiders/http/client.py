"""HTTP for commands that talk to a service (scrapyd, the dataset portal), through Scrapy's downloader.

Crawls are not the only traffic that must go through Scrapy: ``scrapy schedule`` and
``scrapy post`` make their calls with ``engine.download_async`` inside a tiny internal spider
(never registered with the SpiderLoader), so timeouts, proxies, the User-Agent, the
downloader stats and logging are Scrapy's, as for every other byte of the project.

Retries are this module's (``fetch``), not RetryMiddleware's: every failure — a connection
error, a timeout, 408/429/5xx — is retried after the project's backoff policy
(``http.backoff.BackoffPolicy``: ``Retry-After`` honoured, exponential with jitter, waits capped),
because a service that is restarting needs seconds, not three immediate re-sends. Requests
carry ``dont_retry`` so the middlewares leave them alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK

from envision_spiders.http.backoff import BackoffPolicy

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 522, 524})

Job = Callable[["ClientSpider"], Awaitable[Any]]


class ServiceError(RuntimeError):
    """A call to a service failed for good (after the retries, or with a non-retryable answer)."""


# The name ``scrapy post`` imports; the policy (waits capped at max_delay) is http.backoff's.
RetryPolicy = BackoffPolicy


class ClientSpider(Spider):
    """Runs one async job with the engine's downloader; crawls nothing itself."""

    name = "envision-client"
    custom_settings = {
        "FEEDS": {},
        "ENVISION_FEEDS": {},
        "ITEM_PIPELINES": {},
        "ENVISION_INCREMENTAL": False,
        "ENVISION_RUN_LEDGER": False,
        "ROBOTSTXT_OBEY": False,
        "DOWNLOAD_DELAY": 0,
        "ENVISION_STATS_FILE": "",
        # calls only operator-configured services (scrapyd on loopback, the portal), never URLs
        # from data: the network fence does not apply (post.py checks PORTAL_URL itself)
        "ENVISION_FENCE_ENABLED": False,
    }

    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.result: Any = None
        self.error: BaseException | None = None

    async def start(self) -> AsyncIterator[Any]:
        try:
            self.result = await self.job(self)
        except Exception as exc:  # reported by run_job once the reactor has stopped
            self.error = exc
        return
        yield  # an async generator that yields nothing

    async def fetch(self, request: Request, policy: BackoffPolicy, what: str) -> Response:
        """``request``'s response once it is not a retryable failure; ServiceError when retries run out."""
        crawler: Crawler = self.crawler
        request.meta["dont_retry"] = True
        for attempt in range(policy.times + 1):
            response: Response | None = None
            try:
                response = await crawler.engine.download_async(request.replace(callback=NO_CALLBACK))
            except Exception as exc:  # connection refused/lost, timeout, DNS...
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status not in RETRY_STATUSES:
                    return response
                problem = f"HTTP {response.status}"
            crawler.stats.inc_value("envision/client/failures")
            wait, give_up = policy.next(attempt, response)
            if give_up:
                raise ServiceError(f"{what} failed after {attempt + 1} attempt(s): {problem}")
            crawler.stats.inc_value("envision/client/retries")
            logger.warning("%s failed (%s): retrying in %.1fs (attempt %d of %d)",
                           what, problem, wait, attempt + 2, policy.times + 1)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def run_job(crawler_process: Any, job: Job) -> tuple[Any, Crawler]:
    """Run ``job`` inside a ClientSpider on ``crawler_process``; returns (its result, the crawler).

    The job's exception, if any, is raised here, after the reactor has stopped.
    """
    crawler = crawler_process.create_crawler(ClientSpider)
    crawler_process.crawl(crawler, job=job)
    crawler_process.start()
    spider = crawler.spider
    if spider is None:
        raise ServiceError("the internal client spider did not start (see the log)")
    if spider.error is not None:
        raise spider.error
    return spider.result, crawler

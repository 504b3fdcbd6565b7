"""Offset / page-number paging for search APIs (Figshare, Kaggle, NIH RePORTER). The contract:

A concrete spider (an ``EnvisionSpider``) declares:

``page_size_setting``
    Setting with the page size it asks for (or the fixed size the server uses): read once
    into ``self.page_size``. A page shorter than this is the last one.
``max_offset_setting`` *or* ``max_page_setting``
    Setting with the deepest offset (0-based) or page number (1-based) the API serves; read
    once into ``self.max_offset``. No request past it is ever sent.
``cap_statuses``
    HTTP statuses the API answers when paged past its cap (Figshare 422, RePORTER 400).
    They reach the callback (``handle_httpstatus_list``); hand such a response to
    ``past_cap()``: the configured cap was too optimistic, the query is split or truncated.

and implements the hook ``page_request(cursor) -> Request`` (one page of one query; the
cursor gives ``query``, ``page`` (1-based), ``offset`` (0-based) and ``page_size``), plus
optionally ``split(query) -> list | None`` (narrower queries that together cover ``query``,
used when its results do not fit under the cap; None when it cannot be split) and
``more_wanted() -> bool`` (default ``self.wants_more``; a spider that emits records later
than it pages, e.g. after aggregating rows, counts its own way).

Start with ``self.first_page(query)``. In the page callback:

1. a cap status -> ``yield from self.past_cap(response)``;
2. a ``MalformedPage`` -> ``yield from self.lost_page(response, exc)`` (re-fetched; once given
   up, paging goes on past it unless the previous page was lost too);
3. ``use_hits, follow = self.paging(response, count, total)`` with the number of entries
   on the page and the total when the API gives one; emit the hits only when ``use_hits``
   (False when the page was replaced by a split), *then* iterate ``follow`` (lazy, so the
   ``max_records`` check sees the hits just taken).

Stop rules, in order: an empty page; on page 1, a known total above what the cap lets us
reach -> ``split`` (the page is dropped and each narrower query starts at page 1); a known
total reached; a short page; ``max_records`` reached; the next offset past the cap -> when
the page was full, ``split`` if possible, else a logged warning (results truncated).
Stats (``envision/paging/<spider>/...``): ``pages``, ``splits``, ``truncated``,
``cap_status``, ``lost_pages``, ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response

from envision_spiders.spiders.base import EnvisionSpider, SpiderArgumentError

PAGING_META = "envision_paging"

# Politeness preset for APIs that ask for at most one request per second (Figshare, NIH
# RePORTER; suggested for Kaggle): merge into ``custom_settings``. Randomising the delay would
# dip below one second half the time.
ONE_REQUEST_PER_SECOND: dict[str, Any] = {
    "DOWNLOAD_DELAY": 1.0,
    "DOWNLOAD_DELAY_JITTER": 0,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
}


@dataclass(frozen=True)
class PageCursor:
    """Where one page sits: the spider's own query object, the page and what we know so far."""

    query: Any
    page: int
    page_size: int
    total: int | None = None  # from the API, when it says
    lost: int = 0  # consecutive pages given up as malformed just before this one

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class OffsetPagingSpider(EnvisionSpider):
    page_size_setting: str = ""
    max_offset_setting: str = ""
    max_page_setting: str = ""
    cap_statuses: tuple[int, ...] = ()
    max_lost_pages: int = 1  # consecutive malformed pages skipped before a query is abandoned

    @classmethod
    def preflight(cls, settings: Any, **arguments: Any) -> None:
        super().preflight(settings, **arguments)
        if settings.getint(cls.page_size_setting) < 1:
            raise SpiderArgumentError(f"setting {cls.page_size_setting} must be at least 1")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> OffsetPagingSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.page_size = settings.getint(cls.page_size_setting)
        if spider.page_size < 1:
            raise SpiderArgumentError(f"setting {cls.page_size_setting} must be at least 1")
        if cls.max_page_setting:
            spider.max_offset = (settings.getint(cls.max_page_setting) - 1) * spider.page_size
        else:
            spider.max_offset = settings.getint(cls.max_offset_setting)
        return spider

    # --- hooks ------------------------------------------------------------------------------
    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        raise NotImplementedError

    def split(self, query: Any) -> list[Any] | None:
        return None

    def more_wanted(self) -> bool:
        """Whether to ask for another page (default: ``max_records`` not reached yet)."""
        return self.wants_more

    # --- helpers for the page callback --------------------------------------------------------
    @property
    def reachable(self) -> int:
        """How many results of one query paging can reach."""
        return self.max_offset + self.page_size

    def first_page(self, query: Any) -> scrapy.Request:
        return self._request(PageCursor(query=query, page=1, page_size=self.page_size))

    def _request(self, cursor: PageCursor) -> scrapy.Request:
        request = self.page_request(cursor)
        request.meta[PAGING_META] = cursor
        if self.cap_statuses:
            request.meta["handle_httpstatus_list"] = list(self.cap_statuses)
        return request

    def _count(self, key: str) -> None:
        self.crawler.stats.inc_value(f"envision/paging/{self.name}/{key}")

    def _split_or_truncate(self, cursor: PageCursor, why: str) -> list[scrapy.Request]:
        queries = self.split(cursor.query)
        if queries:
            self._count("splits")
            self.logger.info("Splitting %r into %d narrower queries: %s", cursor.query, len(queries), why)
            return [self.first_page(q) for q in queries]
        self._count("truncated")
        self.logger.warning("Results of %r truncated: %s, and the query cannot be split", cursor.query, why)
        return []

    def paging(self, response: Response, count: int, total: int | None = None) -> tuple[bool, Iterator[scrapy.Request]]:
        """Whether this page's hits are to be used, and (lazily: iterate it *after* emitting the
        hits, so ``max_records`` counts them) the requests that follow this page."""
        cursor: PageCursor = response.meta[PAGING_META]
        if total is not None:
            cursor = replace(cursor, total=total)
        self._count("pages")
        if count and cursor.page == 1 and cursor.total is not None and cursor.total > self.reachable:
            requests = self._split_or_truncate(cursor, f"{cursor.total} results, {self.reachable} reachable")
            if requests:
                return False, iter(requests)
        return True, self._follow(replace(cursor, lost=0), count)

    def _follow(self, cursor: PageCursor, count: int) -> Iterator[scrapy.Request]:
        if count == 0:
            return
        if cursor.total is not None and cursor.offset + count >= cursor.total:
            return
        if count < cursor.page_size or not self.more_wanted():
            return
        yield from self._next(cursor)

    def _next(self, cursor: PageCursor) -> list[scrapy.Request]:
        following = replace(cursor, page=cursor.page + 1)
        if following.offset > self.max_offset:
            if cursor.total is not None:  # already reported (split or truncated) on page 1
                return []
            return self._split_or_truncate(cursor, f"the paging cap (offset {self.max_offset}) is reached")
        return [self._request(following)]

    def past_cap(self, response: Response) -> Iterator[scrapy.Request]:
        """The API refused the page as past its cap (its cap is lower than configured)."""
        cursor: PageCursor = response.meta[PAGING_META]
        snippet = response.body[:200].decode("utf-8", "replace")
        if cursor.page == 1:
            self._count("failed")
            self.logger.error("HTTP %d for the first page of %r: %s", response.status, cursor.query, snippet)
            return
        self._count("cap_status")
        self.logger.warning(
            "HTTP %d at offset %d of %r: the API's paging cap is lower than configured (%s)",
            response.status, cursor.offset, cursor.query, snippet,
        )
        yield from self._split_or_truncate(cursor, f"HTTP {response.status} at offset {cursor.offset}")

    def lost_page(self, response: Response, error: Exception) -> Iterator[scrapy.Request]:
        """A page that is not the JSON expected: fetched again, then skipped (bounded)."""
        retry = self.retry_malformed(response, error)
        if retry is not None:
            yield retry
            return
        cursor: PageCursor = response.meta[PAGING_META]
        self._count("lost_pages")
        if cursor.lost >= self.max_lost_pages or not self.more_wanted():
            self.logger.error("Abandoning %r after %d malformed page(s) in a row", cursor.query, cursor.lost + 1)
            return
        if cursor.total is not None and cursor.offset + cursor.page_size >= cursor.total:
            return
        yield from self._next(replace(cursor, lost=cursor.lost + 1))

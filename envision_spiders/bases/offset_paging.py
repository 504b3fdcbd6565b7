"""Offset / page-number paging for search APIs (Zenodo, Figshare, Kaggle, NIH RePORTER). The contract:

A concrete spider (an ``EnvisionSpider``) declares:

``page_size_setting``
    Setting with the page size it asks for (or the fixed size the server uses), or
    ``(anonymous, with_token)`` settings when a token allows bigger pages. A page shorter
    than this is the last one.
``max_offset_setting``, ``max_page_setting`` *or* ``max_results_setting``
    Setting with the deepest offset (0-based), the deepest page number (1-based) or the
    number of results (a result window: the last page ends there) the API serves. No
    request past it is ever sent. All are read once, by the classmethod
    ``page_limits(settings) -> (page_size, max_offset)``.
``cap_statuses``
    HTTP statuses the API answers when paged past its cap (Figshare 422, RePORTER 400).
    They reach the callback (``handle_httpstatus_list``) and are handled as ``past_cap()``:
    the configured cap was too optimistic, the query is split or truncated.
``fan_out`` (optional, default False)
    When page 1 tells the total, ask for every other reachable page at once (the scheduler
    and the politeness settings pace them); a page lost for good loses only itself, a first
    page lost for good loses its query. Otherwise pages are asked for one after the other.

``search_page``
    The search page object class. The base gives the spider the callback
    ``parse_search(response, page: <search_page>)`` (scrapy-poet injects by annotation),
    which runs ``follow_search``.

and implements the hooks ``page_request(cursor) -> Request`` (one page of one query, built
with ``self.api_request(..., self.parse_search, ...)``; the cursor gives ``query``, ``page`` (1-based), ``offset``
(0-based) and ``page_size``), ``async read_page(page) -> SearchResults`` (hits, problems,
count of entries, total or None, from the page object; raises ``MalformedPage``) and
``async on_hits(response, hits)`` (an async generator: records through ``self.take`` and/or
detail requests; default: the hits are records, emitted through ``self.take``), plus optionally ``hit_key(hit) -> str | None`` (hits met before in this run, through another
query, are left out of ``on_hits``: ``envision/search/repeated_hits``), ``split(query) -> list | None`` (narrower queries that
together cover ``query``, used when its results do not fit under the cap; None when it
cannot be split), ``continuation(query, hits) -> query | None`` (a query for what comes after
``hits``, the last page read, in the API's order, e.g. "published after the last hit's date": used
before ``split`` when the cap is reached) and ``more_wanted() -> bool`` (default ``self.wants_more``; a spider that
emits records later than it pages, e.g. after aggregating rows, counts its own way).

Start with ``self.first_page(query)``; ``follow_search`` handles each page:

1. a cap status -> ``past_cap``;
2. a ``MalformedPage`` -> ``lost_page`` (re-fetched; once given up, paging goes on past it
   unless the previous page was lost too);
3. otherwise ``paging(response, count, total)`` decides; the hits go to ``on_hits`` unless
   the page was replaced by a split, *then* the next requests are built (lazily, so the
   ``max_records`` check sees the hits just taken).

Offsets are multiples of the page size, so paging reaches ``reachable_results(page_size,
max_offset)`` results of a query: the last aligned offset at or below the cap plus one page
(RePORTER: offset cap 14,999, pages of 500 -> 15,000, not 15,499).

Stop rules, in order: an empty page; on page 1, a known total above what the cap lets us
reach -> ``split`` (the page is dropped and each narrower query starts at page 1); a known
total reached; a short page, unless the API's total says more results follow (then a WARNING
and ``short_pages``: paging goes on, since stopping would drop the rest without a word);
``max_records`` reached; the next offset past the cap -> when
the page was full, ``continuation`` or else ``split`` if possible, else the results are
truncated: an ERROR naming how many results are lost (when the API tells a total).
Stats (``envision/paging/...``): ``pages``, ``short_pages``, ``splits`` (continuations included),
``truncated``, ``lost_results`` (results known lost to truncation), ``cap_status``,
``lost_pages``, ``failed``, ``lost_queries``; ``envision/search/total`` and
``envision/search/queries_reported``: the hits each query's first page reported (a query
split on page 1 reports through its narrower queries), logged per query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.settings import BaseSettings

from envision_spiders.bases.spider import EnvisionSpider, SpiderArgumentError, declare_callbacks, politeness
from envision_spiders.pages.base import MalformedPage

PAGING_META = "envision_paging"

# Politeness for APIs that ask for at most one request per second (Figshare, NIH RePORTER;
# suggested for Kaggle).
ONE_REQUEST_PER_SECOND: dict[str, Any] = politeness(1.0)


class SearchResults(NamedTuple):
    """What ``read_page`` gives: the readable hits, a description of each other, how many
    entries the page had (readable or not: a short page is the last) and the API's total."""

    hits: list[Any]
    problems: list[str]
    count: int
    total: int | None = None


@dataclass(frozen=True)
class PageCursor:
    """Where one page sits: the spider's own query object, the page and what we know so far."""

    query: Any
    page: int
    page_size: int
    total: int | None = None  # from the API, when it says
    lost: int = 0  # consecutive pages given up as malformed just before this one
    resume: Any = None  # the spider's continuation after the pages read before this one


    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def reachable_results(page_size: int, max_offset: int) -> int:
    """How many results of one query page-aligned offsets reach when no offset may pass
    ``max_offset``: the deepest multiple of ``page_size`` at or below it, plus one page."""
    if max_offset < 0:
        return 0
    return (max_offset // page_size) * page_size + page_size


class OffsetPagingSpider(EnvisionSpider):
    search_page: type | None = None
    page_size_setting: str | tuple[str, str] = ""
    max_offset_setting: str = ""
    max_page_setting: str = ""
    max_results_setting: str = ""
    cap_statuses: tuple[int, ...] = ()
    max_lost_pages: int = 1  # consecutive malformed pages skipped before a query is abandoned
    fan_out: bool = False
    unreadable_what: str = "hit"  # what an entry is, in the log and in envision/search/unreadable_<what>s

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declare_callbacks(cls, ("search_page", "parse_search", "follow_search"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hits_seen: set[str] = set()

    @classmethod
    def page_limits(cls, settings: BaseSettings) -> tuple[int, int]:
        """``(page_size, max_offset)`` from the settings, validated."""
        name = cls.page_size_setting
        if isinstance(name, tuple):
            name = name[1] if cls.has_token(settings) else name[0]
        page_size = settings.getint(name)
        if page_size < 1:
            raise SpiderArgumentError(f"setting {name} must be at least 1")
        if cls.max_page_setting:
            return page_size, (settings.getint(cls.max_page_setting) - 1) * page_size
        if cls.max_results_setting:
            return page_size, settings.getint(cls.max_results_setting) - page_size
        return page_size, settings.getint(cls.max_offset_setting)

    @classmethod
    def preflight(cls, settings: BaseSettings, **arguments: Any) -> None:
        super().preflight(settings, **arguments)
        cls.page_limits(settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> OffsetPagingSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.page_size, spider.max_offset = cls.page_limits(crawler.settings)
        return spider

    # --- hooks ------------------------------------------------------------------------------
    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        raise NotImplementedError

    async def read_page(self, page: Any) -> SearchResults:
        raise NotImplementedError

    async def on_hits(self, response: Response, hits: list[Any]) -> AsyncIterator[Any]:
        for record in self.take(hits):  # default: the hits are records already (Zenodo)
            yield record

    def hit_key(self, hit: Any) -> str | None:
        return None

    def split(self, query: Any) -> list[Any] | None:
        return None

    def continuation(self, query: Any, hits: list[Any]) -> Any | None:
        return None

    def _fresh(self, hits: list[Any]) -> list[Any]:
        fresh = []
        for hit in hits:
            key = self.hit_key(hit)
            if key is not None and key in self._hits_seen:
                self.crawler.stats.inc_value("envision/search/repeated_hits")
                continue
            if key is not None:
                self._hits_seen.add(key)
            fresh.append(hit)
        return fresh

    def more_wanted(self) -> bool:
        """Whether to ask for another page (default: ``max_records`` not reached yet)."""
        return self.wants_more

    # --- the page callback -------------------------------------------------------------------
    async def follow_search(self, response: Response, page: Any) -> AsyncIterator[Any]:
        if response.status in self.cap_statuses:
            for request in self.past_cap(response):
                yield request
            return
        try:
            hits, problems, count, total = await self.read_page(page)
        except MalformedPage as exc:
            for request in self.lost_page(response, exc):
                yield request
            return
        self.skip_unreadable(response, problems, self.unreadable_what)
        use_hits, follow = self.paging(response, count, total, hits)
        if use_hits:
            async for out in self.on_hits(response, self._fresh(hits)):
                yield out
        for request in follow:
            yield request

    # --- paging -------------------------------------------------------------------------------
    @property
    def reachable(self) -> int:
        """How many results of one query paging can reach."""
        return reachable_results(self.page_size, self.max_offset)

    def first_page(self, query: Any) -> scrapy.Request:
        return self._request(PageCursor(query=query, page=1, page_size=self.page_size))

    def _request(self, cursor: PageCursor) -> scrapy.Request:
        request = self.page_request(cursor)
        request.meta[PAGING_META] = cursor
        if self.cap_statuses:
            request.meta["handle_httpstatus_list"] = list(self.cap_statuses)
        return request

    def _count(self, key: str) -> None:
        self.crawler.stats.inc_value(f"envision/paging/{key}")

    def _split_or_truncate(self, cursor: PageCursor, why: str, resume: Any = None) -> list[scrapy.Request]:
        if resume is not None:
            self._count("splits")
            self.logger.info("Continuing %r as %r: %s", cursor.query, resume, why)
            return [self.first_page(resume)]
        queries = self.split(cursor.query)
        if queries:
            self._count("splits")
            self.logger.info("Splitting %r into %d narrower queries: %s", cursor.query, len(queries), why)
            return [self.first_page(q) for q in queries]
        self._count("truncated")
        lost = cursor.total - self.reachable if cursor.total is not None else None
        if lost:
            self.crawler.stats.inc_value("envision/paging/lost_results", lost)
        self.logger.error("Results of %r truncated: %s, and the query cannot be split: %s results lost",
                          cursor.query, why, lost if lost else "an unknown number of (the API tells no total)")
        return []

    def paging(self, response: Response, count: int, total: int | None = None,
               hits: list[Any] | tuple[Any, ...] = ()) -> tuple[bool, Iterator[scrapy.Request]]:
        """Whether this page's hits are to be used, and (lazily: iterate it *after* emitting the
        hits, so ``max_records`` counts them) the requests that follow this page (``hits``: the
        page's readable hits, for ``continuation``)."""
        cursor: PageCursor = response.meta[PAGING_META]
        if total is not None:
            cursor = replace(cursor, total=total)
        self._count("pages")
        if count and cursor.page == 1 and cursor.total is not None and cursor.total > self.reachable:
            requests = self._split_or_truncate(cursor, f"{cursor.total} results, {self.reachable} reachable")
            if requests:
                return False, iter(requests)
        if cursor.page == 1 and cursor.total is not None:
            self._report_total(cursor)
        return True, self._follow(replace(cursor, lost=0), count, list(hits))

    def _report_total(self, cursor: PageCursor) -> None:
        """A query's hits as its first page says (those paging can reach): logged, and summed in
        ``envision/search/total`` (the expected figure of the progress line)."""
        hits = min(cursor.total or 0, self.reachable)
        self.crawler.stats.inc_value("envision/search/total", hits)
        self.crawler.stats.inc_value("envision/search/queries_reported")
        self.logger.info("Query %s: %d hits", str(cursor.query)[:120], hits)

    def _follow(self, cursor: PageCursor, count: int, hits: list[Any]) -> Iterator[scrapy.Request]:
        if count == 0:
            return
        if self.fan_out and cursor.total is not None:
            if cursor.page == 1:
                yield from self._fan_out(cursor)
            return
        if cursor.total is not None and cursor.offset + count >= cursor.total:
            return
        if count < cursor.page_size:
            if cursor.total is None:
                return  # the last page
            self._count("short_pages")
            self.logger.warning(
                "%d of %d results at offset %d of %r although the API counts %d: going on to the next page",
                count, cursor.page_size, cursor.offset, cursor.query, cursor.total,
            )
        if not self.more_wanted():
            return
        yield from self._next(cursor, hits)

    def _fan_out(self, cursor: PageCursor) -> Iterator[scrapy.Request]:
        """Every other page of a query whose total is known, at once."""
        reachable = min(cursor.total or 0, self.reachable)
        if self.max_records is not None:
            reachable = min(reachable, self.max_records)
        for number in range(2, -(-reachable // cursor.page_size) + 1):
            yield self._request(replace(cursor, page=number))

    def _next(self, cursor: PageCursor, hits: list[Any] | None = None) -> list[scrapy.Request]:
        resume = self.continuation(cursor.query, hits) if hits else cursor.resume
        following = replace(cursor, page=cursor.page + 1, resume=resume)
        if following.offset > self.max_offset:
            if cursor.total is not None:  # already reported (split or truncated) on page 1
                return []
            return self._split_or_truncate(cursor, f"the paging cap (offset {self.max_offset}) is reached", resume)
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
        yield from self._split_or_truncate(cursor, f"HTTP {response.status} at offset {cursor.offset}", cursor.resume)

    def lost_page(self, response: Response, error: Exception) -> Iterator[scrapy.Request]:
        """A page that is not the JSON expected: fetched again, then skipped (bounded)."""
        retry = self.retry_malformed(response, error)
        if retry is not None:
            yield retry
            return
        cursor: PageCursor = response.meta[PAGING_META]
        self._count("lost_pages")
        if self.fan_out and cursor.page == 1:
            self._count("lost_queries")
            self.logger.error("Lost query %r: its first page never came back readable", str(cursor.query)[:80])
            return
        if self.fan_out and cursor.total is not None:  # the other pages are requested already
            return
        if cursor.lost >= self.max_lost_pages or not self.more_wanted():
            self.logger.error("Abandoning %r after %d malformed page(s) in a row", cursor.query, cursor.lost + 1)
            return
        if cursor.total is not None and cursor.offset + cursor.page_size >= cursor.total:
            return
        yield from self._next(replace(cursor, lost=cursor.lost + 1))

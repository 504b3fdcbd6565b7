"""The project's one HTTP Range path: build ranged requests, stop a server that ignores them,
validate the answers, count them, and read byte ranges of a file under a budget.

Archive inspection (:class:`RangeReader`, via ``inspection/drivers.py``) and ranged downloads
(``downloads/fetch.py``) both go through this module:

* :func:`range_request` builds every ``Range`` (and ``If-Range``) request: ``Accept-Encoding:
  identity``, ``dont_filter=True`` and ``dont_cache`` (fingerprints ignore headers: two ranges of
  one URL would collide), ``NO_CALLBACK`` for ``crawler.engine.download_async``, and a
  ``download_maxsize`` cap derived from what was asked. What was asked travels in
  ``meta[META_RANGE]``. Header values come from the pure companion :mod:`.byteranges`.
* :func:`stop_ignored_range`, connected to the ``headers_received`` signal by
  :func:`install_range_guard`, stops a download the server answered without a range (200 with
  more than was asked for, or of unknown length) on its headers (``StopDownload(fail=False)``),
  before any body byte is buffered. A caller may accept a whole body up to ``accept_whole``
  bytes instead (ranged downloads fall back to it).
* :func:`range_answer` validates the response (206 with a ``Content-Range`` or a
  ``multipart/byteranges`` body, a whole 200 small enough to keep, 416) and raises the
  :class:`RangeError` family otherwise. Stats: ``envision/range/<event>``.
* :class:`RangeReader`: ranged reads of one file under a request and byte budget.

Redirects are Scrapy's RedirectMiddleware: it drops ``Authorization`` (and ``Cookie``) when
a redirect leaves the origin (scheme, host or port change). After a redirect the reader keeps
reading from the final URL for the rest of its batch, without the caller's extra headers when
that URL is on another origin (``sticky_redirects=False``: every read resolves it again).

This module raises its own exceptions (the http layer knows nothing of archives); callers map
them to their outcomes (an archive status, a failed download).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, StopDownload
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.statscollectors import StatsCollector

from envision_spiders.http.byteranges import (
    RangeHeaderError,
    format_range_header,
    merge_ranges,
    multipart_boundary,
    parse_content_range,
    parse_multipart_byteranges,
)
from envision_spiders.http.slots import SLOT_META, leaves_budget, object_store_slot

META_RANGE = "envision_range"  # what a ranged request asked for (RangeAsked)
PART_OVERHEAD = 256  # multipart/byteranges headers + boundary per part (nginx: ~100-130 bytes)
MAXSIZE_SLACK = 64 * 1024
STATS_PREFIX = "envision/range/"


class RangeError(Exception):
    """A ranged read failed; ``str()`` is safe to store (no headers, no tokens)."""


class RangeNotSupported(RangeError):
    """The server answered 200 with more than was asked for (Range ignored); download stopped."""


class MultiRangeRefused(RangeNotSupported):
    """The server ignored a multi-range request (S3, GCS, ``max_ranges 1``)."""


class RangeChanged(RangeError):
    """An ``If-Range`` request was answered with 200: the file is no longer the one validated."""


class RangeNotSatisfiable(RangeError):
    """416: the range starts past the end of the file (``total`` from ``Content-Range: */N``)."""

    def __init__(self, message: str, total: int | None) -> None:
        super().__init__(message)
        self.total = total


class BudgetExhausted(RangeError):
    """The per-file request or byte budget does not allow the next read."""


class FetchFailed(RangeError):
    """Any other failure: HTTP error status, network error, malformed range response."""


class BodyTooLarge(FetchFailed):
    """The answer ran over its ``download_maxsize`` (a whole file of unknown length bigger than
    accepted, or a range answer bigger than asked for) and was cancelled."""


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeAsked:
    """What a ranged request asked for (``meta[META_RANGE]``; kept across redirects)."""

    ranges: tuple[tuple[int, int], ...] | None
    suffix: int | None
    if_range: bool
    expect: int  # body bytes a range answer may legitimately carry
    accept_whole: int  # a whole 200 body up to this size is kept instead of stopped

    @property
    def multi(self) -> bool:
        return self.ranges is not None and len(self.ranges) > 1


def range_request(
    url: str,
    ranges: list[tuple[int, int]] | None = None,
    *,
    suffix: int | None = None,
    if_range: str | None = None,
    accept_whole: int = 0,
    headers: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Request:
    """A GET for ``ranges`` (half-open, merged by the caller) or the last ``suffix`` bytes.

    ``if_range`` is a validator (strong ETag or Last-Modified) sent as ``If-Range``.
    ``accept_whole`` > 0 lets a server ignoring Range send the whole file up to that size
    (``download_maxsize`` caps a body of unknown length); by default such an answer is stopped on
    its headers. ``meta`` is merged under the range keys (e.g. ``handle_httpstatus_list``).
    """
    value = format_range_header(ranges, suffix=suffix)
    if suffix is not None:
        expect = suffix
    else:
        assert ranges
        expect = sum(end - start for start, end in ranges)
        if len(ranges) > 1:
            expect += PART_OVERHEAD * len(ranges) + 256
    asked = RangeAsked(
        ranges=tuple(ranges) if suffix is None and ranges else None,
        suffix=suffix,
        if_range=bool(if_range),
        expect=expect,
        accept_whole=max(0, accept_whole),
    )
    merged = {**(headers or {}), "Range": value, "Accept-Encoding": "identity", "Accept": "*/*"}
    if if_range:
        merged["If-Range"] = if_range
    return Request(
        url,
        headers=merged,
        callback=NO_CALLBACK,
        dont_filter=True,
        meta={
            "handle_httpstatus_list": [200, 206, 416],
            **(meta or {}),
            "download_maxsize": max(expect + MAXSIZE_SLACK, asked.accept_whole),
            "dont_cache": True,  # fingerprints ignore headers: two ranges of a URL would collide
            META_RANGE: asked,
        },
    )


def stop_ignored_range(headers: Any, body_length: Any, request: Request, spider: Any = None) -> None:
    """``headers_received`` handler: stop a ranged download the server answered without a range.

    Only acts on requests built by :func:`range_request`. A response with ``Content-Range``, a
    ``multipart/byteranges`` body, a redirect, or a known length within what the caller accepts
    goes on; a body of unknown length goes on only when the caller accepts a whole body
    (``download_maxsize`` caps it); anything else is stopped at once.
    """
    asked = request.meta.get(META_RANGE)
    if not isinstance(asked, RangeAsked):
        return
    if headers.get(b"Content-Range") or headers.get(b"Location"):
        return
    if multipart_boundary(headers.get(b"Content-Type")):
        return
    known = isinstance(body_length, int) and body_length >= 0
    if known and body_length <= max(asked.expect, asked.accept_whole):
        return
    if not known and asked.accept_whole:
        return
    raise StopDownload(fail=False)


def install_range_guard(crawler: Crawler) -> None:
    """Connect :func:`stop_ignored_range` (idempotent: the dispatcher keeps one connection)."""
    crawler.signals.connect(stop_ignored_range, signal=signals.headers_received)


# --- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeAnswer:
    """A usable answer: the parts received as ``(offset, bytes)``, and the file size if known.

    ``whole`` is a 200 with the whole file (the server ignored Range, the file was small enough).
    ``headers`` are the response's (validators for ``If-Range``: ETag, Last-Modified).
    """

    parts: list[tuple[int, bytes]]
    total: int | None
    whole: bool = False
    headers: Any = None

    def exact(self, start: int, end: int | None, size: int | None = None) -> bytes:
        """The single part, which must be exactly ``[start, min(end, total))`` of a file of known
        total (equal to ``size`` when given); ``end=None`` accepts any end."""
        if self.whole or len(self.parts) != 1:
            raise FetchFailed("not a single byte range")
        got_start, data = self.parts[0]
        got_end = got_start + len(data)
        if self.total is None:
            raise FetchFailed("Content-Range without a total size")
        if size is not None and self.total != size:
            raise FetchFailed(f"size mismatch: server has {self.total} bytes, repository says {size}")
        if got_start != start or (end is not None and got_end != min(end, self.total)):
            raise FetchFailed(f"asked for bytes {start}-{end}, got {got_start}-{got_end}")
        return data


def range_answer(response: Response, stats: StatsCollector | None = None) -> RangeAnswer:
    """Validate the answer to a :func:`range_request`; count it under ``envision/range/``.

    Raises :class:`RangeNotSatisfiable` (416), :class:`RangeChanged` (200 to ``If-Range``),
    :class:`MultiRangeRefused` / :class:`RangeNotSupported` (a 200 stopped on its headers) and
    :class:`FetchFailed` (another status, or a 206 that does not say what it carries).
    """
    asked = response.meta.get(META_RANGE)
    if not isinstance(asked, RangeAsked):
        raise ValueError("not the answer to a range_request()")

    def count(event: str, value: int = 1) -> None:
        if stats is not None:
            stats.inc_value(STATS_PREFIX + event, value)

    count("responses")
    count("bytes", len(response.body))
    status = response.status
    if status == 416:
        count("not_satisfiable")
        try:
            _, _, total = parse_content_range(response.headers.get(b"Content-Range"))
        except RangeHeaderError:
            total = None
        raise RangeNotSatisfiable(f"HTTP 416 (file is {total} bytes)", total)
    if status == 200:
        if asked.if_range:
            count("changed")
            raise RangeChanged("If-Range answered with the whole file")
        count("ignored")
        if "download_stopped" in response.flags:
            if asked.multi:
                count("multirange_refused")
                raise MultiRangeRefused("multi-range request answered with 200 (stopped)")
            raise RangeNotSupported("Range ignored: HTTP 200 with the whole file (stopped)")
        return RangeAnswer([(0, response.body)], len(response.body), whole=True, headers=response.headers)
    if status != 206:
        count("failed")
        raise FetchFailed(f"HTTP {status}")
    try:
        return replace(_partial_content(response), headers=response.headers)
    except (RangeHeaderError, FetchFailed) as exc:
        count("invalid")
        raise FetchFailed(str(exc)) from None


def _partial_content(response: Response) -> RangeAnswer:
    boundary = multipart_boundary(response.headers.get(b"Content-Type"))
    if boundary:
        parts = parse_multipart_byteranges(response.body, boundary)
        totals = {t for _, _, t in parts if t is not None}
        return RangeAnswer([(start, data) for start, data, _ in parts], totals.pop() if totals else None)
    start, end, total = parse_content_range(response.headers.get(b"Content-Range"))
    if start is None or end is None:
        raise FetchFailed("206 without a byte range")
    body = response.body
    if len(body) != end - start:
        raise FetchFailed(f"206 body of {len(body)} bytes for a {end - start}-byte range")
    return RangeAnswer([(start, body)], total)


# --- a reader over one file ------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


Download = Callable[[Request], Awaitable[Response]]
UNLIMITED = sys.maxsize


class RangeReader:
    """Ranged reads of one file, counting HTTP requests (redirect hops included) and body bytes.

    ``size`` is the file size if known (from the repository API); it is learned or corrected
    from ``Content-Range``. ``keep_bytes`` of the bytes already read are kept so that later reads
    inside them cost nothing. Every request is a :func:`range_request` whose answer is checked by
    :func:`range_answer`.

    Archive inspection uses the budgeted reads (:meth:`read`, :meth:`read_tail`,
    :meth:`read_many`). Ranged downloads use :meth:`fetch` (one request, its validated answer)
    with ``if_range`` (the file's validator), ``download`` (their own per-host limiter and
    counters around ``engine.download_async``), ``sticky_redirects=False`` (each range resolves
    the redirect again, so an expiring signed URL is never reused) and ``UNLIMITED`` budgets.
    """

    def __init__(
        self,
        crawler: Crawler,
        url: str,
        *,
        size: int | None = None,
        headers: dict[str, str] | None = None,
        max_requests: int = 16,
        max_bytes: int = 32 << 20,
        multirange: bool = True,
        keep_bytes: int = 4 << 20,
        if_range: str | None = None,
        sticky_redirects: bool = True,
        download: Download | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.crawler = crawler
        self.url = url
        self.size = size if size and size > 0 else None
        self.reported_size = self.size
        self.headers = dict(headers or {})
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.multirange = multirange
        self.keep_bytes = keep_bytes
        self.if_range = if_range
        self.sticky_redirects = sticky_redirects
        self.meta = dict(meta or {})
        self._download = download  # default: crawler.engine.download_async (set once crawling)
        self.requests = 0
        self.bytes = 0
        self.redirected_to: str | None = None
        self.multirange_refused = False
        self._known: list[tuple[int, bytes]] = []
        self._kept = 0

    # --- budget ------------------------------------------------------------------------
    def can_fetch(self, nbytes: int, requests: int = 1) -> bool:
        return self.requests + requests <= self.max_requests and self.bytes + nbytes <= self.max_bytes

    def _check_budget(self, nbytes: int) -> None:
        if self.requests >= self.max_requests:
            raise BudgetExhausted(f"request budget of {self.max_requests} used")
        if self.bytes + nbytes > self.max_bytes:
            raise BudgetExhausted(f"byte budget of {self.max_bytes} would be exceeded")

    # --- cache of bytes already read ------------------------------------------------------
    def remember(self, start: int, data: bytes) -> None:
        if data and self._kept + len(data) <= self.keep_bytes:
            self._known.append((start, data))
            self._kept += len(data)

    def cached(self, start: int, end: int) -> bytes | None:
        for offset, data in self._known:
            if offset <= start and end <= offset + len(data):
                return data[start - offset : end - offset]
        return None

    # --- reads -----------------------------------------------------------------------------
    async def read(self, start: int, end: int, *, remember: bool = False) -> bytes:
        """Bytes ``[start, end)`` (fewer at the end of the file)."""
        if self.size is not None:
            end = min(end, self.size)
        if end <= start:
            return b""
        hit = self.cached(start, end)
        if hit is not None:
            return hit
        parts = await self._fetch([(start, end)])
        data = _slice(parts, start, end)
        if data is None:
            raise FetchFailed(f"server did not return bytes {start}-{end - 1}")
        if remember:
            self.remember(start, data)
        return data

    async def read_tail(self, length: int) -> tuple[int, bytes]:
        """The last ``length`` bytes (or the whole file if smaller), with their offset."""
        if self.size is not None:
            start = max(0, self.size - length)
            try:
                return start, await self.read(start, self.size)
            except RangeNotSatisfiable as exc:  # the API's size was wrong: ask the server
                if exc.total is None:
                    raise
                self.size = exc.total
                if self.size == 0:
                    raise RangeNotSatisfiable("the file is empty", 0) from None
                start = max(0, self.size - length)
                return start, await self.read(start, self.size)
        parts = await self._fetch(None, suffix=length)
        if self.size is None:
            raise FetchFailed("no Content-Range total in the answer to a suffix range")
        start, data = parts[0]
        return start, data

    async def read_many(self, ranges: list[tuple[int, int]], *, merge_gap: int = 0) -> list[tuple[int, bytes]]:
        """Several ranges: one multi-range request where the server allows it, else one request
        per (merged) range while the budget lasts. Returns the parts obtained."""
        wanted = merge_ranges(
            [(s, min(e, self.size) if self.size is not None else e) for s, e in ranges], gap=merge_gap
        )
        missing = [(s, e) for s, e in wanted if self.cached(s, e) is None]
        got: list[tuple[int, bytes]] = [(s, self.cached(s, e) or b"") for s, e in wanted if (s, e) not in missing]
        if not missing:
            return got
        if len(missing) > 1 and self.multirange:
            try:
                return got + await self._fetch(missing)
            except MultiRangeRefused:
                self.multirange = False
                self.multirange_refused = True
        for start, end in missing:
            if not self.can_fetch(end - start):
                break
            got += await self._fetch([(start, end)])
        return got

    async def _fetch(self, ranges: list[tuple[int, int]] | None, *, suffix: int | None = None) -> list[tuple[int, bytes]]:
        answer = await self.fetch(ranges, suffix=suffix)
        if answer.whole and not answer.parts[0][1]:
            self.size = 0
            raise RangeNotSatisfiable("the file is empty", 0)
        return answer.parts

    async def fetch(
        self, ranges: list[tuple[int, int]] | None, *, suffix: int | None = None, accept_whole: int = 0
    ) -> RangeAnswer:
        """One ranged request under the budget and its validated answer (see :func:`range_answer`).

        ``accept_whole``: a server ignoring Range may send the whole file up to that many bytes
        (``answer.whole``); by default such an answer is stopped and :class:`RangeNotSupported`
        raised. An answer that runs over its ``download_maxsize`` raises :class:`BodyTooLarge`.
        """
        expect = suffix if suffix is not None else sum(e - s for s, e in ranges or [])
        self._check_budget(expect)
        request = range_request(
            self.url,
            ranges,
            suffix=suffix,
            if_range=self.if_range,
            accept_whole=accept_whole,
            headers=self.headers,
            meta=self.meta,
        )
        self.requests += 1
        try:
            response = await (self._download or self.crawler.engine.download_async)(request)
        except IgnoreRequest as exc:
            raise FetchFailed(f"request ignored: {type(exc).__name__}: {exc}") from exc
        except DownloadCancelledError as exc:  # over download_maxsize
            raise BodyTooLarge(f"download failed: {type(exc).__name__}: {exc}"[:300]) from exc
        except Exception as exc:  # noqa: BLE001  network errors, timeouts
            raise FetchFailed(f"download failed: {type(exc).__name__}: {exc}"[:300]) from exc
        hops = len(response.meta.get("redirect_urls") or ()) if response.request is not None else 0
        self.requests += hops
        self.bytes += len(response.body)
        if hops and response.url != self.url and self.sticky_redirects:
            self._follow(response.url)
        try:
            answer = range_answer(response, self.crawler.stats)
        except RangeNotSatisfiable as exc:
            if exc.total is not None:
                self.size = exc.total
            raise
        if answer.total is not None:
            self.size = answer.total
        return answer

    def _follow(self, final_url: str) -> None:
        if leaves_budget(self.meta.get(SLOT_META), self.url, final_url):
            # the caller's slot keeps the rate of the URL it gave, not of an object store it led to
            self.meta[SLOT_META] = object_store_slot(final_url)
        if _origin(final_url) != _origin(self.url):
            self.headers = {}  # never carry credentials to another origin ourselves
        self.redirected_to = final_url
        self.url = final_url


def _slice(parts: list[tuple[int, bytes]], start: int, end: int) -> bytes | None:
    """``[start, end)`` out of the parts received, if one covers it (servers may widen ranges)."""
    for offset, data in parts:
        if offset <= start < offset + len(data):
            return data[start - offset : end - offset]
    return None


def slice_parts(parts: list[tuple[int, bytes]], start: int, end: int) -> bytes | None:
    """Public alias of the part lookup, for callers of :meth:`RangeReader.read_many`."""
    return _slice(parts, start, end)


__all__ = [
    "META_RANGE",
    "UNLIMITED",
    "BodyTooLarge",
    "BudgetExhausted",
    "FetchFailed",
    "MultiRangeRefused",
    "RangeAnswer",
    "RangeAsked",
    "RangeChanged",
    "RangeError",
    "RangeNotSatisfiable",
    "RangeNotSupported",
    "RangeReader",
    "install_range_guard",
    "range_answer",
    "range_request",
    "slice_parts",
    "stop_ignored_range",
]

"""Byte-range reads through Scrapy's own downloader, under a request and byte budget.

Every request goes through ``crawler.engine.download_async`` (downloader middlewares apply:
retries, backoff, proxies, redirects, stats) with ``dont_filter=True`` and ``NO_CALLBACK``,
``Accept-Encoding: identity`` and a ``download_maxsize`` cap. A server that ignores ``Range``
answers 200 with the whole file: :func:`stop_ignored_range`, connected to the
``headers_received`` signal, stops such a download on its headers (``StopDownload(fail=False)``)
before any body byte is buffered, and the reader raises :class:`RangeNotSupported`.

Redirects are Scrapy's RedirectMiddleware: it drops ``Authorization`` (and ``Cookie``) when
a redirect leaves the origin (scheme, host or port change). After a redirect the reader keeps
reading from the final URL for the rest of its batch, without the caller's extra headers when
that URL is on another origin.

Reusable outside archive inspection (ranged downloads): :class:`RangeReader`,
:func:`range_request`, :func:`stop_ignored_range`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK

from envision_spiders.http.byteranges import (
    RangeHeaderError,
    format_range_header,
    merge_ranges,
    multipart_boundary,
    parse_content_range,
    parse_multipart_byteranges,
)

logger = logging.getLogger(__name__)

META_EXPECT = "envision_range_expect"  # body bytes a ranged request may legitimately receive
PART_OVERHEAD = 256  # multipart/byteranges headers + boundary per part (nginx: ~100-130 bytes)
MAXSIZE_SLACK = 64 * 1024


class RangeError(Exception):
    """A ranged read failed; ``str()`` is safe to store (no headers, no tokens)."""


class RangeNotSupported(RangeError):
    """The server answered 200 with more than was asked for (Range ignored); download stopped."""


class MultiRangeRefused(RangeNotSupported):
    """The server ignored a multi-range request (S3, GCS, ``max_ranges 1``)."""


class RangeNotSatisfiable(RangeError):
    """416: the range starts past the end of the file (``total`` from ``Content-Range: */N``)."""

    def __init__(self, message: str, total: int | None) -> None:
        super().__init__(message)
        self.total = total


class BudgetExhausted(RangeError):
    """The per-file request or byte budget does not allow the next read."""


class FetchFailed(RangeError):
    """Any other failure: HTTP error status, network error, malformed range response."""


def stop_ignored_range(headers: Any, body_length: Any, request: Request, spider: Any = None) -> None:
    """``headers_received`` handler: stop a ranged download the server answered without a range.

    Only acts on requests carrying ``meta[META_EXPECT]``. A response with ``Content-Range``,
    a ``multipart/byteranges`` body, a redirect, or a known length within the expected size
    goes on; anything else (a whole file, or a body of unknown length) is stopped at once.
    """
    expect = request.meta.get(META_EXPECT)
    if expect is None:
        return
    if headers.get(b"Content-Range") or headers.get(b"Location"):
        return
    if multipart_boundary(headers.get(b"Content-Type")):
        return
    if isinstance(body_length, int) and 0 <= body_length <= expect:
        return
    raise StopDownload(fail=False)


def install_range_guard(crawler: Crawler) -> None:
    """Connect :func:`stop_ignored_range` (idempotent: the dispatcher keeps one connection)."""
    crawler.signals.connect(stop_ignored_range, signal=signals.headers_received)


def range_request(
    url: str,
    ranges: list[tuple[int, int]] | None = None,
    *,
    suffix: int | None = None,
    headers: dict[str, str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Request:
    """A GET for ``ranges`` (half-open, merged by the caller) or the last ``suffix`` bytes."""
    if suffix is not None:
        value, expect = f"bytes=-{suffix}", suffix
    elif ranges:
        value = format_range_header(ranges)
        expect = sum(end - start for start, end in ranges)
        if len(ranges) > 1:
            expect += PART_OVERHEAD * len(ranges) + 256
    else:
        raise ValueError("ranges or suffix required")
    return Request(
        url,
        headers={**(headers or {}), "Range": value, "Accept-Encoding": "identity", "Accept": "*/*"},
        callback=NO_CALLBACK,
        dont_filter=True,
        meta={
            "download_maxsize": expect + MAXSIZE_SLACK,
            "handle_httpstatus_list": [200, 206, 416],
            "dont_cache": True,  # fingerprints ignore headers: two ranges of a URL would collide
            META_EXPECT: expect,
            **(meta or {}),
        },
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


class RangeReader:
    """Ranged reads of one file, counting HTTP requests (redirect hops included) and body bytes.

    ``size`` is the file size if known (from the repository API); it is learned or corrected
    from ``Content-Range``. ``known`` keeps the bytes already read so that later reads inside
    them cost nothing.
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
        expect = suffix if suffix is not None else sum(e - s for s, e in ranges or [])
        self._check_budget(expect)
        request = range_request(self.url, ranges, suffix=suffix, headers=self.headers)
        self.requests += 1
        try:
            response = await self.crawler.engine.download_async(request)
        except IgnoreRequest as exc:
            raise FetchFailed(f"request ignored: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # noqa: BLE001  network errors, timeouts, cancelled oversize downloads
            raise FetchFailed(f"download failed: {type(exc).__name__}: {exc}"[:300]) from None
        hops = len(response.meta.get("redirect_urls") or ()) if response.request is not None else 0
        self.requests += hops
        self.bytes += len(response.body)
        if hops and response.url != self.url:
            self._follow(response.url)
        return self._parts(response, ranges, suffix)

    def _follow(self, final_url: str) -> None:
        if _origin(final_url) != _origin(self.url):
            self.headers = {}  # never carry credentials to another origin ourselves
        self.redirected_to = final_url
        self.url = final_url

    def _parts(
        self, response: Response, ranges: list[tuple[int, int]] | None, suffix: int | None
    ) -> list[tuple[int, bytes]]:
        status = response.status
        if status == 416:
            try:
                _, _, total = parse_content_range(response.headers.get(b"Content-Range"))
            except RangeHeaderError:
                total = None
            if total is not None:
                self.size = total
            raise RangeNotSatisfiable(f"HTTP 416 (file is {total} bytes)", total)
        if status == 200:
            if "download_stopped" in response.flags:
                if ranges is not None and len(ranges) > 1:
                    raise MultiRangeRefused("multi-range request answered with 200 (stopped)")
                raise RangeNotSupported("Range ignored: HTTP 200 with the whole file (stopped)")
            # a whole file small enough to be what we asked for
            self.size = len(response.body)
            if self.size == 0:
                raise RangeNotSatisfiable("the file is empty", 0)
            return [(0, response.body)]
        if status != 206:
            raise FetchFailed(f"HTTP {status}")
        boundary = multipart_boundary(response.headers.get(b"Content-Type"))
        try:
            if boundary:
                parts = parse_multipart_byteranges(response.body, boundary)
                totals = {t for _, _, t in parts if t is not None}
                if totals:
                    self.size = totals.pop()
                return [(start, data) for start, data, _ in parts]
            start, end, total = parse_content_range(response.headers.get(b"Content-Range"))
        except RangeHeaderError as exc:
            raise FetchFailed(str(exc)) from None
        if start is None or end is None:
            raise FetchFailed("206 without a byte range")
        if total is not None:
            self.size = total
        body = response.body
        if len(body) != end - start:
            raise FetchFailed(f"206 body of {len(body)} bytes for a {end - start}-byte range")
        return [(start, body)]


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
    "META_EXPECT",
    "BudgetExhausted",
    "FetchFailed",
    "MultiRangeRefused",
    "RangeError",
    "RangeNotSatisfiable",
    "RangeNotSupported",
    "RangeReader",
    "install_range_guard",
    "logger",
    "range_request",
    "slice_parts",
    "stop_ignored_range",
]

"""Fetching one file through Scrapy's downloader, whole or in fixed-size ranges, with bounded memory.

Every byte goes through ``crawler.engine.download_async`` (downloader middlewares, retries,
backoff, redirects, stats apply). Ranged requests are the project's one Range path,
:class:`envision_spiders.http.ranges.RangeReader` (request building, the guard that stops a
server ignoring Range on its headers, 206 / Content-Range validation, ``envision/range/*``
stats); this module maps its errors to download outcomes.

A ranged download writes each chunk at its offset into ``<name>.part`` and records finished
chunks in ``<name>.part.json`` (URL, size, chunk size, validator), so a killed crawl resumes
from what is on disk. Chunks after the first carry ``If-Range`` with the first response's strong
ETag (or Last-Modified): a 200 instead of 206 means the file changed mid-way, and the download
restarts once from zero. Hashes are computed in file order while chunks arrive (out-of-order
chunks wait in memory, at most ``ranges_in_flight`` of them), so no second pass over the file
is needed. Those hashes are the file's on disk only because nothing else writes it meanwhile:
callers hold the record folder's lock (``downloads/lock.py``) for the whole fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.datatypes import SequenceExclude
from scrapy.utils.httpobj import urlparse_cached

from envision_spiders.downloads.chunks import (
    Progress,
    if_range_value,
    load_progress,
    plan_chunks,
    save_progress,
    strong_validator,
)
from envision_spiders.downloads.config import FetchConfig
from envision_spiders.downloads.gate import Checksum, MultiHasher, verify
from envision_spiders.downloads.paths import PART_SUFFIX, SIDECAR_SUFFIX
from envision_spiders.http.ranges import (
    UNLIMITED,
    BodyTooLarge,
    RangeAnswer,
    RangeChanged,
    RangeError,
    RangeNotSupported,
    RangeReader,
    install_range_guard,
)
from envision_spiders.progress.figures import duration
from envision_spiders.progress.figures import size as human_size

logger = logging.getLogger(__name__)

# every status reaches us except 3xx, which RedirectMiddleware follows (it drops Authorization
# when the redirect leaves the origin: scheme, host or port differ)
NON_REDIRECT_STATUSES = SequenceExclude(range(300, 400))


class DownloadFailed(Exception):
    """A file could not be fetched or verified; the message goes into the manifest."""


class ChangedMidway(Exception):
    """The file changed between two ranged requests (If-Range answered 200): start again from zero."""


@dataclass
class Fetched:
    size: int
    digests: dict[str, str]
    verification: str
    bytes_fetched: int
    mode: str  # "whole" | "ranged" | "ranged-resumed" | "whole-fallback"


def part_paths(dest: Path) -> tuple[Path, Path]:
    return dest.with_name(dest.name + PART_SUFFIX), dest.with_name(dest.name + SIDECAR_SUFFIX)


def discard(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class HostLimiter:
    """At most ``per_host`` requests in flight per host and ``total`` overall (file downloads only)."""

    def __init__(self, per_host: int, total: int) -> None:
        self._per_host = defaultdict(lambda: asyncio.Semaphore(per_host))
        self._total = asyncio.Semaphore(total)

    @contextlib.asynccontextmanager
    async def slot(self, request: Request) -> AsyncIterator[None]:
        host = urlparse_cached(request).netloc
        async with self._total, self._per_host[host]:
            yield


class FileProgress:
    """One ranged file's progress line, at most every ``interval`` seconds: bytes hashed in
    order (the verified prefix), MB/s since this run started on the file, ETA."""

    def __init__(self, url: str, size: int, interval: float, done: int = 0, clock: Any = time.monotonic) -> None:
        self.url, self.size, self.interval, self.clock = url, size, interval, clock
        self.started = self.last = clock()
        self.start_done = done

    def rate(self, done: int) -> float | None:
        seconds = self.clock() - self.started
        return (done - self.start_done) / seconds if seconds > 0 else None

    def update(self, done: int) -> None:
        now = self.clock()
        if not self.interval or now - self.last < self.interval or done >= self.size:
            return
        self.last = now
        rate = self.rate(done)
        eta = (self.size - done) / rate if rate else None
        logger.info(
            "Downloading %s: %s of %s (%.0f%%), %s/s, ETA %s", self.url, human_size(done), human_size(self.size),
            100 * done / self.size, human_size(rate or 0), duration(eta),
        )

    def finished(self) -> None:
        if self.interval and self.clock() - self.started >= self.interval:
            logger.info("Downloaded %s: %s at %s/s", self.url, human_size(self.size), human_size(self.rate(self.size) or 0))


class FileFetcher:
    """Fetches one file per call; shared by all files of a crawl (limits, stats)."""

    def __init__(self, crawler: Crawler, config: FetchConfig, limiter: HostLimiter) -> None:
        self.crawler = crawler
        self.config = config
        self.limiter = limiter
        self.stats = crawler.stats
        install_range_guard(crawler)

    # --- requests ------------------------------------------------------------------------
    @staticmethod
    def _meta(base: Request) -> dict[str, Any]:
        meta = {**base.meta, "handle_httpstatus_list": NON_REDIRECT_STATUSES, "download_warnsize": 0}
        meta.pop("handle_httpstatus_all", None)
        return meta

    @staticmethod
    def _headers(base: Request) -> dict[str, str]:
        return {k.decode(): b", ".join(v).decode("latin-1") for k, v in base.headers.items()}

    def derive(self, base: Request, maxsize: int) -> Request:
        """The whole-body request for ``base`` (ranged requests: :meth:`reader`)."""
        meta = {
            **self._meta(base),
            "download_maxsize": maxsize,
            "dont_cache": True,  # a URL's whole body and its ranges share a fingerprint
        }
        return Request(base.url, headers=self._headers(base), meta=meta, callback=NO_CALLBACK, dont_filter=True)

    def reader(self, base: Request, validator: dict[str, str] | None = None) -> RangeReader:
        """Ranged reads of ``base``'s file: ``If-Range`` with ``validator``, no budget, every range
        through :meth:`download` (per-host limits, ``envision/download/*`` counters), redirects
        resolved again for each range."""
        return RangeReader(
            self.crawler,
            base.url,
            headers=self._headers(base),
            max_requests=UNLIMITED,
            max_bytes=UNLIMITED,
            multirange=False,
            keep_bytes=0,
            if_range=if_range_value(validator or {}),
            sticky_redirects=False,
            download=self.download,
            meta=self._meta(base),
        )

    async def download(self, request: Request) -> Response:
        async with self.limiter.slot(request):
            response = await self.crawler.engine.download_async(request)
        self.stats.inc_value("envision/download/requests")
        self.stats.inc_value(f"envision/download/response_status/{response.status}")
        self.stats.inc_value("envision/download/bytes_received", len(response.body))
        return response

    # --- whole body ----------------------------------------------------------------------
    async def fetch_whole_response(self, base: Request, size: int | None) -> Response:
        maxsize = max(self.config.chunk_threshold, size or 0) + 1
        response = await self.download(self.derive(base, maxsize))
        if response.status != 200:
            raise DownloadFailed(f"HTTP {response.status}")
        return response

    async def persist_body(
        self, body: bytes, dest: Path, repository: Checksum | None, expected_size: int | None, mode: str
    ) -> Fetched:
        """Write a whole body to ``.part``, hash, verify, then rename into place."""
        part, sidecar = part_paths(dest)

        def write() -> Fetched:
            # hashing, writing and the rename all off the reactor thread
            dest.parent.mkdir(parents=True, exist_ok=True)
            hasher = MultiHasher(repository)
            hasher.update(body)
            with open(part, "wb") as fh:
                fh.write(body)
                if self.config.fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            return self._finish(
                part, sidecar, dest, hasher.hexdigests(), len(body), repository, expected_size, len(body), mode
            )

        return await asyncio.to_thread(write)

    def _finish(
        self,
        part: Path,
        sidecar: Path,
        dest: Path,
        digests: dict[str, str],
        size: int,
        repository: Checksum | None,
        expected_size: int | None,
        fetched: int,
        mode: str,
    ) -> Fetched:
        ok, verification = verify(digests, size, repository, expected_size)
        if not ok:
            discard(part, sidecar)  # never leave a bad file looking complete, nor resume from it
            self.stats.inc_value("envision/download/checksum_mismatch")
            raise DownloadFailed(verification)
        os.replace(part, dest)
        discard(sidecar)
        return Fetched(size, digests, verification, fetched, mode)

    # --- ranged --------------------------------------------------------------------------
    async def fetch_ranged(
        self, base: Request, dest: Path, size: int | None, repository: Checksum | None
    ) -> Fetched:
        part, sidecar = part_paths(dest)
        for attempt in (1, 2):
            try:
                return await self._ranged_attempt(base, dest, part, sidecar, size, repository)
            except ChangedMidway as exc:
                self.stats.inc_value("envision/download/changed_midway")
                discard(part, sidecar)
                logger.warning("%s changed on the server during the download (%s); attempt %d", base.url, exc, attempt)
        raise DownloadFailed("the file changed on the server during the download, twice")

    async def _ranged_attempt(
        self, base: Request, dest: Path, part: Path, sidecar: Path, size: int | None, repository: Checksum | None
    ) -> Fetched:
        chunk = self.config.chunk_size
        progress = load_progress(sidecar, part)
        if progress is not None and progress.matches(base.url, size if size is not None else progress.size, chunk):
            size = progress.size
            mode = "ranged-resumed"
            self.stats.inc_value("envision/download/resumed")
            self.stats.inc_value("envision/download/resumed_bytes", progress.bytes_done())
            first_body: bytes | None = None
        else:
            progress = None
            discard(part, sidecar)
            mode = "ranged"
            probe, validator = await self.probe(base, size)
            if probe.whole:  # the server ignores Range: the whole body fitted under the cap
                self.stats.inc_value("envision/download/range_ignored")
                return await self.persist_body(probe.parts[0][1], dest, repository, size, "whole-fallback")
            first_body = exact_body(probe, 0, None, size)
            size = total = probe.total
            assert total is not None
            progress = Progress(base.url, total, chunk, validator)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "wb") as fh:
                fh.truncate(total)
        assert size is not None
        reader = self.reader(base, progress.validator)
        chunks = plan_chunks(size, chunk)
        fd = os.open(part, os.O_RDWR)
        fetched = 0
        tasks: dict[int, asyncio.Task[bytes]] = {}
        try:
            if first_body is not None:
                await asyncio.to_thread(os.pwrite, fd, first_body, 0)
                fetched += len(first_body)
                progress.done.add(0)
                save_progress(sidecar, progress)

            async def fetch_chunk(i: int) -> bytes:
                start, end = chunks[i]
                body = await read_chunk(reader, start, end, size)
                await asyncio.to_thread(os.pwrite, fd, body, start)
                progress.done.add(i)
                save_progress(sidecar, progress)
                self.stats.inc_value("envision/download/chunks")
                return body

            hasher = MultiHasher(repository)
            on_disk = set(progress.done)
            meter = FileProgress(base.url, size, self.config.progress_interval, progress.bytes_done())
            next_start = 0
            for i, (start, end) in enumerate(chunks):
                # keep up to ranges_in_flight chunks requested or waiting to be hashed
                while next_start < len(chunks) and len(tasks) < self.config.ranges_in_flight:
                    if next_start not in on_disk:
                        tasks[next_start] = asyncio.ensure_future(fetch_chunk(next_start))
                    next_start += 1
                if i == 0 and first_body is not None:
                    data = first_body
                    first_body = None
                elif i in on_disk:
                    data = await asyncio.to_thread(os.pread, fd, end - start, start)
                else:
                    data = await tasks.pop(i)
                    fetched += len(data)
                await asyncio.gather(*(asyncio.to_thread(update) for update in hasher.updaters(data)))
                del data
                meter.update(end)
            if self.config.fsync:
                await asyncio.to_thread(os.fsync, fd)
        finally:
            for task in tasks.values():
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks.values(), return_exceptions=True)
            os.close(fd)
        meter.finished()
        self.stats.inc_value("envision/download/ranged_files")
        return self._finish(part, sidecar, dest, hasher.hexdigests(), hasher.size, repository, size, fetched, mode)

    async def probe(
        self, base: Request, size: int | None, chunk: int | None = None
    ) -> tuple[RangeAnswer, dict[str, str]]:
        """The first chunk (``chunk`` bytes, default the configured chunk size), without If-Range,
        and the validator for the next ones; a whole body (Range ignored) is accepted only up to
        ``max_whole_body``. The object-store path (``downloads/objects.py``) probes the same way."""
        chunk = chunk or self.config.chunk_size
        end = chunk if size is None else min(chunk, size)
        cap = self.config.max_whole_body
        reader = self.reader(base)
        try:
            answer = await reader.fetch([(0, end)], accept_whole=cap)
        except (RangeNotSupported, BodyTooLarge):
            self.stats.inc_value("envision/download/range_ignored")
            raise DownloadFailed(
                f"server ignores Range and file is larger than ENVISION_DOWNLOAD_MAX_WHOLE_BODY ({cap} bytes)"
            ) from None
        except RangeError as exc:
            raise range_failure(exc) from None
        return answer, strong_validator(answer.headers or {})


async def read_chunk(reader: RangeReader, start: int, end: int, size: int | None) -> bytes:
    """Bytes ``start``-``end`` of a file being fetched in ranges after the first: an answer that
    is not exactly that range of the same file (a 200, If-Range failed) is :class:`ChangedMidway`."""
    try:
        answer = await reader.fetch([(start, end)])
    except (RangeChanged, RangeNotSupported, BodyTooLarge) as exc:  # a 200: not the same file
        raise ChangedMidway(str(exc)) from exc
    except RangeError as exc:
        raise range_failure(exc) from None
    if answer.whole:
        raise ChangedMidway(f"whole body instead of bytes {start}-{end - 1}")
    return exact_body(answer, start, end, size)


def exact_body(answer: RangeAnswer, start: int, end: int | None, size: int | None) -> bytes:
    """The body of a 206 that is exactly the range asked for, of a file of ``size`` bytes."""
    try:
        return answer.exact(start, end, size)
    except RangeError as exc:
        raise DownloadFailed(str(exc)) from None


def range_failure(exc: RangeError) -> DownloadFailed:
    """A Range error as a download failure; a network error keeps its own name and message."""
    cause = exc.__cause__
    return DownloadFailed(describe_error(cause) if cause is not None else str(exc))


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def result_fields(fetched: Fetched) -> dict[str, Any]:
    return {
        "md5": fetched.digests.get("md5"),
        "sha256": fetched.digests.get("sha256"),
        "bytes": fetched.size,
        "verification": fetched.verification,
    }

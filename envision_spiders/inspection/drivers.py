"""Drivers: one per archive format, gluing the pure readers to ranged reads of the file.

What enters: a :class:`~envision_spiders.http.ranges.RangeReader` over the archive, the
:class:`~envision_spiders.inspection.config.InspectConfig`, and the report from
:func:`~envision_spiders.inspection.report.new_report`. What leaves: the report, filled in
(listing, status, images). Who calls: ``ArchiveInspectionPipeline.inspect_file`` through
:func:`inspect_archive`, which maps the reader's errors (the http layer's ``RangeError`` family)
to the caller; a driver reads as few bytes as the format allows:

* ZIP: one tail request (EOCD, ZIP64 records and, for small archives, the whole central
  directory); a second, exact request for the part of the central directory not in the tail.
* TAR: header walk with ranged reads: a read-ahead of ``tar_read_bytes`` through members smaller
  than ``tar_gap_bytes`` (one request lists many), one header per request past bigger ones;
  ``partial`` (with an estimated total) when the budget ends first.
* tar.gz / tar.bz2 / tar.xz: a bounded prefix decompressed as a stream; ``partial`` unless the
  end of the archive is reached within it.
* Deep sniff: up to ``sniff_count`` image-like entries, their local headers and first bytes in
  one multi-range request (single ranges where the server refuses), inflated partially and
  sniffed (format, size, 2D/3D/video, DICOM modality and body part).

CPU work on the bytes (decompressing, walking TAR headers, inflating and sniffing entries) never
runs on the reactor thread: each piece is one call in a worker thread (Scrapy's
``run_in_thread``) while the coroutine waits, so nothing else touches the reader's state
meanwhile. The calls of one archive share a :class:`TimeBudget` of ``decompress_seconds``
(``ENVISION_INSPECT_DECOMPRESS_SECONDS``); when it runs out the archive is ``partial`` with
``time_budget_exceeded`` set in its report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from scrapy.utils.asyncio import run_in_thread

from envision_spiders.http.ranges import (
    RangeError,
    RangeNotSatisfiable,
    RangeNotSupported,
    RangeReader,
    slice_parts,
)
from envision_spiders.inspection import zip as zipfmt
from envision_spiders.inspection.config import InspectConfig
from envision_spiders.inspection.errors import ArchiveError, BudgetExceeded, NeedMoreData
from envision_spiders.inspection.gzip_prefix import StreamDecoder
from envision_spiders.inspection.listing import ArchiveListing, SniffPicker, entry_extension, sniff_worthy
from envision_spiders.inspection.report import finish_listing, image_facts
from envision_spiders.inspection.tar import TarMember, TarStream, TarWalker, walk_compressed

logger = logging.getLogger(__name__)
T = TypeVar("T")

COMPRESSION_OF = {"tar.gz": "gzip", "tar.bz2": "bzip2", "tar.xz": "xz"}
LOCAL_HEADER_SLACK = 128  # local extra fields may be longer than the central directory's
EXTEND_SLACK = 4096  # read this much more when reaching before the tail (a small CD comes along)
TAR_BIG_MEMBER_WINDOW = 3 * 512  # after a big member: header (+ GNU long-name header and data)
TIME_BUDGET_SETTING = "ENVISION_INSPECT_DECOMPRESS_SECONDS"


class TimeBudget:
    """Seconds of worker-thread time one archive may use, spent by :meth:`run` calls.

    Each call gets the deadline ``start + left`` (its start in the thread, not its wait for a
    thread) and is charged the time it took; once nothing is left, the deadline a call gets has
    passed already: it stops at its first check (``BudgetExceeded``, or what the function does
    at its deadline).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.left = seconds

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, deadline=..., **kwargs)`` in a worker thread."""

        def timed() -> T:
            start = time.monotonic()
            try:
                return func(*args, deadline=start + self.left, **kwargs)
            finally:
                self.left -= time.monotonic() - start

        return await run_in_thread(timed)

    def exceeded(self, report: dict[str, Any], exc: BudgetExceeded) -> str:
        """Mark ``report`` as stopped by the budget; the reason to report."""
        report["time_budget_exceeded"] = True
        return f"stopped at {TIME_BUDGET_SETTING}={self.seconds:g}: {exc}"


def _check(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise BudgetExceeded(f"{what} stopped by its time budget")


def _sniff_all(pairs: list[tuple[str, bytes]], *, deadline: float) -> list[dict[str, Any]]:
    """:func:`image_facts` of each ``(name, first bytes)``; past the deadline, an error entry."""
    out = []
    for name, data in pairs:
        if time.monotonic() > deadline:
            out.append({"name": name, "format": None, "error": f"not sniffed ({TIME_BUDGET_SETTING})"})
        else:
            out.append(image_facts(name, data))
    return out


async def inspect_archive(reader: RangeReader, config: InspectConfig, report: dict[str, Any]) -> None:
    """Run the driver of ``report["format"]`` (``zip``, ``tar``, ``tar.gz``, ``tar.bz2``, ``tar.xz``).

    Raises what the reader raises (``RangeError`` family) and ``ArchiveError`` from the readers;
    the caller turns them into the report's status.
    """
    fmt = report["format"]
    budget = TimeBudget(config.decompress_seconds)
    if fmt == "zip":
        await inspect_zip(reader, config, report, budget)
    elif fmt == "tar":
        await inspect_tar(reader, config, report, budget)
    else:
        await inspect_compressed_tar(reader, config, report, COMPRESSION_OF[fmt], budget)


# --- ZIP -------------------------------------------------------------------------------------


async def inspect_zip(reader: RangeReader, config: InspectConfig, report: dict[str, Any], budget: TimeBudget) -> None:
    """List a ZIP from its tail (+ the rest of the central directory), then sniff entries."""
    tail_offset, tail = await reader.read_tail(config.tail_bytes)
    reader.remember(tail_offset, tail)
    file_size = reader.size or (tail_offset + len(tail))
    extended = False
    while True:
        try:
            location = zipfmt.locate_central_directory(tail, file_size)
            break
        except NeedMoreData as need:  # ZIP64 records pushed out of the tail by a long comment
            if need.end != tail_offset or need.start >= tail_offset:
                raise ArchiveError(str(need)) from None
            start = max(0, need.start - EXTEND_SLACK)
        except ArchiveError:
            # an end record with a comment of up to 64 KiB may start before a 64 KiB tail
            reach = file_size - zipfmt.MAX_EOCD_SEARCH - zipfmt.ZIP64_LOCATOR_SIZE - zipfmt.ZIP64_END_SIZE
            if extended or tail_offset == 0 or reach >= tail_offset:
                raise
            start = max(0, reach - EXTEND_SLACK)
        extended = True
        before = await reader.read(start, tail_offset)
        tail, tail_offset = before + tail, start
    report["format"] = location.format
    report["entries_total"] = location.entries_total
    if location.comment:
        report["comment"] = location.comment[:200].decode("utf-8", "replace")
    if location.prefix_bytes:
        report["prefix_bytes"] = location.prefix_bytes

    cd_start, cd_end = location.cd_offset, location.cd_end
    cut = cd_end - cd_start > config.max_cd_bytes
    if cut:
        cd_end = cd_start + config.max_cd_bytes
    if cd_start >= tail_offset:
        directory = tail[cd_start - tail_offset : cd_end - tail_offset]
    else:
        head = await reader.read(cd_start, min(cd_end, tail_offset))
        directory = head + (tail[: cd_end - tail_offset] if cd_end > tail_offset else b"")

    listing = ArchiveListing(sample_names=config.sample_names)
    picker: SniffPicker[zipfmt.CentralDirectoryEntry] = SniffPicker(config.sniff_count)

    def list_directory(data: bytes, *, deadline: float) -> tuple[str, str | None]:
        entries = zipfmt.iter_central_directory(data, prefix_bytes=location.prefix_bytes, complete=not cut)
        for count, entry in enumerate(entries):
            if count % 4096 == 0:
                _check(deadline, "central directory listing")
            listing.add(
                entry.name,
                entry.uncompressed_size,
                is_dir=entry.is_dir,
                compressed_size=entry.compressed_size,
                encrypted=entry.encrypted,
            )
            if not entry.is_dir and not entry.encrypted and entry.compressed_size > 0:
                picker.offer(entry.name, entry)
            if listing.entries >= config.max_entries:
                return "partial", f"stopped at ENVISION_INSPECT_MAX_ENTRIES={config.max_entries}"
        return "complete", None

    try:
        status, error = await budget.run(list_directory, directory)
    except BudgetExceeded as exc:
        status, error = "partial", budget.exceeded(report, exc)
    except ArchiveError as exc:
        status, error = "partial", str(exc)
    if status == "complete" and (cut or listing.entries != location.entries_total):
        status = "partial"
        error = (
            f"central directory of {location.cd_size} bytes cut at ENVISION_INSPECT_MAX_CD_BYTES"
            if cut
            else f"listed {listing.entries} of {location.entries_total} entries"
        )
    del directory
    finish_listing(report, listing)
    report["status"], report["error"] = status, error
    if status == "partial" and listing.entries == 0:
        report["status"] = "error"
    report["images"] = await sniff_zip_entries(reader, config, picker.picked(), file_size, budget)


async def sniff_zip_entries(
    reader: RangeReader,
    config: InspectConfig,
    entries: list[zipfmt.CentralDirectoryEntry],
    file_size: int,
    budget: TimeBudget,
) -> list[dict[str, Any]]:
    """Local header + first bytes of each entry in one (multi-)range request; sniff them (in a
    worker thread: inflating is CPU work)."""
    if not entries:
        return []
    spans = []
    for entry in entries:
        start = entry.header_offset
        header = zipfmt.LOCAL_HEADER_SIZE + entry.name_length + entry.extra_length + LOCAL_HEADER_SLACK
        end = min(file_size, start + header + min(entry.compressed_size, config.sniff_bytes))
        spans.append((entry, start, end))
    try:
        parts = await reader.read_many([(s, e) for _, s, e in spans], merge_gap=config.sniff_merge_gap)
    except RangeNotSupported:
        raise
    except RangeError as exc:
        logger.debug("sniff requests for %s failed: %s", reader.url, exc)
        return [{"name": e.name, "format": None, "error": str(exc)} for e, _, _ in spans]

    def sniff_entries(*, deadline: float) -> list[dict[str, Any]]:
        images = []
        for entry, start, end in spans:
            data = slice_parts(parts, start, end)
            if data is None:
                images.append({"name": entry.name, "format": None, "error": "not fetched (budget)"})
                continue
            if time.monotonic() > deadline:
                images.append({"name": entry.name, "format": None, "error": f"not sniffed ({TIME_BUDGET_SETTING})"})
                continue
            try:
                local = zipfmt.parse_local_header(data)
            except ArchiveError as exc:
                images.append({"name": entry.name, "format": None, "error": str(exc)})
                continue
            content = zipfmt.inflate_prefix(data[local.data_start :], entry.method, config.sniff_bytes)
            images.append(image_facts(entry.name, content))
        return images

    return await budget.run(sniff_entries)


# --- TAR -------------------------------------------------------------------------------------


def _feed_walker(walker: TarWalker, chunk: bytes, start: int, *, deadline: float) -> list[TarMember]:
    _check(deadline, "TAR header walk")  # one feed is bounded (a read of at most tar_read_bytes)
    return walker.feed(chunk, start)


async def inspect_tar(reader: RangeReader, config: InspectConfig, report: dict[str, Any], budget: TimeBudget) -> None:
    """Walk TAR headers with ranged reads under the budget (the walk in a worker thread)."""
    walker = TarWalker()
    listing = ArchiveListing(sample_names=config.sample_names)
    picker: SniffPicker[tuple[TarMember, bytes | None]] = SniffPicker(config.sniff_count)
    window = min(config.tail_bytes, config.tar_read_bytes)  # first read: we know nothing yet
    status, error = "complete", None
    while not walker.done:
        if reader.size is not None and walker.pos >= reader.size:
            if walker.pos > reader.size:
                status, error = "partial", "archive truncated (member data runs past the end)"
            break  # no end-of-archive marker: tolerated like tarfile does
        want = max(walker.need, window)
        if reader.size is not None:
            want = min(want, reader.size - walker.pos)
        if not reader.can_fetch(want):
            want = max(walker.need, min(want, reader.max_bytes - reader.bytes))
            if not reader.can_fetch(want):
                status, error = "partial", "request or byte budget exhausted"
                break
        start = walker.pos
        try:
            chunk = await reader.read(start, start + want)
        except RangeNotSatisfiable as exc:  # offset past the end: the file is shorter than it says
            status, error = "partial", f"archive truncated: {exc}"
            break
        if not chunk:
            break
        try:
            members = await budget.run(_feed_walker, walker, chunk, start)
        except BudgetExceeded as exc:
            status, error = ("partial" if listing.entries else "error"), budget.exceeded(report, exc)
            break
        except ArchiveError as exc:
            status, error = ("partial" if listing.entries else "error"), str(exc)
            break
        chunk_end = start + len(chunk)
        for member in members:
            listing.add(member.name, member.size, is_dir=member.is_dir)
            if member.is_file and member.data_size > 0 and not member.sparse:  # sparse: stored regions, not the file's start
                prefix = None
                if member.data_offset < chunk_end:
                    rel = member.data_offset - start
                    prefix = chunk[rel : rel + min(member.data_size, config.sniff_bytes)]
                picker.offer(member.name, (member, prefix))
        if listing.entries >= config.max_entries:
            status, error = "partial", f"stopped at ENVISION_INSPECT_MAX_ENTRIES={config.max_entries}"
            break
        at_end = len(chunk) < want or (reader.size is not None and chunk_end >= reader.size)
        if at_end and not walker.done and walker.pos < chunk_end:
            # the walker needs more bytes than the file has left: reading them again cannot help
            status, error = "partial", "archive truncated (a header runs past the end)"
            break
        if len(chunk) < want and walker.pos >= chunk_end and reader.size is None:
            break
        # A request costs about as much as ENVISION_INSPECT_TAR_GAP_BYTES of transfer: read through
        # small members with a long read-ahead (one request lists many), skip past big ones with
        # a new request for just the next header.
        big = walker.pos - chunk_end > config.tar_gap_bytes
        window = TAR_BIG_MEMBER_WINDOW if big else config.tar_read_bytes
    finish_listing(report, listing)
    if status == "complete":  # end marker seen, or the file ended on a member boundary
        report["entries_total"] = listing.entries
    report["status"], report["error"] = status, error
    if status == "partial" and reader.size and walker.pos and listing.entries:
        # the average member span so far gives a rough total
        report["entries_estimated"] = int(listing.entries * reader.size / walker.pos)
    report["images"] = await sniff_tar_members(reader, config, picked=picker.picked(), budget=budget)


async def sniff_tar_members(
    reader: RangeReader, config: InspectConfig, *, picked: list[tuple[TarMember, bytes | None]], budget: TimeBudget
) -> list[dict[str, Any]]:
    """Sniff the prefixes read with the headers; read (one multi-range request) and sniff the
    members whose prefix was missing or too short. Sniffing runs in worker threads."""
    with_prefix = [(member, prefix) for member, prefix in picked if prefix]
    first = await budget.run(_sniff_all, [(member.name, prefix) for member, prefix in with_prefix])
    images: dict[int, dict[str, Any]] = {}
    for (member, prefix), facts in zip(with_prefix, first, strict=True):
        # bytes read with the headers: enough unless they stop before the answer
        whole = len(prefix) >= config.sniff_bytes or len(prefix) == member.data_size
        if whole or facts.get("width") is not None or facts.get("error"):
            images[member.header_offset] = facts
    ranges = []
    for member, _ in picked:
        if member.header_offset not in images:
            ranges.append((member.data_offset, member.data_offset + min(member.data_size, config.sniff_bytes)))
    parts: list[tuple[int, bytes]] = []
    if ranges:
        try:
            parts = await reader.read_many(ranges, merge_gap=config.sniff_merge_gap)
        except RangeNotSupported:
            raise
        except RangeError as exc:
            logger.debug("sniff requests for %s failed: %s", reader.url, exc)
    to_sniff = []
    for member, prefix in picked:
        if member.header_offset in images:
            continue
        end = member.data_offset + min(member.data_size, config.sniff_bytes)
        data = slice_parts(parts, member.data_offset, end)
        if data is None:
            data = prefix
        if data is None:
            images[member.header_offset] = {"name": member.name, "format": None, "error": "not fetched (budget)"}
        else:
            to_sniff.append((member, data))
    second = await budget.run(_sniff_all, [(member.name, data) for member, data in to_sniff])
    for (member, _), facts in zip(to_sniff, second, strict=True):
        images[member.header_offset] = facts
    return [images[member.header_offset] for member, _ in picked]


# --- compressed TAR ----------------------------------------------------------------------------


async def inspect_compressed_tar(
    reader: RangeReader, config: InspectConfig, report: dict[str, Any], compression: str, budget: TimeBudget
) -> None:
    """Decompress a bounded prefix of a .tar.gz/.tar.bz2/.tar.xz and walk the TAR stream, one
    chunk per worker-thread call (``walk_compressed``) under the time budget."""
    per_extension = max(1, config.sniff_count // 2)
    taken: dict[str, int] = {}

    def capture(member: TarMember) -> int:
        if member.sparse or not member.is_file or sum(taken.values()) >= config.sniff_count:
            return 0
        if not sniff_worthy(member.name):
            return 0
        ext = entry_extension(member.name)
        if taken.get(ext, 0) >= per_extension:
            return 0
        taken[ext] = taken.get(ext, 0) + 1
        return config.sniff_bytes

    decoder = StreamDecoder(compression, max_output=config.stream_max_output)
    stream = TarStream(capture=capture)
    listing = ArchiveListing(sample_names=config.sample_names)

    def on_member(member: TarMember) -> bool:  # called in the worker thread; the coroutine waits
        listing.add(member.name, member.size, is_dir=member.is_dir)
        return listing.entries < config.max_entries

    status, error = "partial", None
    pos = 0
    limit = config.stream_prefix_bytes
    if reader.size is not None and reader.size <= limit:
        limit = reader.size
    try:
        while pos < limit and not stream.done:
            chunk_end = min(limit, pos + config.stream_chunk_bytes)
            if reader.size is not None and reader.size <= config.stream_prefix_bytes:
                chunk_end = limit  # small archive: all of it in one request
            if not reader.can_fetch(chunk_end - pos):
                error = "request or byte budget exhausted"
                break
            data = await reader.read(pos, chunk_end)
            if not data:
                break
            pos += len(data)
            await budget.run(walk_compressed, decoder, stream, data, on_member)
            if listing.entries >= config.max_entries:
                error = f"stopped at ENVISION_INSPECT_MAX_ENTRIES={config.max_entries}"
                break
            if decoder.truncated:
                error = f"decompressed prefix capped at ENVISION_INSPECT_STREAM_MAX_OUTPUT={config.stream_max_output}"
                break
            # not decoder.eof: that is also true when a member ends exactly where this chunk does
            if decoder.done or (reader.size is not None and pos >= reader.size):
                break
            if len(data) < chunk_end - (pos - len(data)):
                break  # short read: end of file
    except BudgetExceeded as exc:
        error = budget.exceeded(report, exc)
        if not listing.entries:
            status = "error"
    except ArchiveError as exc:
        error = str(exc)
        if not listing.entries:
            status = "error"
    if stream.done:
        status, error = "complete", None
        report["entries_total"] = listing.entries
    elif status == "partial" and error is None:
        error = f"listed from the first {pos} compressed bytes"
    stream.flush_partial()
    finish_listing(report, listing)
    report["status"], report["error"] = status, error
    report["compressed_bytes_read"] = pos
    report["images"] = await budget.run(_sniff_all, [(member.name, data) for member, data in stream.captured])

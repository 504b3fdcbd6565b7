"""Archive inspection: list ZIP/TAR contents and read image headers with HTTP Range requests.

For each archive among a record's ``files`` the pipeline reads as few bytes as the format
allows, through Scrapy's downloader (:mod:`envision_spiders.http.ranges`):

* ZIP: one tail request (EOCD, ZIP64 records and, for small archives, the whole central
  directory); a second, exact request for the part of the central directory not in the tail.
* TAR: header walk with ranged reads: a read-ahead of ``ENVISION_INSPECT_TAR_READ_BYTES``
  through members smaller than
  ``ENVISION_INSPECT_TAR_GAP_BYTES`` (one request lists many), one header per request past
  bigger ones; ``partial`` (with an estimated total) when the budget ends first.
* tar.gz / tar.bz2 / tar.xz: a bounded prefix decompressed as a stream; ``partial`` unless the
  end of the archive is reached within it.
* Deep sniff: up to ``ENVISION_INSPECT_SNIFF_COUNT`` image-like entries, their local headers
  and first bytes in one multi-range request (single ranges where the server refuses), inflated
  partially and sniffed (format, size, 2D/3D/video, DICOM modality and body part).

Results go into ``archive_contents`` (one dict per archive) and the portal counts
(``file_types``, ``file_names``, ``file_count``, ``img_count``...) now include the entries.
Records that already carry a complete listing of the same file (same checksum, or same size
when there is no checksum) are not inspected again.

Settings (defaults in ``settings.py``): ``ENVISION_INSPECT_*``. Stats: ``envision/inspect/...``.
Overridable hooks: :meth:`ArchiveInspectionPipeline.archives_of` (which files to inspect) and
:meth:`ArchiveInspectionPipeline.request_headers` (per-file headers, e.g. a token for an API
download route; they are not sent to another origin after a redirect).
"""

from __future__ import annotations

import logging
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import DeferredSemaphore

from envision_spiders.http.ranges import (
    BudgetExhausted,
    FetchFailed,
    RangeError,
    RangeNotSatisfiable,
    RangeNotSupported,
    RangeReader,
    install_range_guard,
    slice_parts,
)
from envision_spiders.inspection import zip as zipfmt
from envision_spiders.inspection.errors import ArchiveError, NeedMoreData
from envision_spiders.inspection.gzip_prefix import StreamDecoder
from envision_spiders.inspection.kinds import archive_format, summarise
from envision_spiders.inspection.listing import ArchiveListing, SniffPicker, entry_extension, sniff_worthy
from envision_spiders.inspection.sniff import sniff
from envision_spiders.inspection.tar import TarMember, TarStream, TarWalker

logger = logging.getLogger(__name__)

STATUSES = ("complete", "partial", "error", "range_unsupported", "skipped")
COMPRESSION_OF = {"tar.gz": "gzip", "tar.bz2": "bzip2", "tar.xz": "xz"}
LOCAL_HEADER_SLACK = 128  # local extra fields may be longer than the central directory's
EXTEND_SLACK = 4096  # read this much more when reaching before the tail (a small CD comes along)
TAR_BIG_MEMBER_WINDOW = 3 * 512  # after a big member: header (+ GNU long-name header and data)


@dataclass(frozen=True)
class InspectConfig:
    """``ENVISION_INSPECT_*`` settings, read and validated once."""

    max_requests: int = 24
    max_bytes: int = 48 << 20
    tail_bytes: int = 64 << 10
    max_cd_bytes: int = 32 << 20
    max_entries: int = 1_000_000
    sniff_count: int = 8
    sniff_bytes: int = 16 << 10
    sniff_merge_gap: int = 4 << 10
    sample_names: int = 20
    max_archives: int = 10
    max_file_names: int = 200
    tar_read_bytes: int = 4 << 20
    tar_gap_bytes: int = 1 << 20
    stream_chunk_bytes: int = 2 << 20
    stream_prefix_bytes: int = 8 << 20
    stream_max_output: int = 256 << 20
    multirange: bool = True
    concurrency: int = 4

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> InspectConfig:
        def size(name: str, default: int, minimum: int = 1) -> int:
            value = settings.getint(name, default)
            if value < minimum:
                raise NotConfigured(f"{name}={value} must be >= {minimum}")
            return value

        d = cls()
        config = cls(
            max_requests=size("ENVISION_INSPECT_MAX_REQUESTS", d.max_requests),
            max_bytes=size("ENVISION_INSPECT_MAX_BYTES", d.max_bytes, 1024),
            tail_bytes=size("ENVISION_INSPECT_TAIL_BYTES", d.tail_bytes, 22),
            max_cd_bytes=size("ENVISION_INSPECT_MAX_CD_BYTES", d.max_cd_bytes, 46),
            max_entries=size("ENVISION_INSPECT_MAX_ENTRIES", d.max_entries),
            sniff_count=size("ENVISION_INSPECT_SNIFF_COUNT", d.sniff_count, 0),
            sniff_bytes=size("ENVISION_INSPECT_SNIFF_BYTES", d.sniff_bytes, 64),
            sniff_merge_gap=size("ENVISION_INSPECT_SNIFF_MERGE_GAP", d.sniff_merge_gap, 0),
            sample_names=size("ENVISION_INSPECT_SAMPLE_NAMES", d.sample_names, 0),
            max_archives=size("ENVISION_INSPECT_MAX_ARCHIVES", d.max_archives, 0),
            max_file_names=size("ENVISION_INSPECT_MAX_FILE_NAMES", d.max_file_names, 0),
            tar_read_bytes=size("ENVISION_INSPECT_TAR_READ_BYTES", d.tar_read_bytes, 512),
            tar_gap_bytes=size("ENVISION_INSPECT_TAR_GAP_BYTES", d.tar_gap_bytes, 0),
            stream_chunk_bytes=size("ENVISION_INSPECT_STREAM_CHUNK_BYTES", d.stream_chunk_bytes, 1024),
            stream_prefix_bytes=size("ENVISION_INSPECT_STREAM_PREFIX_BYTES", d.stream_prefix_bytes, 1024),
            stream_max_output=size("ENVISION_INSPECT_STREAM_MAX_OUTPUT", d.stream_max_output, 1024),
            multirange=settings.getbool("ENVISION_INSPECT_MULTIRANGE", d.multirange),
            concurrency=size("ENVISION_INSPECT_CONCURRENCY", d.concurrency),
        )
        if config.tail_bytes > config.max_bytes:
            raise NotConfigured("ENVISION_INSPECT_TAIL_BYTES exceeds ENVISION_INSPECT_MAX_BYTES")
        return config


# --- reports ------------------------------------------------------------------------------


def new_report(file: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The ``archive_contents`` entry for one archive file, before inspection."""
    return {
        "name": file.get("name") or "",
        "url": file.get("url"),
        "size": file.get("size"),
        "checksum": file.get("checksum"),
        "format": fmt,
        "status": "error",
        "error": None,
        "entries_total": None,
        "entries_listed": 0,
        "files_listed": 0,
        "dirs_listed": 0,
        "extensions": {},
        "kinds": {},
        "uncompressed_size": 0,
        "sample_names": [],
        "unsafe_names": 0,
        "encrypted_entries": 0,
        "images": [],
        "requests": 0,
        "bytes": 0,
    }


def _finish_listing(report: dict[str, Any], listing: ArchiveListing) -> None:
    report.update(listing.as_dict())


def _image_facts(name: str, data: bytes) -> dict[str, Any]:
    facts = sniff(data, name)
    if facts is None:
        return {"name": name, "format": None, "dims": None, "bytes_read": len(data)}
    facts["bytes_read"] = len(data)
    return facts


# --- ZIP -------------------------------------------------------------------------------------


async def inspect_zip(reader: RangeReader, config: InspectConfig, report: dict[str, Any]) -> None:
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
    status, error = "complete", None
    try:
        for entry in zipfmt.iter_central_directory(
            directory, prefix_bytes=location.prefix_bytes, complete=not cut
        ):
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
                status, error = "partial", f"stopped at ENVISION_INSPECT_MAX_ENTRIES={config.max_entries}"
                break
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
    _finish_listing(report, listing)
    report["status"], report["error"] = status, error
    if status == "partial" and listing.entries == 0:
        report["status"] = "error"
    report["images"] = await sniff_zip_entries(reader, config, picker.picked(), file_size)


async def sniff_zip_entries(
    reader: RangeReader,
    config: InspectConfig,
    entries: list[zipfmt.CentralDirectoryEntry],
    file_size: int,
) -> list[dict[str, Any]]:
    """Local header + first bytes of each entry in one (multi-)range request; sniff them."""
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
    images = []
    for entry, start, end in spans:
        data = slice_parts(parts, start, end)
        if data is None:
            images.append({"name": entry.name, "format": None, "error": "not fetched (budget)"})
            continue
        try:
            local = zipfmt.parse_local_header(data)
        except ArchiveError as exc:
            images.append({"name": entry.name, "format": None, "error": str(exc)})
            continue
        content = zipfmt.inflate_prefix(data[local.data_start :], entry.method, config.sniff_bytes)
        images.append(_image_facts(entry.name, content))
    return images


# --- TAR -------------------------------------------------------------------------------------


async def inspect_tar(reader: RangeReader, config: InspectConfig, report: dict[str, Any]) -> None:
    """Walk TAR headers with ranged reads under the budget."""
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
            members = walker.feed(chunk, start)
        except ArchiveError as exc:
            status, error = ("partial" if listing.entries else "error"), str(exc)
            break
        chunk_end = start + len(chunk)
        for member in members:
            listing.add(member.name, member.size, is_dir=member.is_dir)
            if member.is_file and member.size > 0:
                prefix = None
                if member.data_offset < chunk_end:
                    rel = member.data_offset - start
                    prefix = chunk[rel : rel + min(member.size, config.sniff_bytes)]
                picker.offer(member.name, (member, prefix))
        if listing.entries >= config.max_entries:
            status, error = "partial", f"stopped at ENVISION_INSPECT_MAX_ENTRIES={config.max_entries}"
            break
        if len(chunk) < want and walker.pos >= chunk_end and reader.size is None:
            break
        # A request costs about as much as ENVISION_INSPECT_TAR_GAP_BYTES of transfer: read through
        # small members with a long read-ahead (one request lists many), skip past big ones with
        # a new request for just the next header.
        big = walker.pos - chunk_end > config.tar_gap_bytes
        window = TAR_BIG_MEMBER_WINDOW if big else config.tar_read_bytes
    _finish_listing(report, listing)
    if status == "complete":  # end marker seen, or the file ended on a member boundary
        report["entries_total"] = listing.entries
    report["status"], report["error"] = status, error
    if status == "partial" and reader.size and walker.pos and listing.entries:
        # the average member span so far gives a rough total
        report["entries_estimated"] = int(listing.entries * reader.size / walker.pos)
    report["images"] = await sniff_tar_members(reader, config, picker.picked())


async def sniff_tar_members(
    reader: RangeReader, config: InspectConfig, picked: list[tuple[TarMember, bytes | None]]
) -> list[dict[str, Any]]:
    images: dict[int, dict[str, Any]] = {}
    ranges = []
    for member, prefix in picked:
        if prefix:  # bytes read with the headers: enough unless they stop before the answer
            facts = _image_facts(member.name, prefix)
            whole = len(prefix) >= config.sniff_bytes or len(prefix) == member.size
            if whole or facts.get("width") is not None:
                images[member.header_offset] = facts
                continue
        ranges.append((member.data_offset, member.data_offset + min(member.size, config.sniff_bytes)))
    parts: list[tuple[int, bytes]] = []
    if ranges:
        try:
            parts = await reader.read_many(ranges, merge_gap=config.sniff_merge_gap)
        except RangeNotSupported:
            raise
        except RangeError as exc:
            logger.debug("sniff requests for %s failed: %s", reader.url, exc)
    out = []
    for member, prefix in picked:
        if member.header_offset in images:
            out.append(images[member.header_offset])
            continue
        end = member.data_offset + min(member.size, config.sniff_bytes)
        data = slice_parts(parts, member.data_offset, end)
        if data is None:
            data = prefix
        if data is None:
            out.append({"name": member.name, "format": None, "error": "not fetched (budget)"})
        else:
            out.append(_image_facts(member.name, data))
    return out


# --- compressed TAR ----------------------------------------------------------------------------


async def inspect_compressed_tar(
    reader: RangeReader, config: InspectConfig, report: dict[str, Any], compression: str
) -> None:
    """Decompress a bounded prefix of a .tar.gz/.tar.bz2/.tar.xz and walk the TAR stream."""
    per_extension = max(1, config.sniff_count // 2)
    taken: dict[str, int] = {}

    def capture(member: TarMember) -> int:
        if not member.is_file or sum(taken.values()) >= config.sniff_count or not sniff_worthy(member.name):
            return 0
        ext = entry_extension(member.name)
        if taken.get(ext, 0) >= per_extension:
            return 0
        taken[ext] = taken.get(ext, 0) + 1
        return config.sniff_bytes

    decoder = StreamDecoder(compression, max_output=config.stream_max_output)
    stream = TarStream(capture=capture)
    listing = ArchiveListing(sample_names=config.sample_names)
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
            for piece in decoder.feed(data):
                for member in stream.feed(piece):
                    listing.add(member.name, member.size, is_dir=member.is_dir)
                if stream.done or listing.entries >= config.max_entries:
                    break
            if listing.entries >= config.max_entries:
                error = f"stopped at ENVISION_INSPECT_MAX_ENTRIES={config.max_entries}"
                break
            if decoder.truncated:
                error = f"decompressed prefix capped at ENVISION_INSPECT_STREAM_MAX_OUTPUT={config.stream_max_output}"
                break
            if decoder.eof or (reader.size is not None and pos >= reader.size):
                break
            if len(data) < chunk_end - (pos - len(data)):
                break  # short read: end of file
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
    _finish_listing(report, listing)
    report["status"], report["error"] = status, error
    report["compressed_bytes_read"] = pos
    report["images"] = [_image_facts(member.name, data) for member, data in stream.captured]


# --- the pipeline ----------------------------------------------------------------------------


def _file_format(file: dict[str, Any]) -> str | None:
    fmt = archive_format(str(file.get("name") or ""))
    if fmt is None and file.get("url"):
        fmt = archive_format(posixpath.basename(unquote(urlsplit(str(file["url"])).path)))
    return fmt


def _reusable(previous: dict[str, Any] | None, file: dict[str, Any]) -> bool:
    if not previous or previous.get("status") != "complete":
        return False
    checksum = file.get("checksum")
    if checksum:
        return previous.get("checksum") == checksum
    size = file.get("size")
    return size is not None and previous.get("size") == size


class ArchiveInspectionPipeline:
    """Item pipeline (priority 300): fills ``archive_contents`` and the portal counts."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("ENVISION_INSPECT_ENABLED", True):
            raise NotConfigured("archive inspection is off (ENVISION_INSPECT_ENABLED=False)")
        self.crawler = crawler
        self.config = InspectConfig.from_settings(settings)
        self.stats = crawler.stats
        self._slots = DeferredSemaphore(self.config.concurrency)
        self._no_multirange: set[str] = set()  # hosts that answered a multi-range request with 200
        install_range_guard(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveInspectionPipeline:
        return cls(crawler)

    # --- overridable interface --------------------------------------------------------------
    def archives_of(self, item: Any, files: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """``(file, format)`` for the files of ``item`` to inspect, in order."""
        out = []
        for file in files:
            fmt = _file_format(file)
            if fmt is not None:
                out.append((file, fmt))
        return out

    def request_headers(self, item: Any, file: dict[str, Any]) -> dict[str, str]:
        """Extra headers for the requests of one file (default none)."""
        return {}

    # --- processing ---------------------------------------------------------------------------
    async def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        files = [dict(f) for f in adapter.get("files") or []]
        archives = self.archives_of(item, files)
        if not archives:
            return item
        previous = {(c.get("name"), c.get("url")): c for c in adapter.get("archive_contents") or []}
        contents: list[dict[str, Any]] = []
        for index, (file, fmt) in enumerate(archives):
            prior = previous.get((file.get("name") or "", file.get("url")))
            if _reusable(prior, file):
                assert prior is not None
                contents.append(prior)
                self.stats.inc_value("envision/inspect/reused")
                continue
            report = new_report(file, fmt)
            if index >= self.config.max_archives:
                self._skip(report, f"more than ENVISION_INSPECT_MAX_ARCHIVES={self.config.max_archives} archives")
            elif not file.get("url"):
                self._skip(report, "no download URL")
            elif file.get("access") not in (None, "open"):
                self._skip(report, f"access is {file.get('access')!r}")
            else:
                await maybe_deferred_to_future(self._slots.acquire())
                try:
                    await self.inspect_file(item, file, report)
                finally:
                    self._slots.release()
            contents.append(report)
        adapter["archive_contents"] = contents
        summary = summarise(files, contents, name_limit=self.config.max_file_names)
        for key, value in summary.items():
            if key in adapter.field_names():
                adapter[key] = value
        return item

    def _skip(self, report: dict[str, Any], reason: str) -> None:
        report["status"], report["error"] = "skipped", reason
        self.stats.inc_value("envision/inspect/skipped")

    async def inspect_file(self, item: Any, file: dict[str, Any], report: dict[str, Any]) -> None:
        fmt = report["format"]
        url = str(file["url"])
        host = urlsplit(url).hostname or ""
        reader = RangeReader(
            self.crawler,
            url,
            size=file.get("size") if isinstance(file.get("size"), int) else None,
            headers=self.request_headers(item, file),
            max_requests=self.config.max_requests,
            max_bytes=self.config.max_bytes,
            multirange=self.config.multirange and host not in self._no_multirange,
            keep_bytes=self.config.tail_bytes * 2,
        )
        try:
            if fmt == "zip":
                await inspect_zip(reader, self.config, report)
            elif fmt == "tar":
                await inspect_tar(reader, self.config, report)
            else:
                await inspect_compressed_tar(reader, self.config, report, COMPRESSION_OF[fmt])
        except RangeNotSupported as exc:
            report["status"], report["error"] = "range_unsupported", str(exc)
            self.stats.inc_value("envision/inspect/range_unsupported")
        except RangeNotSatisfiable as exc:
            report["status"] = "error"
            report["error"] = "empty file" if exc.total == 0 else str(exc)
        except BudgetExhausted as exc:
            report["status"] = "partial" if report["entries_listed"] else "error"
            report["error"] = str(exc)
        except (ArchiveError, FetchFailed) as exc:
            report["status"] = "partial" if report["entries_listed"] else "error"
            report["error"] = str(exc)[:500]
        except Exception as exc:  # a reader bug must not lose the record
            logger.exception("archive inspection of %s failed", url)
            report["status"], report["error"] = "error", f"internal error: {type(exc).__name__}"
            self.stats.inc_value("envision/inspect/internal_errors")
        if reader.multirange_refused:
            self._no_multirange.add(host)
            if reader.redirected_to:
                self._no_multirange.add(urlsplit(reader.redirected_to).hostname or "")
            self.stats.inc_value("envision/inspect/multirange_refused")
        if reader.size is not None:
            report["archive_size"] = reader.size
            if reader.reported_size is not None and reader.reported_size != reader.size:
                report["size_mismatch"] = True
                self.stats.inc_value("envision/inspect/size_mismatch")
        report["requests"], report["bytes"] = reader.requests, reader.bytes
        self._count(report)

    def _count(self, report: dict[str, Any]) -> None:
        fmt, status = report["format"], report["status"]
        inc = self.stats.inc_value
        inc("envision/inspect/archives")
        inc(f"envision/inspect/{fmt}/archives")
        inc(f"envision/inspect/status/{status}")
        inc(f"envision/inspect/{fmt}/requests", report["requests"])
        inc(f"envision/inspect/{fmt}/bytes", report["bytes"])
        inc("envision/inspect/entries", report["entries_listed"])
        inc("envision/inspect/images_sniffed", sum(1 for i in report["images"] if i.get("format")))
        if status == "error":
            inc("envision/inspect/errors")
            inc(f"envision/inspect/{fmt}/errors")
        log = logger.info if status in ("complete", "partial") else logger.warning
        log(
            "inspected %s (%s): %s, %s/%s entries, %d requests, %d bytes%s",
            report["name"],
            report["format"],
            status,
            report["entries_listed"],
            report["entries_total"] if report["entries_total"] is not None else "?",
            report["requests"],
            report["bytes"],
            f" ({report['error']})" if report["error"] else "",
        )

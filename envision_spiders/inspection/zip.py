"""ZIP structures from bytes: end of central directory (with comments), ZIP64 locator and
record, central directory entries, local headers, and bounded inflation of an entry's start.

Pure functions over ``bytes``; offsets are absolute positions in the archive file. The caller
decides which bytes to fetch: :func:`locate_central_directory` raises :class:`NeedMoreData`
with the exact range it is missing before the tail (the ZIP64 locator / end record when a
long comment pushed them out of it).
"""

from __future__ import annotations

import bz2
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from envision_spiders.inspection.errors import ArchiveError, NeedMoreData

EOCD_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_END_SIGNATURE = b"PK\x06\x06"
CENTRAL_SIGNATURE = b"PK\x01\x02"
LOCAL_SIGNATURE = b"PK\x03\x04"

EOCD_SIZE = 22
ZIP64_LOCATOR_SIZE = 20
ZIP64_END_SIZE = 56  # without the extensible data sector
CENTRAL_HEADER_SIZE = 46
LOCAL_HEADER_SIZE = 30
MAX_COMMENT = 0xFFFF
MAX_EOCD_SEARCH = EOCD_SIZE + MAX_COMMENT  # the EOCD is always within this many bytes of the end

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")

METHOD_STORED = 0
METHOD_DEFLATED = 8
METHOD_BZIP2 = 12
FLAG_ENCRYPTED = 0x1
FLAG_UTF8 = 0x800


@dataclass(frozen=True, slots=True)
class CentralDirectoryLocation:
    """Where the central directory is and what the end records say about it."""

    format: str  # "zip" | "zip64"
    entries_total: int
    cd_offset: int  # absolute, corrected for data prepended to the archive
    cd_size: int
    eocd_offset: int
    file_size: int
    comment: bytes = b""
    prefix_bytes: int = 0  # bytes before the archive proper (self-extractor stub, concatenation)
    zip64_end_offset: int | None = None

    @property
    def cd_end(self) -> int:
        return self.cd_offset + self.cd_size

    @property
    def end_records_size(self) -> int:
        """Bytes of EOCD + comment + ZIP64 records: with ``cd_size``, the listing's lower bound."""
        start = self.zip64_end_offset if self.zip64_end_offset is not None else self.eocd_offset
        return self.file_size - start


@dataclass(slots=True)
class CentralDirectoryEntry:
    name: str
    compressed_size: int
    uncompressed_size: int
    method: int
    flags: int
    header_offset: int  # absolute offset of the local header
    crc: int
    name_length: int
    extra_length: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & FLAG_ENCRYPTED)


@dataclass(frozen=True, slots=True)
class LocalHeader:
    method: int
    flags: int
    compressed_size: int
    uncompressed_size: int
    name: str
    data_start: int  # offset of the entry's data relative to the local header


def find_end_record(tail: bytes) -> int:
    """Index in ``tail`` (the last bytes of the file) of the end of central directory record.

    A record whose comment length reaches exactly the end of the file wins; otherwise the last
    one whose comment fits (some writers append bytes after the archive).
    """
    fallback = -1
    pos = len(tail) - EOCD_SIZE
    lowest = max(0, len(tail) - MAX_EOCD_SEARCH - 1024)
    while pos >= lowest:
        pos = tail.rfind(EOCD_SIGNATURE, lowest, pos + 4)
        if pos < 0:
            break
        if pos + EOCD_SIZE <= len(tail):
            (comment_length,) = struct.unpack_from("<H", tail, pos + 20)
            end = pos + EOCD_SIZE + comment_length
            if end == len(tail):
                return pos
            if end < len(tail) and fallback < 0:
                fallback = pos
        pos -= 1
    if fallback >= 0:
        return fallback
    raise ArchiveError("no ZIP end of central directory record in the last bytes (not a ZIP file?)")


def locate_central_directory(tail: bytes, file_size: int) -> CentralDirectoryLocation:
    """Parse the end records found in ``tail``, the last ``len(tail)`` bytes of a file of ``file_size``.

    Raises :class:`NeedMoreData` when bytes before the tail are needed (the ZIP64 locator or
    end record, when a long comment pushed them out): fetch ``[start, end)`` and call again
    with those bytes prepended to the tail. Raises :class:`ArchiveError` on absurd values.
    """
    if len(tail) > file_size:
        raise ValueError("tail longer than the file")
    tail_offset = file_size - len(tail)
    pos = find_end_record(tail)
    (_, disk, cd_disk, entries_disk, entries_total, cd_size, cd_offset, comment_length) = (
        _EOCD.unpack_from(tail, pos)
    )
    comment = tail[pos + EOCD_SIZE : pos + EOCD_SIZE + comment_length]
    eocd_offset = tail_offset + pos
    fmt = "zip"
    zip64_end_offset: int | None = None

    locator_pos = pos - ZIP64_LOCATOR_SIZE
    if locator_pos < 0 and tail_offset > 0:
        # a ZIP64 locator (and record) may sit right before the tail: ask for them
        raise NeedMoreData(
            "the bytes before the end record", max(0, eocd_offset - ZIP64_LOCATOR_SIZE - ZIP64_END_SIZE),
            tail_offset,
        )
    if locator_pos >= 0 and tail[locator_pos : locator_pos + 4] == ZIP64_LOCATOR_SIGNATURE:
        _, z64_disk, stated, disks = _ZIP64_LOCATOR.unpack_from(tail, locator_pos)
        if disks > 1 or z64_disk != 0:
            raise ArchiveError(f"multi-disk ZIP ({disks} disks) is not supported")
        # The record sits right before the locator unless data was prepended to the archive.
        expected = tail_offset + locator_pos - ZIP64_END_SIZE
        zip64_end_offset = _zip64_record_offset(tail, tail_offset, (expected, stated))
        record = tail[zip64_end_offset - tail_offset :]
        (_, _size, _made, _needed, disk, cd_disk, entries_disk, entries_total, cd_size, cd_offset) = (
            _ZIP64_END.unpack_from(record, 0)
        )
        fmt = "zip64"
    elif _saturated(entries_disk, entries_total, cd_size, cd_offset) and cd_offset == 0xFFFFFFFF:
        raise ArchiveError("ZIP end record points to ZIP64 but there is no ZIP64 locator")

    if disk != 0 or cd_disk != 0 or entries_disk != entries_total:
        raise ArchiveError("multi-disk ZIP archives are not supported")
    cd_end_expected = zip64_end_offset if zip64_end_offset is not None else eocd_offset
    if cd_size > cd_end_expected:
        raise ArchiveError(f"central directory size {cd_size} exceeds the file ({file_size} bytes)")
    prefix = cd_end_expected - (cd_offset + cd_size)
    if prefix < 0:
        raise ArchiveError(
            f"central directory ({cd_offset}+{cd_size}) overlaps the end records at {cd_end_expected}"
        )
    if entries_total * CENTRAL_HEADER_SIZE > cd_size:
        raise ArchiveError(
            f"{entries_total} entries cannot fit in a {cd_size}-byte central directory"
        )
    return CentralDirectoryLocation(
        format=fmt,
        entries_total=entries_total,
        cd_offset=cd_offset + prefix,
        cd_size=cd_size,
        eocd_offset=eocd_offset,
        file_size=file_size,
        comment=comment,
        prefix_bytes=prefix,
        zip64_end_offset=zip64_end_offset,
    )


def _saturated(entries_disk: int, entries_total: int, cd_size: int, cd_offset: int) -> bool:
    return (
        entries_disk == 0xFFFF
        or entries_total == 0xFFFF
        or cd_size == 0xFFFFFFFF
        or cd_offset == 0xFFFFFFFF
    )


def _zip64_record_offset(tail: bytes, tail_offset: int, candidates: tuple[int, int]) -> int:
    """Absolute offset of the ZIP64 end record: right before the locator, or where it says."""
    for offset in candidates:
        rel = offset - tail_offset
        if 0 <= rel and rel + ZIP64_END_SIZE <= len(tail) and tail[rel : rel + 4] == ZIP64_END_SIGNATURE:
            return offset
    for offset in candidates:
        if 0 <= offset < tail_offset and tail_offset - offset <= 1 << 20:
            raise NeedMoreData("ZIP64 end of central directory record", offset, tail_offset)
    raise ArchiveError("ZIP64 end of central directory record not found")


def decode_name(raw: bytes, flags: int) -> str:
    if flags & FLAG_UTF8:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8") if raw.isascii() else raw.decode("cp437")
    except UnicodeDecodeError:  # pragma: no cover - cp437 maps every byte
        return raw.decode("latin-1")


def iter_central_directory(
    data: bytes | memoryview,
    *,
    prefix_bytes: int = 0,
    complete: bool = True,
    max_name_length: int = 4096,
) -> Iterator[CentralDirectoryEntry]:
    """Yield the entries of the central directory in ``data`` (which starts at its first entry).

    ``complete=False`` means ``data`` was cut short on purpose: an incomplete last entry ends
    the iteration quietly instead of raising :class:`ArchiveError`.
    """
    view = memoryview(data)
    size = len(view)
    pos = 0
    unpack = _CENTRAL.unpack_from
    while pos + CENTRAL_HEADER_SIZE <= size:
        (
            signature,
            _made_by,
            _needed,
            flags,
            method,
            _time,
            _date,
            crc,
            compressed,
            uncompressed,
            name_length,
            extra_length,
            comment_length,
            _disk,
            _internal,
            _external,
            header_offset,
        ) = unpack(view, pos)
        if signature != CENTRAL_SIGNATURE:
            if signature in (ZIP64_END_SIGNATURE, EOCD_SIGNATURE):
                return
            raise ArchiveError(f"bad central directory entry signature at +{pos}")
        end = pos + CENTRAL_HEADER_SIZE + name_length + extra_length + comment_length
        if end > size:
            break
        name_start = pos + CENTRAL_HEADER_SIZE
        raw_name = bytes(view[name_start : name_start + min(name_length, max_name_length)])
        extra = view[name_start + name_length : name_start + name_length + extra_length]
        name = decode_name(raw_name, flags)
        if extra_length:
            if compressed == 0xFFFFFFFF or uncompressed == 0xFFFFFFFF or header_offset == 0xFFFFFFFF:
                uncompressed, compressed, header_offset = _zip64_extra(
                    extra, uncompressed, compressed, header_offset
                )
            unicode_name = _unicode_path_extra(extra)
            if unicode_name is not None:
                name = unicode_name
        yield CentralDirectoryEntry(
            name=name,
            compressed_size=compressed,
            uncompressed_size=uncompressed,
            method=method,
            flags=flags,
            header_offset=header_offset + prefix_bytes,
            crc=crc,
            name_length=name_length,
            extra_length=extra_length,
        )
        pos = end
    if pos < size and complete:
        raise ArchiveError(f"truncated central directory entry at +{pos}")


def _iter_extra(extra: memoryview) -> Iterator[tuple[int, memoryview]]:
    pos = 0
    while pos + 4 <= len(extra):
        header_id, length = struct.unpack_from("<2H", extra, pos)
        yield header_id, extra[pos + 4 : pos + 4 + length]
        pos += 4 + length


def _zip64_extra(
    extra: memoryview, uncompressed: int, compressed: int, header_offset: int
) -> tuple[int, int, int]:
    for header_id, body in _iter_extra(extra):
        if header_id != 0x0001:
            continue
        values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
        it = iter(values)
        try:
            if uncompressed == 0xFFFFFFFF:
                uncompressed = next(it)
            if compressed == 0xFFFFFFFF:
                compressed = next(it)
            if header_offset == 0xFFFFFFFF:
                header_offset = next(it)
        except StopIteration:
            raise ArchiveError("ZIP64 extra field too short") from None
        break
    return uncompressed, compressed, header_offset


def _unicode_path_extra(extra: memoryview) -> str | None:
    for header_id, body in _iter_extra(extra):
        if header_id == 0x7075 and len(body) > 5 and body[0] == 1:
            return bytes(body[5:]).decode("utf-8", "replace")
    return None


def parse_local_header(data: bytes | memoryview, pos: int = 0) -> LocalHeader:
    """The local file header at ``data[pos:]``; ``data_start`` is relative to ``pos``."""
    if pos + LOCAL_HEADER_SIZE > len(data):
        raise NeedMoreData("local header", pos, pos + LOCAL_HEADER_SIZE)
    (signature, _needed, flags, method, _time, _date, _crc, compressed, uncompressed, name_length,
     extra_length) = _LOCAL.unpack_from(data, pos)
    if signature != LOCAL_SIGNATURE:
        raise ArchiveError("bad local file header signature")
    name_end = pos + LOCAL_HEADER_SIZE + name_length
    name = decode_name(bytes(data[pos + LOCAL_HEADER_SIZE : name_end]), flags)
    return LocalHeader(
        method=method,
        flags=flags,
        compressed_size=compressed,
        uncompressed_size=uncompressed,
        name=name,
        data_start=LOCAL_HEADER_SIZE + name_length + extra_length,
    )


def inflate_prefix(data: bytes | memoryview, method: int, max_output: int) -> bytes:
    """Up to ``max_output`` bytes of an entry's content from the start of its (compressed) data.

    Stored and deflated entries (and bzip2) are supported; others return ``b""``. Never
    produces more than ``max_output`` bytes, whatever the compression ratio.
    """
    raw = bytes(data)
    if method == METHOD_STORED:
        return raw[:max_output]
    try:
        if method == METHOD_DEFLATED:
            return zlib.decompressobj(-15).decompress(raw, max_output)
        if method == METHOD_BZIP2:
            return bz2.BZ2Decompressor().decompress(raw, max_output)
    except (zlib.error, OSError, EOFError, ValueError):
        return b""
    return b""

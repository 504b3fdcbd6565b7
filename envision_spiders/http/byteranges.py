"""HTTP byte-range header values (RFC 9110 §14): Range, Content-Range, multipart/byteranges.

Pure functions; ranges are half-open ``(start, end)`` pairs of absolute offsets. The pure half
of :mod:`envision_spiders.http.ranges`, and used by it alone: every ``Range`` header value of the
project is written by :func:`format_range_header`.
"""

from __future__ import annotations

import re

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*$", re.IGNORECASE)
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


class RangeHeaderError(ValueError):
    """A Content-Range / multipart body that does not say what we asked for."""


def merge_ranges(ranges: list[tuple[int, int]], gap: int = 0) -> list[tuple[int, int]]:
    """Sort and merge ranges that overlap or are at most ``gap`` bytes apart."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def format_range_header(ranges: list[tuple[int, int]] | None = None, *, suffix: int | None = None) -> str:
    """``bytes=a-b,c-d`` for half-open ranges (which must be non-empty), or ``bytes=-N`` for the
    last ``suffix`` bytes."""
    if suffix is not None:
        if suffix < 1:
            raise ValueError(f"bad suffix length {suffix}")
        return f"bytes=-{suffix}"
    if not ranges or any(end <= start or start < 0 for start, end in ranges):
        raise ValueError(f"bad ranges {ranges!r}")
    return "bytes=" + ",".join(f"{start}-{end - 1}" for start, end in ranges)


def parse_content_range(value: str | bytes | None) -> tuple[int | None, int | None, int | None]:
    """``(start, end_exclusive, total)``; ``(None, None, total)`` for ``bytes */total``."""
    if value is None:
        raise RangeHeaderError("no Content-Range header")
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    match = _CONTENT_RANGE.match(value)
    if not match:
        raise RangeHeaderError(f"bad Content-Range {value!r}")
    first, last, total = match.groups()
    size = None if total == "*" else int(total)
    if first is None:
        return None, None, size
    start, end = int(first), int(last) + 1
    if end <= start or (size is not None and end > size):
        raise RangeHeaderError(f"bad Content-Range {value!r}")
    return start, end, size


def multipart_boundary(content_type: str | bytes | None) -> str | None:
    """The boundary of a ``multipart/byteranges`` Content-Type, else ``None``."""
    if content_type is None:
        return None
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    if not content_type.lower().lstrip().startswith("multipart/byteranges"):
        return None
    match = _BOUNDARY.search(content_type)
    return (match.group(1) or match.group(2)) if match else None


def parse_multipart_byteranges(body: bytes, boundary: str) -> list[tuple[int, bytes, int | None]]:
    """The parts of a ``multipart/byteranges`` body as ``(start, data, total)``.

    Each part's length comes from its Content-Range, so binary data that happens to contain
    the boundary cannot confuse the parser.
    """
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[tuple[int, bytes, int | None]] = []
    pos = body.find(delimiter)
    while pos >= 0:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            break  # closing delimiter
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            raise RangeHeaderError("truncated multipart/byteranges part headers")
        content_range = None
        for line in body[pos:head_end].split(b"\r\n"):
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-range":
                content_range = value.strip()
        start, end, total = parse_content_range(content_range)
        if start is None or end is None:
            raise RangeHeaderError("multipart part without a byte range")
        data_start = head_end + 4
        data = body[data_start : data_start + (end - start)]
        if len(data) != end - start:
            raise RangeHeaderError("truncated multipart/byteranges part")
        parts.append((start, data, total))
        pos = body.find(delimiter, data_start + len(data))
    return parts

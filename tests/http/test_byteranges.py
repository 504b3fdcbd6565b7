from __future__ import annotations

import pytest

from envision_spiders.http.byteranges import (
    RangeHeaderError,
    format_range_header,
    merge_ranges,
    multipart_boundary,
    parse_content_range,
    parse_multipart_byteranges,
)


def test_merge_and_format() -> None:
    assert merge_ranges([(50, 60), (0, 10), (5, 20), (25, 30), (30, 30)], gap=5) == [(0, 30), (50, 60)]
    assert format_range_header([(0, 10), (50, 60)]) == "bytes=0-9,50-59"


def test_content_range() -> None:
    assert parse_content_range(b"bytes 0-99/1000") == (0, 100, 1000)
    assert parse_content_range("bytes 5-9/*") == (5, 10, None)
    assert parse_content_range("bytes */1234") == (None, None, 1234)
    for bad in (None, "bytes 10-5/100", "bytes 0-200/100", "items 0-1/2"):
        with pytest.raises(RangeHeaderError):
            parse_content_range(bad)


def test_multipart_with_boundary_inside_data() -> None:
    boundary = "00000000000000000042"
    evil = b"\r\n--" + boundary.encode() + b"\r\n"  # the boundary inside binary data
    parts = [(0, b"abc" + evil), (100, b"xyz")]
    body = b""
    for start, data in parts:
        body += (f"\r\n--{boundary}\r\nContent-Type: application/zip\r\n"
                 f"Content-Range: bytes {start}-{start + len(data) - 1}/500\r\n\r\n").encode() + data
    body += f"\r\n--{boundary}--\r\n".encode()
    ctype = f"multipart/byteranges; boundary={boundary}"
    assert multipart_boundary(ctype) == boundary
    assert multipart_boundary('multipart/byteranges; boundary="q q"') == "q q"
    assert multipart_boundary("application/zip") is None
    assert parse_multipart_byteranges(body, boundary) == [(0, b"abc" + evil, 500), (100, b"xyz", 500)]
    with pytest.raises(RangeHeaderError):
        parse_multipart_byteranges(body[:-40], boundary)

from __future__ import annotations

import bz2
import gzip
import lzma
import os

import pytest

from envision_spiders.inspection.errors import ArchiveError
from envision_spiders.inspection.gzip_prefix import StreamDecoder, decompress_prefix, detect_compression

PAYLOAD = os.urandom(50_000) + bytes(200_000)
COMPRESS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_streamed_prefix_matches(kind: str) -> None:
    blob = COMPRESS[kind](PAYLOAD)
    assert detect_compression(blob[:6]) == kind
    decoder = StreamDecoder(kind, max_output=1 << 30, piece=4096)
    out = b"".join(piece for i in range(0, len(blob), 1000) for piece in decoder.feed(blob[i : i + 1000]))
    assert out == PAYLOAD and decoder.eof and not decoder.truncated


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_cut_short_stream_gives_its_prefix(kind: str) -> None:
    payload = os.urandom(500_000)  # bzip2 needs whole 100 kB blocks: several of them
    blob = bz2.compress(payload, compresslevel=1) if kind == "bzip2" else COMPRESS[kind](payload)
    out = decompress_prefix(blob[: len(blob) * 2 // 3], kind, max_output=1 << 30)
    assert 0 < len(out) < len(payload) and payload.startswith(out)


def test_bomb_is_bounded() -> None:
    blob = gzip.compress(bytes(50_000_000), compresslevel=9)
    decoder = StreamDecoder("gzip", max_output=100_000, piece=30_000)
    pieces = list(decoder.feed(blob))
    assert sum(map(len, pieces)) == 100_000 and max(map(len, pieces)) <= 30_000 and decoder.truncated


def test_concatenated_gzip_members() -> None:
    blob = gzip.compress(b"first ") + gzip.compress(b"second")
    assert decompress_prefix(blob) == b"first second"


def test_bad_magic_and_corrupt_stream() -> None:
    with pytest.raises(ArchiveError, match="magic"):
        list(StreamDecoder("gzip").feed(b"PK\x03\x04" + bytes(100)))
    blob = bytearray(gzip.compress(os.urandom(5000)))
    blob[20:40] = bytes(20)
    with pytest.raises(ArchiveError, match="corrupt"):
        list(StreamDecoder("gzip").feed(bytes(blob)))
    assert decompress_prefix(bytes(blob)) == b""

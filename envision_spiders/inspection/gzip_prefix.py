"""Bounded streaming decompression of the prefix of a compressed stream (gzip, bzip2, xz).

Feed compressed chunks as they arrive; get decompressed pieces of at most ``piece`` bytes
each; the total output never exceeds ``max_output`` (a decompression bomb only costs that).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Iterator
from typing import Any

from envision_spiders.inspection.errors import ArchiveError

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

COMPRESSIONS = ("gzip", "bzip2", "xz")


def detect_compression(head: bytes) -> str | None:
    """``gzip`` / ``bzip2`` / ``xz`` from the first bytes of a stream, else ``None``."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC) and len(head) > 3 and head[3:4] in b"123456789":
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return None


class StreamDecoder:
    """Decompress a stream's prefix chunk by chunk, within an output budget."""

    def __init__(
        self, compression: str = "gzip", *, max_output: int = 64 << 20, piece: int = 1 << 20
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"unknown compression {compression!r}")
        self.compression = compression
        self.max_output = max_output
        self.piece = piece
        self.output = 0  # decompressed bytes produced so far
        self.input = 0  # compressed bytes consumed so far
        self.eof = False  # the compressed stream ended (all members)
        self.truncated = False  # stopped because of max_output
        self._checked = False
        self._decoder: Any = self._new()

    def _new(self) -> Any:
        if self.compression == "gzip":
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        if self.compression == "bzip2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield decompressed pieces for ``data``; stops early at ``max_output``."""
        if not self._checked and data:
            if detect_compression(data[:6]) != self.compression:
                raise ArchiveError(f"not a {self.compression} stream (bad magic)")
            self._checked = True
        self.input += len(data)
        pending = data
        while pending and not self.eof and not self.truncated:
            budget = min(self.piece, self.max_output - self.output)
            if budget <= 0:
                self.truncated = True
                return
            try:
                if self.compression == "gzip":
                    out = self._decoder.decompress(pending, budget)
                    pending = self._decoder.unconsumed_tail
                    ended = self._decoder.eof
                    rest = self._decoder.unused_data if ended else b""
                else:
                    out = self._decoder.decompress(pending, budget)
                    pending = b""
                    ended = self._decoder.eof
                    rest = self._decoder.unused_data if ended else b""
            except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
                raise ArchiveError(f"corrupt {self.compression} stream: {exc}") from None
            if out:
                self.output += len(out)
                yield out
            if ended:
                rest = rest.lstrip(b"\x00")  # some writers pad between members
                if rest and detect_compression(rest[:6]) == self.compression:
                    self._decoder = self._new()  # concatenated member
                    pending = rest
                else:
                    self.eof = True
            elif self.compression != "gzip":
                # bz2/lzma keep unconsumed input internally; drain with empty input
                while not self._decoder.needs_input and not self._decoder.eof:
                    budget = min(self.piece, self.max_output - self.output)
                    if budget <= 0:
                        self.truncated = True
                        return
                    out = self._decoder.decompress(b"", budget)
                    if not out:
                        break
                    self.output += len(out)
                    yield out
                if self._decoder.eof:
                    rest = self._decoder.unused_data.lstrip(b"\x00")
                    if rest and detect_compression(rest[:6]) == self.compression:
                        self._decoder = self._new()
                        pending = rest
                    else:
                        self.eof = True
            elif not out and not pending:
                break


def decompress_prefix(data: bytes, compression: str = "gzip", max_output: int = 1 << 20) -> bytes:
    """At most ``max_output`` bytes from the start of a compressed blob (possibly cut short)."""
    decoder = StreamDecoder(compression, max_output=max_output)
    try:
        return b"".join(decoder.feed(data))
    except ArchiveError:
        return b""

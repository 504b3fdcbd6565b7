"""Bounded streaming decompression of the prefix of a compressed stream (gzip, bzip2, xz).

Feed compressed chunks as they arrive; get decompressed pieces of at most ``piece`` bytes
each; the total output never exceeds ``max_output`` (a decompression bomb only costs that).

Work is linear in the bytes fed plus the bytes produced, whatever the stream holds: the
decoder is given slices of at most :data:`MAX_STEP` bytes, so what is copied when a member
ends (the decompressor's unused input) is bounded by the slice, not by the rest of the
chunk; a run of more than :data:`MAX_EMPTY_MEMBERS` members that produce nothing is refused.
``feed(..., deadline=...)`` stops with :class:`BudgetExceeded` once the monotonic clock
passes ``deadline`` (checked after each bounded step), so a caller running the decoder in a
worker thread can cap its wall time. The decoder keeps no references between calls except
a few bytes of carried-over input, so one decoder may move between threads (one at a time).
"""

from __future__ import annotations

import bz2
import lzma
import time
import zlib
from collections.abc import Iterator
from typing import Any

from envision_spiders.inspection.errors import ArchiveError, BudgetExceeded

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"

COMPRESSIONS = ("gzip", "bzip2", "xz")
_MAGIC_LENGTH = {"gzip": 2, "bzip2": 4, "xz": 6}  # bytes needed to recognise a member start

MIN_STEP = 1024  # first input slice given to a new member's decompressor
MAX_STEP = 64 << 10  # slices grow to this while a member goes on
MAX_EMPTY_MEMBERS = 1024  # consecutive members without output: hostile, not a real writer
_ZERO_SCAN = 64 << 10  # zero padding between members is skipped this many bytes at a time


def detect_compression(head: bytes) -> str | None:
    """``gzip`` / ``bzip2`` / ``xz`` from the first bytes of a stream, else ``None``."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC) and len(head) > 3 and head[3:4] in b"123456789":
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return None


def _starts_member(head: bytes, compression: str) -> bool:
    """``head`` (possibly shorter than the magic) may be the start of a ``compression`` member."""
    if len(head) >= _MAGIC_LENGTH[compression]:
        return detect_compression(head) == compression
    magic = {"gzip": GZIP_MAGIC, "bzip2": BZIP2_MAGIC, "xz": XZ_MAGIC}[compression]
    return magic.startswith(head)  # shorter than the magic (bzip2's level digit not here yet)


class StreamDecoder:
    """Decompress a stream's prefix chunk by chunk, within an output budget.

    ``eof`` is set when the stream ended: the last member finished and what follows is not
    another member (trailing bytes), or the last member finished exactly where the input fed
    so far ends (more members may still come: feeding more data goes on with them).
    ``truncated`` is set when ``max_output`` stopped it.
    """

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
        self.members = 0  # members started so far
        self.done = False  # the stream ended for good (trailing bytes that are not a member)
        self.truncated = False  # stopped because of max_output
        self._head: bytes | None = b""  # the first bytes, until the magic is checked
        self._decoder: Any = self._new()
        self._between = False  # a member ended; the next one has not started yet
        self._carry = b""  # input handed back by the decompressor, consumed before new data
        self._step = MIN_STEP
        self._full = False  # the last call filled its output budget: output may be pending
        self._empty_run = 0  # consecutive members that produced no output
        self._member_output = 0

    @property
    def eof(self) -> bool:
        return self.done or (self._between and not self._carry)

    def _new(self) -> Any:
        self.members += 1
        if self.compression == "gzip":
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        if self.compression == "bzip2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)

    def feed(self, data: bytes, *, deadline: float | None = None) -> Iterator[bytes]:
        """Yield decompressed pieces for ``data``; stops early at ``max_output``.

        Raises :class:`BudgetExceeded` when ``deadline`` (``time.monotonic()``) has passed.
        """
        if self._head is not None and data:
            self._head += bytes(data[:6])
            if not _starts_member(self._head, self.compression):
                raise ArchiveError(f"not a {self.compression} stream (bad magic)")
            if len(self._head) >= _MAGIC_LENGTH[self.compression]:
                self._head = None
        self.input += len(data)
        view = memoryview(data)
        pos = 0
        stalled = False  # a call without input gave nothing: only new input helps now
        while not self.done and not self.truncated:
            if deadline is not None and time.monotonic() > deadline:
                raise BudgetExceeded(
                    f"{self.compression} decompression stopped by its time budget "
                    f"after {self.output} bytes"
                )
            if self._between:
                pos = self._skip_padding(view, pos)
                if self._between:
                    return  # need more input to see whether another member starts
                continue
            budget = min(self.piece, self.max_output - self.output)
            if budget <= 0:
                self.truncated = True
                return
            from_view = False
            if self._carry:
                chunk: bytes | memoryview = self._carry
            elif not stalled and self.compression != "gzip" and not self._decoder.needs_input:
                chunk = b""  # bz2/lzma hold input already: drain it first
            elif pos < len(view):
                chunk = view[pos : pos + self._step]
                from_view = True
            elif self._full and not stalled:
                chunk = b""  # all input given; the decompressor may still hold output
            else:
                return
            out, leftover, ended = self._decompress(chunk, budget)
            if from_view:
                pos += len(chunk)
                if not leftover:
                    self._step = min(self._step * 2, MAX_STEP)
            self._carry = leftover
            self._full = len(out) == budget
            if out:
                self.output += len(out)
                self._member_output += len(out)
                yield out
            if ended:
                self._end_member()
            stalled = not out and not chunk and not ended

    def _decompress(self, chunk: bytes | memoryview, budget: int) -> tuple[bytes, bytes, bool]:
        """One bounded call: output, input handed back, whether the member ended."""
        decoder = self._decoder
        try:
            out = decoder.decompress(chunk, budget)
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
            raise ArchiveError(f"corrupt {self.compression} stream: {exc}") from None
        ended = decoder.eof
        if ended:
            leftover = decoder.unused_data
        elif self.compression == "gzip":
            leftover = decoder.unconsumed_tail
        else:
            leftover = b""  # bz2/lzma keep unconsumed input inside (needs_input tells)
        return out, leftover, ended

    def _end_member(self) -> None:
        if self._member_output:
            self._empty_run = 0
        else:
            self._empty_run += 1
            if self._empty_run > MAX_EMPTY_MEMBERS:
                raise ArchiveError(
                    f"more than {MAX_EMPTY_MEMBERS} empty {self.compression} members in a row"
                )
        self._member_output = 0
        self._between = True
        self._full = False
        self._step = MIN_STEP

    def _skip_padding(self, view: memoryview, pos: int) -> int:
        """Between members: skip zero padding, then start the next member or end the stream."""
        self._carry = self._carry.lstrip(b"\x00")
        if not self._carry:
            while pos < len(view):
                window = bytes(view[pos : pos + _ZERO_SCAN])
                rest = window.lstrip(b"\x00")
                pos += len(window) - len(rest)
                if rest:
                    break
        need = _MAGIC_LENGTH[self.compression]
        head = self._carry + bytes(view[pos : pos + need])
        if len(head) < need and _starts_member(head, self.compression):
            self._carry = head  # a few bytes: wait for the next chunk
            return len(view)
        if not _starts_member(head, self.compression):
            self.done = True
            return pos
        self._between = False
        self._decoder = self._new()
        return pos


def decompress_prefix(data: bytes, compression: str = "gzip", max_output: int = 1 << 20) -> bytes:
    """At most ``max_output`` bytes from the start of a compressed blob (possibly cut short)."""
    decoder = StreamDecoder(compression, max_output=max_output)
    try:
        return b"".join(decoder.feed(data))
    except ArchiveError:
        return b""

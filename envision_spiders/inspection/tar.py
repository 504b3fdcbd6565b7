"""TAR headers from bytes: ustar/v7, GNU long names (``L``/``K``) and base-256 sizes, pax
extended headers (``x`` per member, ``g`` global).

:class:`TarWalker` is a pure state machine over chunks at known offsets (random access:
ranged reads of a plain .tar). :class:`TarStream` wraps it for a sequential byte stream (the
decompressed prefix of a .tar.gz), skipping member data without keeping it, except a bounded
prefix of the members the caller asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from envision_spiders.inspection.errors import ArchiveError

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
REGULAR_TYPES = frozenset(b"07\x00")
META_TYPES = frozenset(b"LKxgX")  # X: Solaris pax, same layout as x
NO_DATA_TYPES = frozenset(b"123456")
MAX_META_SIZE = 1 << 20  # a long name / pax header larger than this is hostile


@dataclass(slots=True)
class TarMember:
    name: str
    size: int
    typeflag: str
    header_offset: int  # absolute offset of the member's (last) header block
    data_offset: int  # absolute offset of its data
    linkname: str = ""

    @property
    def is_dir(self) -> bool:
        return self.typeflag == "5" or (self.typeflag in "0\x00" and self.name.endswith("/"))

    @property
    def is_file(self) -> bool:
        return self.typeflag in ("0", "\x00", "7") and not self.name.endswith("/")


def round_up(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _nts(field: bytes) -> str:
    end = field.find(b"\x00")
    if end >= 0:
        field = field[:end]
    return field.decode("utf-8", "surrogateescape").encode("utf-8", "replace").decode("utf-8")


def _number(field: bytes) -> int:
    """Octal (ustar) or base-256 (GNU, first byte 0x80/0xff) numeric field."""
    if field and field[0] in (0x80, 0xFF):
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:
            value -= 1 << (8 * (len(field) - 1))
        return value
    text = field.split(b"\x00", 1)[0].strip(b" \x00")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ArchiveError(f"bad number field {field!r} in tar header") from None


def checksum_ok(block: bytes | memoryview) -> bool:
    """The header checksum, summed as unsigned (POSIX) or signed (old Sun tar) bytes."""
    try:
        expected = _number(bytes(block[148:156]))
    except ArchiveError:
        return False
    other = bytes(block[:148]) + bytes(block[156:BLOCK])
    unsigned = sum(other) + 8 * 32
    if unsigned == expected:
        return True
    return unsigned - 256 * sum(1 for b in other if b > 127) == expected


@dataclass(slots=True)
class TarHeader:
    name: str
    size: int
    typeflag: str
    linkname: str


def parse_header(block: bytes | memoryview) -> TarHeader | None:
    """One 512-byte header block; ``None`` for an end-of-archive zero block."""
    if len(block) < BLOCK:
        raise ArchiveError("short tar header block")
    block = bytes(block[:BLOCK])
    if block == ZERO_BLOCK:
        return None
    if not checksum_ok(block):
        raise ArchiveError("bad tar header checksum (not a tar archive, or corrupt)")
    name = _nts(block[0:100])
    size = _number(block[124:136])
    typeflag = chr(block[156])
    linkname = _nts(block[157:257])
    if block[257:262] == b"ustar":
        prefix = _nts(block[345:500])
        if prefix and block[257:263] == b"ustar\x00":  # POSIX ustar (GNU uses those bytes otherwise)
            name = f"{prefix}/{name}"
    if size < 0:
        raise ArchiveError(f"negative member size in tar header for {name!r}")
    return TarHeader(name=name, size=size, typeflag=typeflag, linkname=linkname)


def parse_pax(data: bytes) -> dict[str, str]:
    """``"<len> key=value\\n"`` records of a pax extended header."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ArchiveError("bad pax record length") from None
        if length <= 0 or pos + length > len(data):
            raise ArchiveError("bad pax record length")
        record = data[space + 1 : pos + length - 1]
        key, sep, value = record.partition(b"=")
        if sep:
            records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


class TarWalker:
    """Walks TAR headers over chunks of the file given with their absolute offsets.

    ``pos`` is the absolute offset of the next block to parse; ``need`` how many bytes from
    there are needed to make progress (512, or more when a long name / pax header's data
    must be read with it). ``done`` is set on the end-of-archive marker.
    """

    def __init__(self, start: int = 0) -> None:
        self.pos = start
        self.need = BLOCK
        self.done = False
        self.headers_read = 0
        self._long_name: str | None = None
        self._long_link: str | None = None
        self._pax: dict[str, str] = {}
        self._global_pax: dict[str, str] = {}

    def feed(self, chunk: bytes | memoryview, chunk_offset: int) -> list[TarMember]:
        """Parse every header of ``chunk`` reachable from ``pos``; return the members found."""
        members: list[TarMember] = []
        view = memoryview(chunk)
        end = chunk_offset + len(view)
        while not self.done:
            rel = self.pos - chunk_offset
            if rel < 0 or self.pos + BLOCK > end:
                self.need = BLOCK
                break
            header = parse_header(view[rel : rel + BLOCK])
            if header is None:
                self.done = True
                break
            self.headers_read += 1
            data_offset = self.pos + BLOCK
            kind = header.typeflag.encode("latin-1")[:1] or b"\x00"
            if kind[0] in META_TYPES:
                if header.size > MAX_META_SIZE:
                    raise ArchiveError(f"tar meta header of {header.size} bytes")
                if data_offset + header.size > end:
                    self.need = BLOCK + round_up(header.size)
                    break
                body = bytes(view[rel + BLOCK : rel + BLOCK + header.size])
                self._apply_meta(kind, body)
                self.pos = data_offset + round_up(header.size)
                continue
            member = self._member(header, self.pos, data_offset)
            members.append(member)
            skip = 0 if kind[0] in NO_DATA_TYPES else round_up(member.size)
            self.pos = data_offset + skip
        return members

    def _apply_meta(self, kind: bytes, body: bytes) -> None:
        if kind == b"L":
            self._long_name = _nts(body)
        elif kind == b"K":
            self._long_link = _nts(body)
        elif kind == b"g":
            self._global_pax.update(parse_pax(body))
        else:
            self._pax = parse_pax(body)

    def _member(self, header: TarHeader, header_offset: int, data_offset: int) -> TarMember:
        pax = {**self._global_pax, **self._pax}
        name = pax.get("path") or self._long_name or header.name
        linkname = pax.get("linkpath") or self._long_link or header.linkname
        size = header.size
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise ArchiveError("bad pax size") from None
        if size < 0:
            raise ArchiveError("negative pax size")
        self._long_name = self._long_link = None
        self._pax = {}
        return TarMember(
            name=name,
            size=size,
            typeflag=header.typeflag,
            header_offset=header_offset,
            data_offset=data_offset,
            linkname=linkname,
        )


class TarStream:
    """A :class:`TarWalker` over a sequential stream, with bounded memory.

    ``capture(member)`` says how many bytes of a member's data to keep (0 for none); the
    captured prefixes accumulate in ``captured`` as ``(member, bytes)``.
    """

    def __init__(self, capture: Callable[[TarMember], int] | None = None) -> None:
        self.walker = TarWalker()
        self._capture = capture or (lambda member: 0)
        self._buf = bytearray()
        self._buf_start = 0  # absolute stream offset of _buf[0]
        self._pending: list[tuple[TarMember, int]] = []
        self.captured: list[tuple[TarMember, bytes]] = []
        self.stream_offset = 0  # bytes fed so far

    @property
    def done(self) -> bool:
        return self.walker.done

    def feed(self, data: bytes) -> list[TarMember]:
        start = self.stream_offset
        self.stream_offset += len(data)
        if self.walker.done:
            return []  # end-of-archive padding
        keep_from = self._keep_from()
        if start + len(data) <= keep_from:
            return []  # inside member data nobody wants
        if start < keep_from:
            data = data[keep_from - start :]
            start = keep_from
        if not self._buf:
            self._buf_start = start
        self._buf += data
        members = self.walker.feed(bytes(self._buf), self._buf_start)
        for member in members:
            want = min(self._capture(member), member.size)
            if want > 0:
                self._pending.append((member, want))
        self._collect()
        drop = min(self._keep_from(), self._buf_start + len(self._buf)) - self._buf_start
        if drop > 0:
            del self._buf[:drop]
            self._buf_start += drop
        return members

    def _keep_from(self) -> int:
        starts = [member.data_offset for member, _ in self._pending]
        return min([self.walker.pos, *starts])

    def _collect(self) -> None:
        end = self._buf_start + len(self._buf)
        still: list[tuple[TarMember, int]] = []
        for member, want in self._pending:
            if member.data_offset + want <= end:
                rel = member.data_offset - self._buf_start
                self.captured.append((member, bytes(self._buf[rel : rel + want])))
            else:
                still.append((member, want))
        self._pending = still

    def flush_partial(self) -> None:
        """At the end of the available stream: keep what was captured of pending members."""
        end = self._buf_start + len(self._buf)
        for member, _ in self._pending:
            rel = member.data_offset - self._buf_start
            if 0 <= rel < end - self._buf_start:
                self.captured.append((member, bytes(self._buf[rel:])))
        self._pending = []

"""TAR headers from bytes: ustar/v7, GNU long names (``L``/``K``) and base-256 sizes, pax
extended headers (``x`` per member, ``g`` global), GNU sparse members (old type ``S`` with its
extension blocks, and the pax sparse formats 0.0, 0.1 and 1.0) for listing: real name, real
size, and where the stored data starts and ends.

:class:`TarWalker` is a pure state machine over chunks at known offsets (random access:
ranged reads of a plain .tar). :class:`TarStream` wraps it for a sequential byte stream (the
decompressed prefix of a .tar.gz), skipping member data without keeping it, except a bounded
prefix of the members the caller asks for.

Bounds: a long name / pax header / sparse map larger than :data:`MAX_META_SIZE` is refused,
pax global headers add up to at most :data:`MAX_GLOBAL_PAX_SIZE` bytes per archive and only
the keys the listing uses are kept from them; work per header is linear in its bytes (a
header that needs more bytes asks for at least twice what it had, so re-parsing stays linear).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from envision_spiders.inspection.errors import ArchiveError
from envision_spiders.inspection.gzip_prefix import StreamDecoder

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
REGULAR_TYPES = frozenset(b"07\x00")
META_TYPES = frozenset(b"LKxgX")  # X: Solaris pax, same layout as x
NO_DATA_TYPES = frozenset(b"123456")
MAX_META_SIZE = 1 << 20  # a long name / pax header / sparse map larger than this is hostile
MAX_GLOBAL_PAX_SIZE = 1 << 20  # pax global header bytes per archive, all of them together
SPARSE_TYPE = "S"  # old GNU sparse member
GNU_SPARSE_EXTENDED = 482  # header byte: extension blocks follow
GNU_SPARSE_REALSIZE = slice(483, 495)
GNU_EXTENSION_EXTENDED = 504  # extension block byte: another one follows
# pax keys the listing reads; a global header keeps only these
PAX_KEYS = frozenset({
    "path", "linkpath", "size", "GNU.sparse.name", "GNU.sparse.size", "GNU.sparse.realsize",
    "GNU.sparse.major", "GNU.sparse.minor", "GNU.sparse.map", "GNU.sparse.numblocks",
})


@dataclass(slots=True)
class TarMember:
    name: str
    size: int
    typeflag: str
    header_offset: int  # absolute offset of the member's (last) header block
    data_offset: int  # absolute offset of its data (of a sparse member: its stored regions)
    linkname: str = ""
    sparse: bool = False  # GNU sparse: ``size`` is the real size, the archive stores less
    stored_size: int | None = None  # bytes of data in the archive when not ``size`` (sparse)

    @property
    def is_dir(self) -> bool:
        return self.typeflag == "5" or (self.typeflag in "0\x00" and self.name.endswith("/"))

    @property
    def is_file(self) -> bool:
        return self.typeflag in ("0", "\x00", "7", SPARSE_TYPE) and not self.name.endswith("/")

    @property
    def data_size(self) -> int:
        """Bytes of this member's data stored in the archive from ``data_offset``."""
        return self.size if self.stored_size is None else self.stored_size


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
    realsize: int | None = None  # old GNU sparse: the file's real size
    extended: bool = False  # old GNU sparse: extension blocks follow the header


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
    header = TarHeader(name=name, size=size, typeflag=typeflag, linkname=linkname)
    if typeflag == SPARSE_TYPE:
        header.realsize = _number(block[GNU_SPARSE_REALSIZE])
        header.extended = block[GNU_SPARSE_EXTENDED] != 0
    return header


def sparse_map_length(data: bytes | memoryview, stored: int) -> int | None:
    """Bytes (whole blocks) of a pax 1.0 sparse map at the start of ``data``, a member's data.

    The map is decimal lines: the count of regions, then offset and size of each. ``None``
    when ``data`` stops before the map ends; :class:`ArchiveError` when it is malformed or
    longer than the member's ``stored`` bytes (or :data:`MAX_META_SIZE`).
    """
    limit = min(stored, MAX_META_SIZE)
    first = bytes(data[: min(len(data), 32)]).find(b"\n")
    if first < 0:
        if len(data) >= min(32, limit):
            raise ArchiveError("bad GNU sparse 1.0 map (no region count)")
        return None
    text = bytes(data[:limit])
    try:
        regions = int(text[:first])
    except ValueError:
        raise ArchiveError("bad GNU sparse 1.0 map (region count)") from None
    if regions < 0 or 2 * regions * 2 > limit:  # each number takes at least 2 bytes
        raise ArchiveError(f"GNU sparse 1.0 map of {regions} regions does not fit")
    pos = first + 1
    for _ in range(2 * regions):
        end = text.find(b"\n", pos, pos + 32)
        if end < 0:
            if len(text) - pos >= 32 or len(data) >= limit:
                raise ArchiveError("bad GNU sparse 1.0 map (number)")
            return None
        if not text[pos:end].isdigit():
            raise ArchiveError("bad GNU sparse 1.0 map (number)")
        pos = end + 1
    return round_up(pos)


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
        self._global_pax: dict[str, str] = {}  # only PAX_KEYS
        self.global_pax_bytes = 0

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
            if header.extended:  # old GNU sparse: skip the extension blocks
                blocks = self._extension_blocks(view, rel + BLOCK, end - chunk_offset)
                if blocks is None:
                    break
                data_offset += blocks * BLOCK
            stored = self._stored_size(header)
            map_size = 0
            if self._pax_value("GNU.sparse.major") == "1" and self._pax_value("GNU.sparse.minor") == "0":
                available = view[data_offset - chunk_offset : min(end, data_offset + stored) - chunk_offset]
                found = sparse_map_length(available, stored)
                if found is None:
                    have = len(available)
                    self.need = data_offset - self.pos + min(round_up(stored), max(2 * have, BLOCK))
                    break
                map_size = found
            member = self._member(header, self.pos, data_offset + map_size, stored - map_size)
            members.append(member)
            skip = 0 if kind[0] in NO_DATA_TYPES else round_up(stored)
            self.pos = data_offset + skip
        return members

    def _extension_blocks(self, view: memoryview, start: int, end: int) -> int | None:
        """How many old GNU sparse extension blocks start at ``start`` (``None``: need more)."""
        blocks = 0
        while True:
            at = start + blocks * BLOCK
            if at + BLOCK > end:
                self.need = BLOCK + max(blocks + 1, 2 * blocks) * BLOCK
                return None
            blocks += 1
            if blocks * BLOCK > MAX_META_SIZE:
                raise ArchiveError(f"GNU sparse member with more than {blocks - 1} extension blocks")
            if view[at + GNU_EXTENSION_EXTENDED] == 0:
                return blocks

    def _pax_value(self, key: str) -> str | None:
        value = self._pax.get(key)
        return self._global_pax.get(key) if value is None else value

    def _stored_size(self, header: TarHeader) -> int:
        """Bytes of data the member has in the archive (pax ``size`` wins over the header)."""
        value = self._pax_value("size")
        if value is None:
            return header.size
        try:
            size = int(value)
        except ValueError:
            raise ArchiveError("bad pax size") from None
        if size < 0:
            raise ArchiveError("negative pax size")
        return size

    def _apply_meta(self, kind: bytes, body: bytes) -> None:
        if kind == b"L":
            self._long_name = _nts(body)
        elif kind == b"K":
            self._long_link = _nts(body)
        elif kind == b"g":
            self.global_pax_bytes += len(body)
            if self.global_pax_bytes > MAX_GLOBAL_PAX_SIZE:
                raise ArchiveError(f"pax global headers over {MAX_GLOBAL_PAX_SIZE} bytes")
            records = parse_pax(body)
            self._global_pax.update((k, v) for k, v in records.items() if k in PAX_KEYS)
        else:
            self._pax = parse_pax(body)

    def _member(
        self, header: TarHeader, header_offset: int, data_offset: int, stored: int
    ) -> TarMember:
        value = self._pax_value
        name = value("GNU.sparse.name") or value("path") or self._long_name or header.name
        linkname = value("linkpath") or self._long_link or header.linkname
        real = value("GNU.sparse.realsize") or value("GNU.sparse.size")
        sparse = header.realsize is not None or real is not None
        size = stored
        if real is not None:
            try:
                size = int(real)
            except ValueError:
                raise ArchiveError("bad GNU sparse real size") from None
        elif header.realsize is not None:
            size = header.realsize
        if size < 0:
            raise ArchiveError("negative GNU sparse real size")
        self._long_name = self._long_link = None
        self._pax = {}
        return TarMember(
            name=name,
            size=size,
            typeflag=header.typeflag,
            header_offset=header_offset,
            data_offset=data_offset,
            linkname=linkname,
            sparse=sparse,
            stored_size=stored if sparse else None,
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
        members: list[TarMember] = []
        walker = self.walker
        if self._buf_start + len(self._buf) >= walker.pos + walker.need:
            # only when the walker can progress: a big header arriving in small pieces is
            # parsed once, not once per piece
            rel = walker.pos - self._buf_start
            members = walker.feed(bytes(self._buf[rel:]), walker.pos)
        for member in members:
            want = min(self._capture(member), member.data_size)
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


def walk_compressed(
    decoder: StreamDecoder,
    stream: TarStream,
    data: bytes,
    on_member: Callable[[TarMember], bool],
    *,
    deadline: float | None = None,
) -> bool:
    """Decompress one chunk of a .tar.gz/.tar.bz2/.tar.xz and walk the TAR headers in it.

    ``on_member`` is called for each member found; when it returns ``False`` the walk stops
    (the rest of ``data`` is dropped: the caller is done with this archive). Returns ``False``
    when stopped that way, else ``True``. The work is linear in ``len(data)`` plus the bytes
    decompressed (at most the decoder's ``max_output`` in all); ``deadline``
    (``time.monotonic()``) raises :class:`BudgetExceeded` once passed. Pure and synchronous: safe
    to run in a worker thread as long as nothing else touches ``decoder``, ``stream`` or what
    ``on_member`` mutates meanwhile.
    """
    for piece in decoder.feed(data, deadline=deadline):
        for member in stream.feed(piece):
            if not on_member(member):
                return False
        if stream.done:
            break
    return True

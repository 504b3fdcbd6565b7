"""Safe, streamed reading of the images inside ZIP (incl. ZIP64) and TAR (plain, gz, bz2, xz)
archives, one entry at a time.

Nothing is extracted by the archive's own idea of a path: each accepted entry's bytes go to a
numbered file in a staging folder the caller owns, and the caller decides the final name.
Refused, each with a reason in :class:`Skips`: absolute or ``..`` names, symlinks and hard
links (and any entry below a refused symlink), devices/FIFOs/other special entries, encrypted entries, a name seen before in the same
archive, entries over the per-entry size budget, entries (ZIP) or streams (compressed TAR)
whose compression ratio passes the budget once past a floor, oversized TAR pax/long-name
headers, and anything whose first bytes are not one of the wanted formats. A corrupt entry
is skipped; a corrupt archive stops at the corruption, keeping the entries already read.
Memory is a few chunks and the set of names of the archive being read.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from envision_spiders.inspection.kinds import archive_format
from envision_spiders.inspection.listing import is_unsafe_path
from envision_spiders.inspection.sniff import sniff
from envision_spiders.trainingset.formats import HEAD_BYTES, ExportFormat, candidate, confirmed
from envision_spiders.trainingset.options import Budget

CHUNK = 1 << 20
MAX_TAR_HEADER_BYTES = 1 << 20  # pax extended headers / GNU long names
MAX_SKIP_EXAMPLES = 20
_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError,
                   ValueError, NotImplementedError, RuntimeError)


class Refused(Exception):
    """An entry (or the rest of an archive) is not exported; ``str`` is the reason."""


class WriteFailed(Exception):
    """Writing to the export's own folder failed (disk full, permissions): the export stops."""


@dataclass
class Skips:
    """Skipped entries by reason: a counter plus the first few places, bounded."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, where: str, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        seen = self.examples.setdefault(reason, [])
        if len(seen) < MAX_SKIP_EXAMPLES:
            seen.append(f"{where}: {detail}" if detail else where)

    def as_dict(self) -> dict[str, Any]:
        return {r: {"count": self.counts[r], "examples": self.examples.get(r, [])} for r in sorted(self.counts)}


class Meter:
    """Bytes written (or, on a dry run, that would be) by the whole export, against its budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bytes = 0

    def add(self, n: int) -> None:
        self.bytes += n
        if self.limit and self.bytes > self.limit:
            raise Refused("total size budget reached")


@dataclass
class Extracted:
    """One accepted entry: where its bytes were staged (None on a dry run) and what they are."""

    member: str
    staged: Path | None
    sha256: str
    size: int
    format: ExportFormat
    facts: dict[str, Any]


class Stager:
    """Writes accepted entries as numbered files under ``folder`` (nothing when ``folder`` is None)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.count = 0

    def new_path(self) -> Path | None:
        if self.folder is None:
            return None
        self.count += 1
        return self.folder / f"{self.count:09d}"


def read_head(fh: IO[bytes], n: int = HEAD_BYTES) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = fh.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def stream_entry(
    fh: IO[bytes],
    name: str,
    formats: tuple[ExportFormat, ...],
    budget: Budget,
    meter: Meter,
    target: Path | None,
    ratio: Callable[[int], float] | None = None,
) -> Extracted | None:
    """Read one entry from ``fh``: None when its bytes are not a wanted format, else hashed and
    (when ``target``) written there. Raises :class:`Refused` over a budget (``target`` removed)."""
    head = read_head(fh)
    facts = sniff(head, name) or {}
    fmt = confirmed(name, facts.get("format"), formats)
    if fmt is None:
        return None
    digest = hashlib.sha256(head)
    size = len(head)
    try:
        out = open(target, "xb") if target is not None else None  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise WriteFailed(f"cannot write {target}: {exc}") from exc
    try:
        chunk = head
        while chunk:
            if size > budget.max_entry_bytes:
                raise Refused(f"entry over {budget.max_entry_bytes} bytes")
            if ratio is not None and size > budget.ratio_floor and ratio(size) > budget.max_ratio:
                raise Refused(f"compression ratio over {budget.max_ratio:g}")
            meter.add(len(chunk))
            if out is not None:
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise WriteFailed(f"cannot write {target}: {exc}") from exc
            chunk = fh.read(CHUNK)
            if chunk:
                digest.update(chunk)
                size += len(chunk)
    except BaseException:
        if out is not None:
            out.close()
            os.unlink(target)  # type: ignore[arg-type]
        raise
    if out is not None:
        out.close()
    return Extracted(name, target, digest.hexdigest(), size, fmt, facts)


def _member_name(name: str) -> str:
    text = name.replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text


def _mode_refusal(mode: int) -> str | None:
    kind = stat.S_IFMT(mode)
    if kind in (0, stat.S_IFREG, stat.S_IFDIR):
        return None
    if kind == stat.S_IFLNK:
        return "symlink"
    return "device or special file"


def _safety_refusal(name: str, seen: set[str], links: set[str]) -> str | None:
    if is_unsafe_path(name) or not name:
        return "absolute or parent path"
    if links:  # each parent folder looked up: cost by depth, not by the number of links
        parts = name.split("/")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            return "below a symlink"
    if name in seen:
        return "duplicate name"
    seen.add(name)
    return None


def read_zip(
    path: Path, label: str, formats: tuple[ExportFormat, ...], budget: Budget, meter: Meter,
    stager: Stager, skips: Skips,
) -> Iterator[Extracted]:
    """The wanted images of a ZIP (ZIP64 too), in central-directory order."""
    try:
        archive = zipfile.ZipFile(path)
    except _ARCHIVE_ERRORS as exc:
        skips.add(label, "corrupt archive", f"{type(exc).__name__}: {exc}")
        return
    seen: set[str] = set()
    links: set[str] = set()  # symlinks refused: nothing below them is taken either
    archive_bytes = max(path.stat().st_size, 1)
    inflated = 0  # entries that overlap on disk (a quoted-overlap bomb) each pass the per-entry ratio
    with archive:
        for info in archive.infolist():
            if inflated > budget.ratio_floor and inflated / archive_bytes > budget.max_ratio:
                skips.add(label, f"compression ratio over {budget.max_ratio:g}", "whole archive")
                return
            name = _member_name(info.filename)
            where = f"{label}!{info.filename}"
            if info.is_dir():
                continue
            reason = _safety_refusal(name, seen, links) or _mode_refusal(info.external_attr >> 16)
            if reason == "symlink":
                links.add(name.rstrip("/"))
            if reason is None and info.flag_bits & 0x1:
                reason = "encrypted"
            if reason is None and info.file_size > budget.max_entry_bytes:
                reason = f"entry over {budget.max_entry_bytes} bytes"
            if reason is None and info.file_size > budget.ratio_floor and (
                info.compress_size == 0 or info.file_size / info.compress_size > budget.max_ratio
            ):
                reason = f"compression ratio over {budget.max_ratio:g}"
            if reason:
                skips.add(where, reason)
                continue
            if not candidate(name, formats):
                continue
            target = stager.new_path()
            compressed = max(info.compress_size, 1)
            try:
                with archive.open(info) as fh:
                    got = stream_entry(fh, name, formats, budget, meter, target,
                                       ratio=lambda n, c=compressed: n / c)
            except Refused as exc:
                skips.add(where, str(exc))
                if str(exc) == "total size budget reached":
                    return
                continue
            except WriteFailed:
                raise
            except _ARCHIVE_ERRORS as exc:
                skips.add(where, "corrupt entry", f"{type(exc).__name__}: {exc}")
                continue
            if got is None:
                skips.add(where, "not a wanted format")
                continue
            inflated += got.size
            yield got


class _BoundedTarInfo(tarfile.TarInfo):
    """TarInfo that refuses pax and GNU long-name headers over MAX_TAR_HEADER_BYTES (tarfile
    reads them whole into memory), and calls a cut-off header a corrupt archive (tarfile
    would take it for the end of the archive and stop without a word)."""

    @classmethod
    def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
        if 0 < len(buf) < tarfile.BLOCKSIZE:
            raise tarfile.ReadError(f"truncated header ({len(buf)} of {tarfile.BLOCKSIZE} bytes)")
        return super().frombuf(buf, encoding, errors)

    def _proc_pax(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.size > MAX_TAR_HEADER_BYTES:
            raise tarfile.HeaderError(f"pax header of {self.size} bytes")
        return super()._proc_pax(tarfile_)  # type: ignore[misc]

    def _proc_gnulong(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.size > MAX_TAR_HEADER_BYTES:
            raise tarfile.HeaderError(f"long-name header of {self.size} bytes")
        return super()._proc_gnulong(tarfile_)  # type: ignore[misc]


def read_tar(
    path: Path, label: str, formats: tuple[ExportFormat, ...], budget: Budget, meter: Meter,
    stager: Stager, skips: Skips,
) -> Iterator[Extracted]:
    """The wanted images of a TAR (plain, gz, bz2 or xz: detected), read as a stream."""
    seen: set[str] = set()
    links: set[str] = set()
    entries = 0
    with open(path, "rb") as raw:
        def stream_ratio(extra: int = 0) -> float:
            return (archive.offset + extra) / max(raw.tell(), 1)

        try:
            archive = tarfile.open(fileobj=raw, mode="r|*", tarinfo=_BoundedTarInfo)
        except _ARCHIVE_ERRORS as exc:
            skips.add(label, "corrupt archive", f"{type(exc).__name__}: {exc}")
            return
        compressed = raw.tell() > 0 and not _plain_tar(path)
        with archive:
            try:
                for member in archive:
                    entries += 1
                    if compressed and archive.offset > budget.ratio_floor and stream_ratio() > budget.max_ratio:
                        skips.add(label, f"compression ratio over {budget.max_ratio:g}", f"after {entries} entries")
                        return
                    name = _member_name(member.name)
                    where = f"{label}!{member.name}"
                    if member.isdir():
                        continue
                    reason = _safety_refusal(name, seen, links)
                    if reason is None:
                        if member.issym():
                            reason = "symlink"
                            links.add(name.rstrip("/"))
                        elif member.islnk():
                            reason = "hard link"
                        elif not member.isreg():
                            reason = "device or special file"
                        elif member.size > budget.max_entry_bytes:
                            reason = f"entry over {budget.max_entry_bytes} bytes"
                    if reason:
                        skips.add(where, reason)
                        continue
                    if not candidate(name, formats):
                        continue
                    fh = archive.extractfile(member)
                    if fh is None:
                        continue
                    target = stager.new_path()
                    start = archive.offset
                    ratio = (lambda n, s=start: (s + n) / max(raw.tell(), 1)) if compressed else None
                    try:
                        got = stream_entry(fh, name, formats, budget, meter, target, ratio=ratio)
                    except Refused as exc:
                        skips.add(where, str(exc))
                        if str(exc) != f"entry over {budget.max_entry_bytes} bytes":
                            return  # a bomb or the total budget: nothing after it is read
                        continue
                    if got is None:
                        skips.add(where, "not a wanted format")
                        continue
                    if got.size != member.size:  # stream mode reads a cut-off member short, silently
                        if got.staged is not None:
                            got.staged.unlink(missing_ok=True)
                        skips.add(label, "corrupt archive", f"{member.name}: {got.size} of {member.size} bytes")
                        return
                    yield got
            except WriteFailed:
                raise
            except _ARCHIVE_ERRORS as exc:
                skips.add(label, "corrupt archive", f"after {entries} entries: {type(exc).__name__}: {exc}")


def _plain_tar(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(6)
    return not (head.startswith(b"\x1f\x8b") or head.startswith(b"BZh") or head.startswith(b"\xfd7zXZ\x00"))


def archive_reader(path: Path) -> Callable[..., Iterator[Extracted]] | None:
    """read_zip / read_tar for a file named as an archive (``kinds.archive_format``), chosen by
    its first bytes (names lie); None when it is not named as one. A file that is neither is
    given to the reader its name says, which reports it as a corrupt archive."""
    named = archive_format(path.name)
    if named is None:
        return None
    if zipfile.is_zipfile(path):
        return read_zip
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        head = b""
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar":
        return read_tar
    return read_zip if named == "zip" else read_tar

"""Generated archives for the inspection tests and the benchmark (``bench/inspect_bench.py``):
ZIP (small, many entries, ZIP64, comments, hostile), TAR and tar.gz, with real image and
DICOM headers inside."""

from __future__ import annotations

import bz2
import gzip
import io
import os
import random
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from tests.inspection import helpers as img


def image_payload(i: int, size: int = 0, rng: random.Random | None = None) -> tuple[str, bytes]:
    """``(extension, bytes)`` of a real image header padded to about ``size`` bytes."""
    kind = i % 4
    if kind == 0:
        ext, head = ".png", img.png(640 + i % 7, 480)
    elif kind == 1:
        ext, head = ".jpg", img.jpeg(2048, 1536, exif_bytes=2000)
    elif kind == 2:
        ext, head = ".dcm", img.dicom(rows=496, columns=512, modality="OPT", frames=49)
    else:
        ext, head = ".tif", img.tiff(1024, 1024)
    pad = max(0, size - len(head))
    filler = (rng or random).randbytes(pad) if pad else b""
    return ext, head + filler


def zip_bytes(entries: list[tuple[str, bytes]], *, comment: bytes = b"", method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
        zf.comment = comment
    return buf.getvalue()


@contextmanager
def forced_zip64() -> Iterator[None]:
    """Make zipfile write ZIP64 records and extras on a small archive."""
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 10, 1
    try:
        yield
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


def image_zip(count: int, entry_size: int, *, seed: int = 1, extras: int = 0, method: int = zipfile.ZIP_STORED,
              comment: bytes = b"") -> bytes:
    rng = random.Random(seed)
    entries = []
    for i in range(count):
        ext, data = image_payload(i, entry_size, rng)
        entries.append((f"images/{i // 500:03d}/img_{i:06d}{ext}", data))
    for i in range(extras):
        entries.append((f"meta/labels_{i}.csv", b"id,grade\n1,0\n"))
    return zip_bytes(entries, comment=comment, method=method)


def many_entries_zip(count: int) -> bytes:
    """``count`` tiny PNGs (e.g. 100,000: needs ZIP64 end records for the count)."""
    png = img.png(64, 64)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(count):
            zf.writestr(f"scans/s{i // 1000:03d}/b{i:06d}.png", png)
    return buf.getvalue()


def tar_bytes(members: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_tar(count: int, entry_size: int, *, seed: int = 2) -> bytes:
    rng = random.Random(seed)
    return tar_bytes([(f"oct/vol_{i:05d}{image_payload(i, entry_size, rng)[0]}",
                       image_payload(i, entry_size, rng)[1]) for i in range(count)])


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def hostile_zip_million_entries() -> bytes:
    """A tiny file whose end record claims 1,000,000 entries in a 46 MB central directory."""
    body = zip_bytes([("a.png", img.png(10, 10))])
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 46_000_000, 0, 0)
    return body[: body.rfind(b"PK\x05\x06")] + eocd


def random_bytes(n: int, seed: int = 3) -> bytes:
    return random.Random(seed).randbytes(n) if n < 1 << 20 else os.urandom(n)


# --- TAR headers crafted byte by byte (what tarfile cannot write: GNU sparse, hostile pax) ------


def tar_header(name: str, size: int, typeflag: str = "0", *, gnu: bool = True,
               fields: dict[int, bytes] | None = None) -> bytes:
    """One 512-byte header block with a valid checksum; ``fields`` puts bytes at offsets."""
    block = bytearray(512)
    block[0:100] = name.encode()[:100].ljust(100, b"\x00")
    block[100:108] = b"0000644\x00"
    block[124:136] = f"{size:011o}\x00".encode()
    block[136:148] = b"00000000000\x00"
    block[156] = ord(typeflag)
    block[257:265] = b"ustar  \x00" if gnu else b"ustar\x0000"
    for offset, value in (fields or {}).items():
        block[offset : offset + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}\x00 ".encode()
    return bytes(block)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def pax_records(records: list[tuple[str, str]]) -> bytes:
    out = b""
    for key, value in records:
        body = f" {key}={value}\n".encode()
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def pax_member(kind: str, records: list[tuple[str, str]]) -> bytes:
    """A pax ``x`` (per member) or ``g`` (global) header with its records."""
    body = pax_records(records)
    return tar_header("././@PaxHeader", len(body), kind, gnu=False) + pad(body)


def _octal(value: int, width: int = 12) -> bytes:
    return f"{value:0{width - 1}o}\x00".encode()


def gnu_sparse_old(name: str, regions: list[tuple[int, int]], realsize: int) -> bytes:
    """An old GNU sparse member (type ``S``): 4 regions in the header, 21 per extension block,
    then the stored regions (filled with ``0x5a``)."""
    stored = sum(size for _, size in regions)
    fields = {483: _octal(realsize)}
    for i, (offset, size) in enumerate(regions[:4]):
        fields[386 + 24 * i] = _octal(offset)
        fields[386 + 24 * i + 12] = _octal(size)
    rest = regions[4:]
    if rest:
        fields[482] = b"\x01"
    out = tar_header(name, stored, "S", fields=fields)
    while rest:
        block = bytearray(512)
        for i, (offset, size) in enumerate(rest[:21]):
            block[24 * i : 24 * i + 12] = _octal(offset)
            block[24 * i + 12 : 24 * i + 24] = _octal(size)
        rest = rest[21:]
        block[504] = 1 if rest else 0
        out += bytes(block)
    return out + pad(b"\x5a" * stored)


def gnu_sparse_pax(version: str, name: str, regions: list[tuple[int, int]], realsize: int) -> bytes:
    """A pax sparse member in GNU tar's format ``0.0``, ``0.1`` or ``1.0``."""
    stored = sum(size for _, size in regions)
    data = b"\x5a" * stored
    header_name = f"GNUSparseFile.0/{name}"
    if version == "0.0":
        records = [("GNU.sparse.size", str(realsize)), ("GNU.sparse.numblocks", str(len(regions)))]
        for offset, size in regions:
            records += [("GNU.sparse.offset", str(offset)), ("GNU.sparse.numbytes", str(size))]
        header_name = name
    elif version == "0.1":
        flat = ",".join(f"{o},{s}" for o, s in regions)
        records = [("GNU.sparse.size", str(realsize)), ("GNU.sparse.numblocks", str(len(regions))),
                   ("GNU.sparse.name", name), ("GNU.sparse.map", flat)]
    else:
        records = [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", name),
                   ("GNU.sparse.realsize", str(realsize))]
        lines = [str(len(regions))] + [str(v) for region in regions for v in region]
        data = pad("".join(f"{line}\n" for line in lines).encode()) + data
    return pax_member("x", records) + tar_header(header_name, len(data), "0", gnu=False) + pad(data)


def end_of_archive() -> bytes:
    return bytes(1024)


# --- compressed TARs that cost seconds of CPU to list (time budget, worker thread) -------------


def bzip2_bomb_tar(members: int = 512) -> bytes:
    """A .tar.bz2 of one huge member of zeros: a few kB that inflate to ``members`` × 8 MiB
    (bzip2 streams, one after another; each produces output, so none counts as empty)."""
    zeros = bz2.compress(bytes(8 << 20), 9)
    return bz2.compress(tar_header("bomb/zeros.bin", 1 << 40), 9) + zeros * members


def empty_members_tar_gz(members: int = 200_000) -> bytes:
    """A .tar.gz of ``members`` empty files (one header each, walked one by one): ~100 kB."""
    header = tar_header("empty.txt", 0)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    out = [compressor.compress(header * 1000) for _ in range(members // 1000)]
    return b"".join(out) + compressor.flush()

"""Builders for small test files: images, DICOM, NIfTI — made here, byte by byte."""

from __future__ import annotations

import struct
import zlib


def png(width: int, height: int, colour: int = 2, bits: int = 8) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(width * 3) for _ in range(min(height, 4)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def jpeg(width: int, height: int, exif_bytes: int = 0, channels: int = 3) -> bytes:
    out = b"\xff\xd8"
    out += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    remaining = exif_bytes
    while remaining > 0:
        size = min(remaining, 65000)
        out += b"\xff\xe1" + struct.pack(">H", size + 2) + bytes(size)
        remaining -= size
    out += b"\xff\xdb" + struct.pack(">H", 67) + bytes(65)
    comps = b"".join(bytes([i + 1, 0x11, 0]) for i in range(channels))
    out += b"\xff\xc0" + struct.pack(">HBHHB", 8 + 3 * channels, 8, height, width, channels) + comps
    out += b"\xff\xda" + struct.pack(">H", 8) + bytes(6) + b"\x12\x34" * 50 + b"\xff\xd9"
    return out


def tiff(width: int, height: int, pages: int = 1, big_endian: bool = False, description: str = "") -> bytes:
    e = ">" if big_endian else "<"
    out = bytearray((b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", 8))
    for page in range(pages):
        ifd = len(out)
        desc = description.encode() + b"\x00"
        entries = [(256, 3, 1, struct.pack(e + "HH", width, 0)), (257, 4, 1, struct.pack(e + "I", height)),
                   (258, 3, 1, struct.pack(e + "HH", 8, 0)), (277, 3, 1, struct.pack(e + "HH", 1, 0))]
        if description and page == 0:
            entries.append((270, 2, len(desc), None))
        table_size = 2 + 12 * len(entries) + 4
        desc_offset = ifd + table_size
        body = struct.pack(e + "H", len(entries))
        for tag, typ, count, value in sorted(entries):
            if value is None:
                value = struct.pack(e + "I", desc_offset)
            body += struct.pack(e + "HHI", tag, typ, count) + value
        last = page == pages - 1
        extra = desc if description and page == 0 else b""
        next_ifd = 0 if last else ifd + table_size + len(extra) + 16
        body += struct.pack(e + "I", next_ifd)
        out += body + extra
        if not last:
            out += bytes(16)
    return bytes(out)


def _el(group: int, element: int, vr: bytes, value: bytes, *, explicit: bool = True, e: str = "<") -> bytes:
    if len(value) % 2:
        value += b" " if vr not in (b"UI", b"OB") else b"\x00"
    if not explicit:
        return struct.pack(e + "HHI", group, element, len(value)) + value
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack(e + "HH", group, element) + vr + b"\x00\x00" + struct.pack(e + "I", len(value)) + value
    return struct.pack(e + "HH", group, element) + vr + struct.pack(e + "H", len(value)) + value


def dicom(
    rows: int = 512, columns: int = 768, modality: str = "OP", body_part: str = "EYE", frames: int | None = None,
    transfer_syntax: str = "1.2.840.10008.1.2.1", private_bytes: int = 0, with_sequence: bool = True,
) -> bytes:
    explicit = transfer_syntax != "1.2.840.10008.1.2"
    e = ">" if transfer_syntax == "1.2.840.10008.1.2.2" else "<"
    meta = _el(0x0002, 0x0001, b"OB", b"\x00\x01") + _el(0x0002, 0x0010, b"UI", transfer_syntax.encode())
    meta = _el(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta

    def el(g: int, el_: int, vr: bytes, v: bytes) -> bytes:
        return _el(g, el_, vr, v, explicit=explicit, e=e)

    ds = el(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.77.1.5.1")
    if with_sequence:  # undefined-length sequence with one undefined-length item
        item = el(0x0008, 0x0100, b"SH", b"CODE")
        seq_head = struct.pack(e + "HH", 0x0008, 0x1032)
        seq_head += (b"SQ\x00\x00" if explicit else b"") + struct.pack(e + "I", 0xFFFFFFFF)
        ds += seq_head + struct.pack(e + "HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + item
        ds += struct.pack(e + "HHI", 0xFFFE, 0xE00D, 0) + struct.pack(e + "HHI", 0xFFFE, 0xE0DD, 0)
    ds += el(0x0008, 0x0060, b"CS", modality.encode())
    if private_bytes:
        ds += el(0x0009, 0x1010, b"OB", bytes(private_bytes))
    ds += el(0x0018, 0x0015, b"CS", body_part.encode())
    ds += el(0x0020, 0x0062, b"CS", b"R")
    ds += el(0x0028, 0x0002, b"US", struct.pack(e + "H", 1))
    if frames is not None:
        ds += el(0x0028, 0x0008, b"IS", str(frames).encode())
    ds += el(0x0028, 0x0010, b"US", struct.pack(e + "H", rows))
    ds += el(0x0028, 0x0011, b"US", struct.pack(e + "H", columns))
    ds += el(0x0028, 0x0100, b"US", struct.pack(e + "H", 8))
    ds += el(0x7FE0, 0x0010, b"OW", bytes(64))
    if transfer_syntax == "1.2.840.10008.1.2.1.99":
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        ds = comp.compress(ds) + comp.flush()
    return bytes(128) + b"DICM" + meta + ds


def nifti1(dims: tuple[int, ...], big_endian: bool = False, pair: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    header = bytearray(352)
    struct.pack_into(e + "i", header, 0, 348)
    dim = [len(dims), *dims] + [1] * (7 - len(dims))
    struct.pack_into(e + "8h", header, 40, *dim)
    struct.pack_into(e + "hh", header, 70, 4, 16)
    header[344:348] = b"ni1\x00" if pair else b"n+1\x00"
    return bytes(header) + bytes(64)


def nifti2(dims: tuple[int, ...]) -> bytes:
    header = bytearray(544)
    struct.pack_into("<i", header, 0, 540)
    header[4:12] = b"n+2\x00\r\n\x1a\n"
    struct.pack_into("<hh", header, 12, 16, 32)
    dim = [len(dims), *dims] + [1] * (7 - len(dims))
    struct.pack_into("<8q", header, 16, *dim)
    return bytes(header) + bytes(64)


def dicom_nested_sequences(levels: int, modality: str = "OP") -> bytes:
    """Explicit VR DICOM with ``levels`` sequences of undefined length, each inside an item of
    the one before, all closed by their delimiters, then Modality."""
    meta = _el(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1")
    meta = _el(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta
    ds = _el(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.77.1.5.1")
    opening = struct.pack("<HH", 0x0008, 0x1032) + b"SQ\x00\x00" + struct.pack("<I", 0xFFFFFFFF)
    opening += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    ds += opening * levels + closing * levels + _el(0x0008, 0x0060, b"CS", modality.encode())
    return bytes(128) + b"DICM" + meta + ds

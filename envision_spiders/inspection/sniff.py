"""Image, volume and video facts from the first bytes of a file.

:func:`sniff` takes the start of a file (a few KiB are usually enough) and returns a dict with
``format``, ``width``, ``height``, ``depth``, ``frames``, ``dims`` ("2D" | "3D" | "video"),
``channels``, ``bits``, and for DICOM ``modality``, ``body_part``, ``laterality``,
``sop_class``; ``None`` when nothing is recognised. Values that are not in the bytes given
stay ``None`` (a JPEG whose SOF lies past a long EXIF block, a TIFF whose IFD is at the end).

Formats: PNG (IHDR), JPEG (SOF), TIFF/BigTIFF (first IFD; ImageJ/OME page counts), DICOM
(preamble + meta group; implicit/explicit VR, big endian, deflated), NIfTI-1/2, Analyze,
NRRD, MetaImage, GIF, BMP, JPEG 2000, Heidelberg .vol OCT, MP4/MOV, AVI; gzip-wrapped
versions of any of them (``.nii.gz``).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from typing import Any

from envision_spiders.inspection.gzip_prefix import GZIP_MAGIC, decompress_prefix

Facts = dict[str, Any]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DICOM_MAGIC = b"DICM"
VIDEO_MODALITIES = frozenset({"US", "XA", "RF", "ES", "XC"})  # multi-frame = a cine loop


def _facts(fmt: str, **values: Any) -> Facts:
    facts: Facts = {
        "format": fmt,
        "width": None,
        "height": None,
        "depth": None,
        "frames": None,
        "dims": None,
        "channels": None,
        "bits": None,
        "modality": None,
        "body_part": None,
    }
    facts.update(values)
    if facts["dims"] is None and facts["width"] is not None:
        facts["dims"] = "2D"
    return facts


def sniff(data: bytes, name: str = "", *, _depth: int = 0) -> Facts | None:
    """Facts about the file whose first bytes are ``data``; ``None`` if not recognised."""
    data = bytes(data)
    if not data:
        return None
    for probe in _PROBES:
        try:
            facts = probe(data)
        except (struct.error, IndexError, ValueError, zlib.error, OverflowError):
            facts = None
        if facts is not None:
            if name:
                facts = {"name": name, **facts}
            return facts
    if data.startswith(GZIP_MAGIC) and _depth == 0:
        inner = decompress_prefix(data, "gzip", max_output=256 << 10)
        facts = sniff(inner, name, _depth=1) if inner else None
        if facts is not None:
            facts["compression"] = "gzip"
        return facts
    return None


# --- raster images ---------------------------------------------------------------------


def sniff_png(data: bytes) -> Facts | None:
    if not data.startswith(PNG_SIGNATURE):
        return None
    if len(data) < 29 or data[12:16] != b"IHDR":
        return _facts("png")
    width, height, bit_depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour)
    frames = None
    actl = data.find(b"acTL", 33)
    idat = data.find(b"IDAT", 33)
    if actl > 0 and (idat < 0 or actl < idat) and len(data) >= actl + 8:
        frames = struct.unpack(">I", data[actl + 4 : actl + 8])[0]
    return _facts(
        "png",
        width=width,
        height=height,
        bits=bit_depth,
        channels=channels,
        frames=frames,
        dims="video" if frames and frames > 1 else "2D",
    )


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def sniff_jpeg(data: bytes) -> Facts | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS:
            if pos + 10 > len(data):
                break
            bits, height, width, channels = struct.unpack_from(">BHHB", data, pos + 4)
            return _facts("jpeg", width=width, height=height, bits=bits, channels=channels)
        if marker in (0xDA, 0xD9) or length < 2:
            break
        pos += 2 + length
    return _facts("jpeg")


def sniff_tiff(data: bytes) -> Facts | None:
    head = data[:4]
    if head in (b"II*\x00", b"MM\x00*"):
        big = False
    elif head in (b"II+\x00", b"MM\x00+"):
        big = True
    else:
        return None
    e = "<" if head[:2] == b"II" else ">"
    if big:
        (ifd,) = struct.unpack_from(e + "Q", data, 8)
        count_fmt, entry_size, value_size, next_fmt = "Q", 20, 8, "Q"
    else:
        (ifd,) = struct.unpack_from(e + "I", data, 4)
        count_fmt, entry_size, value_size, next_fmt = "H", 12, 4, "I"
    fmt = "bigtiff" if big else "tiff"
    count_size = struct.calcsize(count_fmt)
    if ifd + count_size > len(data):
        return _facts(fmt)
    (count,) = struct.unpack_from(e + count_fmt, data, ifd)
    tags: dict[int, Any] = {}
    for i in range(min(count, 4096)):
        pos = ifd + count_size + i * entry_size
        if pos + entry_size > len(data):
            break
        if big:
            tag, typ, n = struct.unpack_from(e + "HHQ", data, pos)
        else:
            tag, typ, n = struct.unpack_from(e + "HHI", data, pos)
        value_pos = pos + entry_size - value_size
        tags[tag] = _tiff_value(data, e, typ, n, value_pos, value_size, big)
    next_pos = ifd + count_size + count * entry_size
    next_ifd = None
    if next_pos + struct.calcsize(next_fmt) <= len(data):
        (next_ifd,) = struct.unpack_from(e + next_fmt, data, next_pos)
    width, height = _first(tags.get(256)), _first(tags.get(257))
    bits = _first(tags.get(258))
    channels = _first(tags.get(277))
    frames: int | None = 1 if next_ifd == 0 else None
    description = tags.get(270)
    if isinstance(description, str):
        frames = _stack_size(description) or frames
    dims = None
    if width is not None:
        dims = "3D" if (frames is not None and frames > 1) or (next_ifd not in (0, None)) else "2D"
    return _facts(fmt, width=width, height=height, bits=bits, channels=channels, frames=frames,
                  depth=frames if frames and frames > 1 else None, dims=dims)


def _tiff_value(data: bytes, e: str, typ: int, n: int, pos: int, size: int, big: bool) -> Any:
    item = {1: "B", 2: "s", 3: "H", 4: "I", 16: "Q"}.get(typ)
    if item is None or n == 0:
        return None
    width = struct.calcsize(item) * n if item != "s" else n
    if width > size:
        (pos,) = struct.unpack_from(e + ("Q" if big else "I"), data, pos)
        if pos + width > len(data) or width > 1 << 16:
            return None
    if item == "s":
        return data[pos : pos + n].split(b"\x00", 1)[0].decode("latin-1")
    return list(struct.unpack_from(e + item * n, data, pos))


def _first(value: Any) -> int | None:
    if isinstance(value, list) and value:
        return int(value[0])
    return None


def _stack_size(description: str) -> int | None:
    """Plane count of an ImageJ hyperstack or an OME-TIFF, from the ImageDescription."""
    match = re.search(r"\bimages=(\d+)", description)
    if match:
        return int(match.group(1))
    z = re.search(r'SizeZ="(\d+)"', description)
    t = re.search(r'SizeT="(\d+)"', description)
    if z or t:
        return int(z.group(1) if z else 1) * int(t.group(1) if t else 1)
    return None


def sniff_gif(data: bytes) -> Facts | None:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    width, height = struct.unpack_from("<HH", data, 6)
    return _facts("gif", width=width, height=height)


def sniff_bmp(data: bytes) -> Facts | None:
    if not data.startswith(b"BM") or len(data) < 30:
        return None
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size not in (12, 40, 52, 56, 64, 108, 124):
        return None
    if header_size == 12:
        width, height, _planes, bits = struct.unpack_from("<HHHH", data, 18)
    else:
        width, height, _planes, bits = struct.unpack_from("<iiHH", data, 18)
    return _facts("bmp", width=abs(width), height=abs(height), bits=bits)


def sniff_jpeg2000(data: bytes) -> Facts | None:
    if data.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        pos = data.find(b"ihdr")
        if pos < 0 or pos + 14 > len(data):
            return _facts("jpeg2000")
        height, width, channels, bpc = struct.unpack_from(">IIHB", data, pos + 4)
        return _facts("jpeg2000", width=width, height=height, channels=channels, bits=(bpc & 0x7F) + 1)
    if data.startswith(b"\xff\x4f\xff\x51"):
        _lsiz, _rsiz, xsiz, ysiz, xo, yo = struct.unpack_from(">HHIIII", data, 4)
        return _facts("jpeg2000", width=xsiz - xo, height=ysiz - yo)
    return None


# --- medical volumes -----------------------------------------------------------------------


def sniff_nifti(data: bytes) -> Facts | None:
    if len(data) < 348:
        return None
    for e in ("<", ">"):
        (sizeof_hdr,) = struct.unpack_from(e + "i", data, 0)
        if sizeof_hdr == 348:
            magic = data[344:348]
            fmt = "nifti1" if magic in (b"n+1\x00", b"ni1\x00") else "analyze"
            if fmt == "analyze" and data[38:39] not in (b"r", b"\x00"):
                return None
            dim = struct.unpack_from(e + "8h", data, 40)
            _datatype, bitpix = struct.unpack_from(e + "hh", data, 70)
            return _volume(fmt, list(dim), bitpix)
        if sizeof_hdr == 540 and len(data) >= 540 and data[4:12] == b"n+2\x00\r\n\x1a\n":
            _datatype, bitpix = struct.unpack_from(e + "hh", data, 12)
            dim = struct.unpack_from(e + "8q", data, 16)
            return _volume("nifti2", list(dim), bitpix)
    return None


def _volume(fmt: str, dim: list[int], bits: int | None, **extra: Any) -> Facts | None:
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        return None
    sizes = [max(int(d), 1) for d in dim[1 : 1 + ndim]]
    width = sizes[0]
    height = sizes[1] if ndim > 1 else 1
    depth = sizes[2] if ndim > 2 else None
    frames = sizes[3] if ndim > 3 else None
    dims = "3D" if (depth and depth > 1) or (frames and frames > 1) else "2D"
    return _facts(fmt, width=width, height=height, depth=depth, frames=frames, dims=dims,
                  bits=bits, **extra)


def sniff_nrrd_metaimage(data: bytes) -> Facts | None:
    if data.startswith(b"NRRD000"):
        header = data.split(b"\n\n", 1)[0].decode("latin-1", "replace")
        fields = dict(_text_fields(header, ":"))
        sizes = [int(s) for s in fields.get("sizes", "").split() if s.isdigit()]
        return _volume("nrrd", [len(sizes), *sizes], None) if sizes else _facts("nrrd")
    if data[:80].lstrip().startswith((b"ObjectType", b"NDims")):
        header = data[:8192].decode("latin-1", "replace")
        fields = dict(_text_fields(header, "="))
        sizes = [int(s) for s in fields.get("DimSize", "").split() if s.isdigit()]
        if "NDims" not in fields:
            return None
        return _volume("metaimage", [len(sizes), *sizes], None) if sizes else _facts("metaimage")
    return None


def _text_fields(header: str, sep: str) -> list[tuple[str, str]]:
    out = []
    for line in header.splitlines():
        key, found, value = line.partition(sep)
        if found:
            out.append((key.strip(), value.strip()))
    return out


def sniff_heidelberg_vol(data: bytes) -> Facts | None:
    if not data.startswith(b"HSF-OCT-") or len(data) < 24:
        return None
    size_x, num_bscans, size_z = struct.unpack_from("<3I", data, 12)
    return _facts("heidelberg-vol", width=size_x, height=size_z, depth=num_bscans,
                  dims="3D" if num_bscans > 1 else "2D", modality="OCT", body_part="EYE")


# --- DICOM ---------------------------------------------------------------------------------

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT",
                       b"SV", b"UV"})
_WANTED = {
    (0x0008, 0x0016): "sop_class",
    (0x0008, 0x0060): "modality",
    (0x0018, 0x0015): "body_part",
    (0x0020, 0x0060): "laterality",
    (0x0020, 0x0062): "laterality",
    (0x0028, 0x0002): "channels",
    (0x0028, 0x0008): "frames",
    (0x0028, 0x0010): "height",
    (0x0028, 0x0011): "width",
    (0x0028, 0x0100): "bits",
}
_US_TAGS = frozenset({(0x0028, 0x0002), (0x0028, 0x0010), (0x0028, 0x0011), (0x0028, 0x0100)})
_LAST_WANTED = (0x0028, 0x0100)
MAX_DICOM_NESTING = 32  # sequences inside sequences deeper than this: stop, keep what was read


class _Truncated(Exception):
    pass


def sniff_dicom(data: bytes) -> Facts | None:
    if data[128:132] != DICOM_MAGIC:
        return None
    values: dict[str, Any] = {}
    transfer_syntax = ""
    pos = 132
    try:
        # file meta group: always explicit VR little endian
        while pos + 8 <= len(data):
            group, element = struct.unpack_from("<HH", data, pos)
            if group != 0x0002:
                break
            pos, value = _read_element(data, pos, explicit=True, e="<")
            if element == 0x0010 and value is not None:
                transfer_syntax = value.rstrip(b"\x00 ").decode("ascii", "replace")
        body, e, explicit = data[pos:], "<", True
        if transfer_syntax == IMPLICIT_LE:
            explicit = False
        elif transfer_syntax == EXPLICIT_BE:
            e = ">"
        elif transfer_syntax == DEFLATED_LE:
            body = zlib.decompressobj(-15).decompress(body, 1 << 20)
        _walk_dataset(body, explicit, e, values)
    except _Truncated:
        pass
    frames = values.get("frames")
    modality = values.get("modality")
    dims = None
    if values.get("width") is not None:
        if frames and frames > 1:
            dims = "video" if modality in VIDEO_MODALITIES else "3D"
        else:
            dims = "2D"
    facts = _facts("dicom", dims=dims, transfer_syntax=transfer_syntax or None, **values)
    if frames and frames > 1 and dims == "3D":
        facts["depth"] = frames
    return facts


def _read_element(data: bytes, pos: int, *, explicit: bool, e: str) -> tuple[int, bytes | None]:
    """Read one element at ``pos``; return the position after it and its value (``None`` for
    sequences / undefined lengths, which are skipped)."""
    start, length = _element_header(data, pos, explicit=explicit, e=e)
    if length is None:  # item / delimiters: no VR, no value here
        return start, None
    if length == 0xFFFFFFFF:
        return _skip_undefined(data, start, explicit, e), None
    end = start + length
    if end > len(data):
        raise _Truncated
    return end, data[start:end]


def _element_header(data: bytes, pos: int, *, explicit: bool, e: str) -> tuple[int, int | None]:
    """Where the value of the element at ``pos`` starts and its length (``None`` for items
    and delimiters, group 0xFFFE, whose 8 bytes are all there is here)."""
    if pos + 8 > len(data):
        raise _Truncated
    (group,) = struct.unpack_from(e + "H", data, pos)
    if group == 0xFFFE:
        return pos + 8, None
    if explicit:
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                raise _Truncated
            (length,) = struct.unpack_from(e + "I", data, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from(e + "H", data, pos + 6)
            start = pos + 8
    else:
        (length,) = struct.unpack_from(e + "I", data, pos + 4)
        start = pos + 8
    return start, length


def _skip_undefined(data: bytes, pos: int, explicit: bool, e: str) -> int:
    """Skip a sequence (or encapsulated data) of undefined length: to its delimiter.

    Iterative: a sequence nested in it counts one level deeper instead of recursing; past
    :data:`MAX_DICOM_NESTING` levels the reading stops (as if the data were cut there).
    """
    depth = 1
    while depth:
        if pos + 8 > len(data):
            raise _Truncated
        group, element = struct.unpack_from(e + "HH", data, pos)
        if group == 0xFFFE:
            (length,) = struct.unpack_from(e + "I", data, pos + 4)
            if element == 0xE0DD:  # sequence delimiter
                depth -= 1
                pos += 8
            elif element == 0xE00D or length == 0xFFFFFFFF:  # item end / undefined-length item
                pos += 8
            else:  # item of defined length (or a pixel fragment)
                pos += 8 + length
            continue
        start, value_length = _element_header(data, pos, explicit=explicit, e=e)
        if value_length == 0xFFFFFFFF:  # a nested sequence of undefined length
            depth += 1
            if depth > MAX_DICOM_NESTING:
                raise _Truncated
            pos = start
        else:
            pos = start + (value_length or 0)
    return pos


def _walk_dataset(data: bytes, explicit: bool, e: str, values: dict[str, Any]) -> None:
    pos = 0
    while pos + 8 <= len(data):
        group, element = struct.unpack_from(e + "HH", data, pos)
        if (group, element) > _LAST_WANTED:
            return
        pos, value = _read_element(data, pos, explicit=explicit, e=e)
        key = _WANTED.get((group, element))
        if key is None or value is None:
            continue
        if (group, element) in _US_TAGS:
            if len(value) >= 2:
                values[key] = struct.unpack_from(e + "H", value)[0]
        elif key == "frames":
            text = value.rstrip(b"\x00 ").decode("ascii", "replace").strip()
            if text.isdigit():
                values[key] = int(text)
        else:
            text = value.rstrip(b"\x00 ").decode("ascii", "replace").strip()
            if text:
                values.setdefault(key, text.upper() if key != "sop_class" else text)


# --- video -------------------------------------------------------------------------------------


def sniff_mp4(data: bytes) -> Facts | None:
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None
    brand = data[8:12]
    fmt = "mov" if brand == b"qt  " else "mp4"
    width = height = None
    pos = 0
    while True:
        pos = data.find(b"tkhd", pos + 1)
        if pos < 0:
            break
        version = data[pos + 4] if pos + 4 < len(data) else 0
        offset = pos + 4 + 4 + (32 if version == 1 else 20) + 8 + 8 + 36
        if offset + 8 > len(data):
            break
        w, h = struct.unpack_from(">II", data, offset)
        if w and h:
            width, height = w >> 16, h >> 16
            break
    return _facts(fmt, width=width, height=height, dims="video")


def sniff_avi(data: bytes) -> Facts | None:
    if not (data.startswith(b"RIFF") and data[8:12] == b"AVI "):
        return None
    pos = data.find(b"avih")
    if pos < 0 or pos + 8 + 40 > len(data):
        return _facts("avi", dims="video")
    frames = struct.unpack_from("<I", data, pos + 8 + 16)[0]
    width, height = struct.unpack_from("<II", data, pos + 8 + 32)
    return _facts("avi", width=width, height=height, frames=frames, dims="video")


_PROBES: tuple[Callable[[bytes], Facts | None], ...] = (
    sniff_png,
    sniff_jpeg,
    sniff_dicom,
    sniff_tiff,
    sniff_nifti,
    sniff_nrrd_metaimage,
    sniff_heidelberg_vol,
    sniff_jpeg2000,
    sniff_gif,
    sniff_bmp,
    sniff_mp4,
    sniff_avi,
)

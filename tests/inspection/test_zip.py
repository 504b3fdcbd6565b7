from __future__ import annotations

import io
import struct
import zipfile

import pytest

from envision_spiders.inspection import zip as z
from envision_spiders.inspection.errors import ArchiveError, NeedMoreData

TAIL = 64 * 1024


def make_zip(entries: dict[str, bytes], *, comment: bytes = b"", method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        zf.comment = comment
    return buf.getvalue()


def listing(data: bytes, tail: int = TAIL) -> tuple[z.CentralDirectoryLocation, list[z.CentralDirectoryEntry]]:
    loc = z.locate_central_directory(data[-tail:], len(data))
    return loc, list(z.iter_central_directory(data[loc.cd_offset : loc.cd_end], prefix_bytes=loc.prefix_bytes))


def test_entries_match_zipfile() -> None:
    data = make_zip({"a/one.png": b"x" * 1000, "a/": b"", "two.txt": b"hello" * 100})
    loc, entries = listing(data)
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert loc.format == "zip" and loc.entries_total == 3 and loc.prefix_bytes == 0
    assert [e.name for e in entries] == [i.filename for i in infos]
    for entry, info in zip(entries, infos):
        assert (entry.uncompressed_size, entry.compressed_size) == (info.file_size, info.compress_size)
        assert (entry.header_offset, entry.method, entry.crc) == (info.header_offset, info.compress_type, info.CRC)
    assert entries[1].is_dir and not entries[0].is_dir
    assert loc.end_records_size == 22


def test_comment_is_skipped_even_when_it_contains_a_fake_end_record() -> None:
    fake = b"PK\x05\x06" + bytes(18)
    comment = b"note " + fake + b" end" * 100
    data = make_zip({"x.csv": b"1,2"}, comment=comment)
    loc, entries = listing(data)
    assert loc.comment == comment and [e.name for e in entries] == ["x.csv"]
    assert loc.end_records_size == 22 + len(comment)


def test_longest_comment_fits_a_tail_of_eocd_plus_64k() -> None:
    comment = b"c" * 0xFFFF
    data = make_zip({"x.csv": b"1,2"}, comment=comment)
    loc, entries = listing(data, tail=z.MAX_EOCD_SEARCH + 200)
    assert len(loc.comment) == 0xFFFF and entries[0].name == "x.csv"


def test_trailing_garbage_after_the_archive() -> None:
    data = make_zip({"x.csv": b"1,2"}) + b"\x00" * 100
    loc = z.locate_central_directory(data[-TAIL:], len(data))
    assert loc.entries_total == 1


def test_empty_archive() -> None:
    data = make_zip({})
    assert len(data) == 22
    loc, entries = listing(data)
    assert (loc.entries_total, loc.cd_size, entries) == (0, 0, [])


def test_forced_zip64_on_a_small_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 10)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    data = make_zip({"a.png": b"p" * 100, "b.dcm": b"d" * 200}, comment=b"hi")
    loc, entries = listing(data)
    assert loc.format == "zip64" and loc.entries_total == 2 and loc.zip64_end_offset is not None
    assert loc.end_records_size == 56 + 20 + 22 + 2
    assert [(e.name, e.uncompressed_size) for e in entries] == [("a.png", 100), ("b.dcm", 200)]
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert [e.header_offset for e in entries] == [i.header_offset for i in infos]
    assert all(e.extra_length > 0 for e in entries)  # sizes came from the ZIP64 extra field


@pytest.mark.parametrize("cut", [10, 40, 75])
def test_zip64_records_before_the_tail_are_asked_for_exactly(monkeypatch: pytest.MonkeyPatch, cut: int) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 10)
    data = make_zip({"a.png": b"p" * 100, "b.png": b"q"}, comment=b"c" * 0xFFFF)
    tail_offset = len(data) - (22 + 0xFFFF + cut)
    tail = data[tail_offset:]
    with pytest.raises(NeedMoreData) as info:
        z.locate_central_directory(tail, len(data))
    start, end = info.value.start, info.value.end
    assert end == tail_offset and start == len(data) - 22 - 0xFFFF - 76
    loc = z.locate_central_directory(data[start:end] + tail, len(data))
    assert loc.format == "zip64" and loc.entries_total == 2 and loc.prefix_bytes == 0
    assert loc.cd_offset == zipfile.ZipFile(io.BytesIO(data)).start_dir
    assert z.locate_central_directory(data[-(22 + 0xFFFF + 76) :], len(data)) == loc


def test_hundred_thousand_entries() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(100_000):
            zf.writestr(f"img/{i:06d}.jpg", b"")
    data = buf.getvalue()
    loc = z.locate_central_directory(data[-TAIL:], len(data))
    assert loc.format == "zip64" and loc.entries_total == 100_000  # > 65535 entries needs ZIP64
    names = [e.name for e in z.iter_central_directory(data[loc.cd_offset : loc.cd_end])]
    assert len(names) == 100_000 and names[-1] == "img/099999.jpg"


def test_cut_short_central_directory_stops_quietly_or_raises() -> None:
    data = make_zip({f"f{i}.png": b"x" for i in range(50)})
    loc = z.locate_central_directory(data[-TAIL:], len(data))
    part = data[loc.cd_offset : loc.cd_offset + loc.cd_size // 2]
    some = list(z.iter_central_directory(part, complete=False))
    assert 0 < len(some) < 50
    with pytest.raises(ArchiveError, match="truncated"):
        list(z.iter_central_directory(part, complete=True))


def test_corrupt_central_directory_entry() -> None:
    data = bytearray(make_zip({f"f{i}.png": b"x" for i in range(10)}))
    loc = z.locate_central_directory(bytes(data[-TAIL:]), len(data))
    cd = bytearray(data[loc.cd_offset : loc.cd_end])
    entries = list(z.iter_central_directory(bytes(cd)))
    fifth = sum(46 + e.name_length + e.extra_length for e in entries[:5])
    cd[fifth : fifth + 4] = b"XXXX"
    seen: list[z.CentralDirectoryEntry] = []
    with pytest.raises(ArchiveError, match="signature"):
        seen.extend(z.iter_central_directory(bytes(cd)))
    assert len(seen) == 5


def test_truncated_file_has_no_end_record() -> None:
    data = make_zip({"a.png": b"x" * 5000})
    with pytest.raises(ArchiveError, match="end of central directory"):
        z.locate_central_directory(data[:-10][-TAIL:], len(data) - 10)


def test_not_a_zip() -> None:
    with pytest.raises(ArchiveError):
        z.locate_central_directory(b"\x1f\x8b" + bytes(5000), 5002)


def _eocd(entries: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4s4H2LH", z.EOCD_SIGNATURE, 0, 0, entries, entries, cd_size, cd_offset, 0)


@pytest.mark.parametrize(
    ("entries", "cd_size", "cd_offset", "message"),
    [
        (50_000, 1000, 100, "cannot fit"),  # a million-entry claim in a tiny directory
        (1, 10**9, 0, "exceeds the file"),
        (1, 100, 5000, "overlaps"),
    ],
)
def test_absurd_end_records(entries: int, cd_size: int, cd_offset: int, message: str) -> None:
    data = bytes(1100) + _eocd(entries, cd_size, cd_offset)
    with pytest.raises(ArchiveError, match=message):
        z.locate_central_directory(data, len(data))


def test_prepended_data_is_accounted_for() -> None:
    archive = make_zip({"a.png": b"a" * 300, "b.png": b"b" * 300})
    data = b"#!stub\n" * 100 + archive
    loc, entries = listing(data)
    assert loc.prefix_bytes == 700
    header = z.parse_local_header(data, entries[1].header_offset)
    assert header.name == "b.png"


def test_local_header_and_bounded_inflation() -> None:
    content = bytes(range(256)) * 4000
    data = make_zip({"big.bin": content, "stored.bin": content[:500]})
    _, entries = listing(data)
    big = entries[0]
    header = z.parse_local_header(data, big.header_offset)
    start = big.header_offset + header.data_start
    assert header.method == zipfile.ZIP_DEFLATED
    assert z.inflate_prefix(data[start : start + 200], header.method, 1000) == content[: len(
        z.inflate_prefix(data[start : start + 200], header.method, 1000))]
    assert z.inflate_prefix(data[start : start + big.compressed_size], header.method, 1000) == content[:1000]
    bomb = make_zip({"zeros": bytes(20_000_000)})
    _, (entry,) = listing(bomb)
    h = z.parse_local_header(bomb, 0)
    out = z.inflate_prefix(bomb[h.data_start : h.data_start + entry.compressed_size], h.method, 4096)
    assert out == bytes(4096)
    with pytest.raises(ArchiveError):
        z.parse_local_header(b"PK\x01\x02" + bytes(40))
    with pytest.raises(NeedMoreData):
        z.parse_local_header(b"PK\x03\x04")


def test_name_encodings() -> None:
    data = make_zip({"fundus_é.png": b"1"})
    (entry,) = listing(data)[1]
    assert entry.name == "fundus_é.png" and entry.flags & z.FLAG_UTF8
    raw = bytearray(make_zip({"xx.png": b"1"}))
    raw = raw.replace(b"xx.png", b"\x82x.png")  # cp437 0x82 is 'é'
    (entry,) = listing(bytes(raw))[1]
    assert entry.name == "éx.png"

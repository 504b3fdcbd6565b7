from __future__ import annotations

import io
import tarfile

import pytest

from envision_spiders.inspection import tar as t
from envision_spiders.inspection.errors import ArchiveError
from tests.inspection import corpus


def make_tar(members: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT, **kw: object) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, **kw) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
                continue
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def walk_all(data: bytes) -> list[t.TarMember]:
    walker = t.TarWalker()
    members = walker.feed(data, 0)
    assert walker.done
    return members


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_members_match_tarfile(fmt: int) -> None:
    data = make_tar([("d/", b""), ("d/a.png", b"a" * 700), ("b.txt", b"")], fmt=fmt)
    members = walk_all(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        infos = tf.getmembers()
    assert [(m.name.rstrip("/"), m.size) for m in members] == [(i.name, i.size) for i in infos]
    assert [m.header_offset for m in members] == [i.offset for i in infos]
    assert [m.data_offset for m in members] == [i.offset_data for i in infos]
    assert members[0].is_dir and members[1].is_file


def test_long_names_gnu_and_pax() -> None:
    long = "very/" * 40 + "deep_fundus_image.png"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        data = make_tar([(long, b"x" * 10), ("short.csv", b"1")], fmt=fmt)
        members = walk_all(data)
        assert [m.name for m in members] == [long, "short.csv"]
        assert members[0].size == 10


def test_ustar_prefix_field() -> None:
    name = "p" * 120 + "/file.png"
    data = make_tar([(name, b"z")], fmt=tarfile.USTAR_FORMAT)
    assert walk_all(data)[0].name == name


def test_pax_global_header_and_size_override() -> None:
    data = make_tar([("a.png", b"1" * 5)], fmt=tarfile.PAX_FORMAT, pax_headers={"comment": "global"})
    assert [m.name for m in walk_all(data)] == ["a.png"]
    assert t.parse_pax(b"21 path=dir/x.nii.gz\n11 size=42\n") == {"path": "dir/x.nii.gz", "size": "42"}
    with pytest.raises(ArchiveError):
        t.parse_pax(b"99 path=x\n")


def test_base256_size() -> None:
    assert t._number(b"\x80" + bytes(6) + (5 * 1024**3).to_bytes(5, "big")) == 5 * 1024**3
    assert t._number(b"0000644\x00") == 0o644


def test_walker_over_chunks_and_need() -> None:
    data = make_tar([(f"f{i}.png", bytes(1500)) for i in range(5)])
    walker = t.TarWalker()
    found = []
    offset = 0
    requests = 0
    while not walker.done:
        chunk = data[walker.pos : walker.pos + walker.need]
        offset = walker.pos
        found += walker.feed(chunk, offset)
        requests += 1
    assert [m.name for m in found] == [f"f{i}.png" for i in range(5)]
    assert requests == 6  # one 512-byte read per header + the end marker


def test_long_name_needs_its_data_with_the_header() -> None:
    data = make_tar([("n" * 300 + ".png", b"q")])
    walker = t.TarWalker()
    assert walker.feed(data[:512], 0) == []
    assert walker.need == 512 + 512 and walker.pos == 0
    (member,) = walker.feed(data[: walker.need + 512], 0)
    assert member.name.endswith(".png") and len(member.name) == 304


def test_not_a_tar_and_corrupt_header() -> None:
    with pytest.raises(ArchiveError, match="checksum"):
        t.TarWalker().feed(b"PK\x03\x04" + bytes(1020), 0)
    data = bytearray(make_tar([("a.png", b"1" * 600), ("b.png", b"2")]))
    data[1536 + 10] ^= 0xFF  # second header's name
    walker = t.TarWalker()
    with pytest.raises(ArchiveError):
        walker.feed(bytes(data), 0)


def test_hostile_meta_size() -> None:
    header = bytearray(512)
    header[0:5] = b"xxxxx"
    header[124:136] = b"77777777777\x00"
    header[156] = ord("L")
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header):06o}\x00 ".encode()
    with pytest.raises(ArchiveError, match="meta header"):
        t.TarWalker().feed(bytes(header) + bytes(512), 0)


def test_stream_skips_data_and_captures_prefixes() -> None:
    members = [(f"m{i}.png", bytes([i]) * (3000 + i)) for i in range(20)]
    data = make_tar(members)
    stream = t.TarStream(capture=lambda m: 100 if m.name in ("m3.png", "m19.png") else 0)
    seen = []
    for i in range(0, len(data), 700):
        seen += stream.feed(data[i : i + 700])
        assert len(stream._buf) <= 700 + 1024 + 512
    assert stream.done and [m.name for m in seen] == [n for n, _ in members]
    assert [(m.name, d) for m, d in stream.captured] == [("m3.png", b"\x03" * 100), ("m19.png", b"\x13" * 100)]


def test_stream_partial_capture_at_end_of_prefix() -> None:
    data = make_tar([("a.dcm", b"D" * 5000)])
    stream = t.TarStream(capture=lambda m: 4096)
    stream.feed(data[:512 + 1000])
    assert not stream.done and stream.captured == []
    stream.flush_partial()
    assert stream.captured[0][1] == b"D" * 1000


# --- GNU sparse members (crafted: tarfile reads them but cannot write them) --------------------------

REGIONS = [(i * 8192, 1000 + i) for i in range(30)]  # 30 regions: the old format needs 2 extension blocks
REAL_SIZE = 300_000


def sparse_archive(kind: str) -> bytes:
    member = (corpus.gnu_sparse_old("disk.img", REGIONS, REAL_SIZE) if kind == "S"
              else corpus.gnu_sparse_pax(kind, "disk.img", REGIONS, REAL_SIZE))
    return member + corpus.tar_header("after.txt", 5) + corpus.pad(b"hello") + corpus.end_of_archive()


@pytest.mark.parametrize("kind", ["S", "0.0", "0.1", "1.0"])
def test_gnu_sparse_member_listed_with_real_name_and_size(kind: str) -> None:
    data = sparse_archive(kind)
    members = walk_all(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        infos = tf.getmembers()
    assert [(m.name, m.size, m.data_offset) for m in members] == [
        (i.name, i.size, i.offset_data) for i in infos
    ] == [("disk.img", REAL_SIZE, infos[0].offset_data), ("after.txt", 5, infos[1].offset_data)]
    sparse = members[0]
    assert sparse.sparse and sparse.is_file and sparse.data_size == sum(n for _, n in REGIONS)
    assert data[sparse.data_offset : sparse.data_offset + 4] == b"ZZZZ"  # past extension blocks / map
    assert not members[1].sparse and members[1].data_size == 5


@pytest.mark.parametrize("kind", ["S", "1.0"])
def test_gnu_sparse_over_ranged_reads_and_a_stream(kind: str) -> None:
    data = sparse_archive(kind)
    walker = t.TarWalker()
    found: list[t.TarMember] = []
    reads = 0
    while not walker.done:
        found += walker.feed(data[walker.pos : walker.pos + walker.need], walker.pos)
        reads += 1
    assert [m.name for m in found] == ["disk.img", "after.txt"] and reads <= 6
    stream = t.TarStream(capture=lambda m: 10)
    seen = [m for i in range(0, len(data), 100) for m in stream.feed(data[i : i + 100])]
    assert [(m.name, m.size) for m in seen] == [(m.name, m.size) for m in found]
    assert stream.captured[0][1] == b"Z" * 10 and stream.captured[1][1] == b"hello"

"""Safe streamed reading of images from ZIP/TAR: what is taken, what is refused and why."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from envision_spiders.trainingset.extract import (
    Meter,
    Skips,
    Stager,
    archive_reader,
    read_zip,
)
from envision_spiders.trainingset.formats import parse_formats
from envision_spiders.trainingset.options import Budget
from tests.inspection.corpus import forced_zip64
from tests.inspection.helpers import dicom
from tests.trainingset.builders import image_bytes, tar_of, zip_of

PNG_JPEG = parse_formats("png,jpeg")


def read(path: Path, tmp_path: Path, formats=PNG_JPEG, budget: Budget | None = None, meter: Meter | None = None):
    stage = tmp_path / "stage"
    if stage.exists():  # each read stages afresh
        for old in stage.iterdir():
            old.unlink()
    stage.mkdir(exist_ok=True)
    skips = Skips()
    reader = archive_reader(path)
    assert reader is not None
    got = list(reader(path, path.name, formats, budget or Budget(), meter or Meter(0), Stager(stage), skips))
    return got, skips


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_zip_images_are_staged_with_sha256_and_header_facts(tmp_path):
    png, jpg = image_bytes(1), image_bytes(2, "JPEG", (20, 10))
    path = write(tmp_path, "a.zip", zip_of([("x/a.png", png), ("x/b.jpg", jpg), ("x/readme.txt", b"hi")]))
    got, skips = read(path, tmp_path)
    assert [(g.member, g.format.name, g.facts["width"], g.facts["height"]) for g in got] == [
        ("x/a.png", "png", 12, 9), ("x/b.jpg", "jpeg", 20, 10)]
    assert got[0].staged.read_bytes() == png and got[1].staged.read_bytes() == jpg
    import hashlib
    assert got[0].sha256 == hashlib.sha256(png).hexdigest()
    assert not skips.counts  # the .txt is simply not a candidate


def test_zip64_archive_is_read(tmp_path):
    with forced_zip64():
        data = zip_of([(f"c/{i}.png", image_bytes(i)) for i in range(3)])
    path = write(tmp_path, "z64.zip", data)
    got, _ = read(path, tmp_path)
    assert len(got) == 3


def _zip_with_infos(entries: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info, payload in entries:
            zf.writestr(info, payload)
    return buf.getvalue()


def _info(name: str, mode: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _mark_encrypted(data: bytes, name: str) -> bytes:
    """Set the 'encrypted' flag of ``name`` in its local and central headers (zipfile's writer
    clears flags it did not set itself)."""
    out = bytearray(data)
    raw = name.encode()
    for signature, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        pos = out.find(signature)
        while pos >= 0:
            if out[pos + name_at: pos + name_at + len(raw)] == raw:
                out[pos + flags_at] |= 0x1
            pos = out.find(signature, pos + 4)
    return bytes(out)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_hostile_zip_entries_are_refused_each_with_its_reason(tmp_path):
    png = image_bytes(3)
    data = _zip_with_infos([
        (_info("../evil.png"), png),
        (_info("/abs.png"), png),
        (_info("C:/win.png"), png),
        (_info("link.png", stat.S_IFLNK | 0o777), b"/etc/passwd"),
        (_info("dev.png", stat.S_IFCHR | 0o600), b""),
        (_info("fifo.png", stat.S_IFIFO | 0o600), b""),
        (_info("secret.png"), png),
        (_info("ok/good.png"), png),
        (_info("ok/good.png"), image_bytes(4)),
        (_info("ok/fake.png"), b"this is text, not a png" * 10),
    ])
    path = write(tmp_path, "hostile.zip", _mark_encrypted(data, "secret.png"))
    got, skips = read(path, tmp_path)
    assert [g.member for g in got] == ["ok/good.png"]
    assert got[0].staged.read_bytes() == png  # the first of two same-named entries
    assert dict(skips.counts) == {
        "absolute or parent path": 3, "symlink": 1, "device or special file": 2, "encrypted": 1,
        "duplicate name": 1, "not a wanted format": 1,
    }
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == [got[0].staged.name]


def test_zip_bomb_is_refused_by_ratio_before_any_byte_is_inflated(tmp_path):
    bomb = b"\x89PNG\r\n\x1a\n" + bytes(40 << 20)
    path = write(tmp_path, "bomb.zip", zip_of([("b/bomb.png", bomb), ("b/ok.png", image_bytes(5))]))
    got, skips = read(path, tmp_path)
    assert [g.member for g in got] == ["b/ok.png"]
    assert dict(skips.counts) == {"compression ratio over 200": 1}


def test_entry_and_total_budgets(tmp_path):
    big = image_bytes(6, size=(300, 300))
    path = write(tmp_path, "a.zip", zip_of([("a.png", big), ("b.png", image_bytes(7)), ("c.png", image_bytes(8))],
                                          method=zipfile.ZIP_STORED))
    got, skips = read(path, tmp_path, budget=Budget(max_entry_bytes=len(big) - 1))
    assert [g.member for g in got] == ["b.png", "c.png"]
    assert list(skips.counts) == [f"entry over {len(big) - 1} bytes"]
    meter = Meter(len(big) + 10)
    got, skips = read(path, tmp_path, meter=meter)
    assert [g.member for g in got] == ["a.png"]  # b.png would pass the total: the rest is not read
    assert dict(skips.counts) == {"total size budget reached": 1}


def test_corrupt_zip_entry_is_skipped_and_the_rest_is_read(tmp_path):
    data = bytearray(zip_of([("a.png", image_bytes(9, size=(64, 64))), ("b.png", image_bytes(10))],
                            method=zipfile.ZIP_STORED))
    pos = data.find(b"IDAT")
    data[pos + 8] ^= 0xFF  # breaks a.png's CRC, not its header
    path = write(tmp_path, "crc.zip", bytes(data))
    got, skips = read(path, tmp_path)
    assert [g.member for g in got] == ["b.png"]
    assert list(skips.counts) == ["corrupt entry"]
    assert len(list((tmp_path / "stage").iterdir())) == 1


def test_corrupt_archive_is_skipped_with_a_reason(tmp_path):
    path = write(tmp_path, "junk.zip", b"PK\x03\x04" + b"\x00" * 100)
    assert archive_reader(path) is read_zip
    assert archive_reader(write(tmp_path, "photo.png", image_bytes(1))) is None
    skips = Skips()
    assert list(read_zip(path, "junk.zip", PNG_JPEG, Budget(), Meter(0), Stager(None), skips)) == []
    assert list(skips.counts) == ["corrupt archive"]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_variants_are_streamed(tmp_path, mode):
    entries = [(f"t/{c}/{i}.png", image_bytes(i * 7 + j)) for j, c in enumerate("AB") for i in range(3)]
    path = write(tmp_path, "a.tar" + {"w": "", "w:gz": ".gz", "w:bz2": ".bz2", "w:xz": ".xz"}[mode],
                 tar_of(entries, mode))
    got, skips = read(path, tmp_path)
    assert [g.member for g in got] == [n for n, _ in entries]
    assert not skips.counts


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for info, payload in members:
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def _ti(name: str, payload: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(payload) if kind == tarfile.REGTYPE else 0
    return info, payload if kind == tarfile.REGTYPE else None


def test_hostile_tar_entries_are_refused_each_with_its_reason(tmp_path):
    png = image_bytes(11)
    data = _tar([
        _ti("../../evil.png", png),
        _ti("/etc/abs.png", png),
        _ti("sym.png", kind=tarfile.SYMTYPE, link="/etc/passwd"),
        _ti("hard.png", kind=tarfile.LNKTYPE, link="ok/a.png"),
        _ti("chr.png", kind=tarfile.CHRTYPE),
        _ti("blk.png", kind=tarfile.BLKTYPE),
        _ti("fifo.png", kind=tarfile.FIFOTYPE),
        _ti("ok/a.png", png),
        _ti("ok/a.png", image_bytes(12)),
    ])
    path = write(tmp_path, "hostile.tar.gz", data)
    got, skips = read(path, tmp_path)
    assert [g.member for g in got] == ["ok/a.png"]
    assert dict(skips.counts) == {
        "absolute or parent path": 2, "symlink": 1, "hard link": 1, "device or special file": 3, "duplicate name": 1,
    }


def test_gzip_tar_bomb_stops_the_archive_on_the_stream_ratio(tmp_path):
    bomb = b"\x89PNG\r\n\x1a\n" + bytes(30 << 20)
    path = write(tmp_path, "bomb.tar.gz", tar_of([("bomb.png", bomb), ("after.png", image_bytes(13))]))
    assert path.stat().st_size < 200_000
    got, skips = read(path, tmp_path)
    assert got == []
    assert dict(skips.counts) == {"compression ratio over 200": 1}
    assert list((tmp_path / "stage").iterdir()) == []


def test_oversized_pax_header_is_refused_not_buffered(tmp_path):
    info = tarfile.TarInfo("x.png")
    info.pax_headers = {"comment": "x" * (2 << 20)}
    png = image_bytes(14)
    info.size = len(png)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(info, io.BytesIO(png))
    path = write(tmp_path, "pax.tar.gz", buf.getvalue())
    got, skips = read(path, tmp_path)
    assert got == []
    assert list(skips.counts) == ["corrupt archive"]
    assert "pax header" in skips.examples["corrupt archive"][0]


@pytest.mark.parametrize("cut", [15 * 1024 + 100, 15 * 1024 + 512 + 50], ids=["in-header", "in-data"])
@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_truncated_tar_keeps_the_entries_before_the_damage(tmp_path, cut, mode):
    entries = [(f"{i}.png", image_bytes(i, size=(40, 40))) for i in range(20)]  # one 512-byte block each
    data = tar_of(entries, "w")
    if mode == "w:gz":
        import gzip
        data = gzip.compress(data[:cut])
        path = write(tmp_path, "cut.tar.gz", data)
    else:
        path = write(tmp_path, "cut.tar", data[:cut])
    got, skips = read(path, tmp_path)
    assert [g.member for g in got] == [n for n, _ in entries[:15]]
    assert list(skips.counts) == ["corrupt archive"]
    assert len(list((tmp_path / "stage").iterdir())) == 15


def test_dicom_kept_only_when_named_in_formats(tmp_path):
    path = write(tmp_path, "d.zip", zip_of([("s/IM000001", dicom()), ("s/b.dcm", dicom(modality="OPT")),
                                            ("s/c.png", image_bytes(15))]))
    got, _ = read(path, tmp_path)
    assert [g.member for g in got] == ["s/c.png"]
    got, _ = read(path, tmp_path, formats=parse_formats("png,dicom"))
    assert [(g.member, g.format.name, g.facts["modality"]) for g in got] == [
        ("s/IM000001", "dicom", "OP"), ("s/b.dcm", "dicom", "OPT"), ("s/c.png", "png", None)]


def test_entries_below_a_refused_symlink_are_refused_too(tmp_path):
    png = image_bytes(16)
    link_info, _ = _ti("d/out", kind=tarfile.SYMTYPE, link="/tmp")
    data = _tar([(link_info, None), _ti("d/out/x.png", png), _ti("d/in.png", png)], mode="w")
    got, skips = read(write(tmp_path, "l.tar", data), tmp_path)
    assert [g.member for g in got] == ["d/in.png"]
    assert dict(skips.counts) == {"symlink": 1, "below a symlink": 1}
    zdata = _zip_with_infos([(_info("d/out", stat.S_IFLNK | 0o777), b"/tmp"), (_info("d/out/x.png"), png)])
    got, skips = read(write(tmp_path, "l.zip", zdata), tmp_path)
    assert got == [] and dict(skips.counts) == {"symlink": 1, "below a symlink": 1}

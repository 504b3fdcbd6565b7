"""The interpreter's own archive test data as an external oracle.

CPython ships the archives its ``tarfile`` and ``zipfile`` tests read (``test/archivetestdata``
since 3.12, ``test/`` and ``test/ziptestdata`` before): ustar, GNU and pax members, old and pax
sparse files, long and non-ASCII names, self-extracting ZIPs. Our listing must agree with
``tarfile``/``zipfile`` on each; the tests skip when the interpreter was installed without them.
"""

from __future__ import annotations

import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest

from envision_spiders.inspection import tar as t
from envision_spiders.inspection import zip as z
from envision_spiders.inspection.errors import ArchiveError
from envision_spiders.inspection.gzip_prefix import StreamDecoder


def _test_data_dirs() -> list[Path]:
    try:
        import test  # the interpreter's regression-test package
    except ImportError:
        return []
    base = Path(test.__file__).parent
    return [d for d in (base / "archivetestdata", base, base / "ziptestdata") if d.is_dir()]


def _files(accept: str) -> list[Path]:
    found = []
    for folder in _test_data_dirs():
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix in (".py", ".pyc", ".md", ".sh"):
                continue
            if accept == "tar" and path.suffix == ".tar":
                found.append(path)
            elif accept == "zip" and path.suffix not in (".tar", ".xz") and zipfile.is_zipfile(path):
                found.append(path)
    return found


TARS = _files("tar")
ZIPS = _files("zip")
needs_tars = pytest.mark.skipif(not TARS, reason="the interpreter ships no tar test data")
needs_zips = pytest.mark.skipif(not ZIPS, reason="the interpreter ships no zip test data")


def _printable(name: str) -> str:
    """Undecodable bytes: tarfile keeps surrogates, we keep replacement characters."""
    return "".join("?" if 0xDC80 <= ord(c) <= 0xDCFF or c in "\ufffd?" else c for c in name).rstrip("/")


def _tarfile_listing(data: bytes) -> list[tuple[str, int, int, bool]] | None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            infos = tf.getmembers()
    except tarfile.TarError:
        return None
    return [(_printable(i.name), i.size, i.offset_data, i.sparse is not None) for i in infos]


def _ours(members: list[t.TarMember]) -> list[tuple[str, int, int, bool]]:
    return [(_printable(m.name), m.size, m.data_offset, m.sparse) for m in members]


@needs_tars
@pytest.mark.parametrize("path", TARS, ids=lambda p: p.name)
def test_tar_listing_matches_tarfile(path: Path) -> None:
    data = path.read_bytes()
    expected = _tarfile_listing(data)
    walker = t.TarWalker()
    if expected is None:  # tarfile refuses it: we refuse it too, or list nothing, promptly
        try:
            assert walker.feed(data, 0) == []
        except ArchiveError:
            pass
        return
    members = walker.feed(data, 0)
    assert _ours(members) == expected
    stream = t.TarStream()
    streamed = [m for i in range(0, len(data), 4096) for m in stream.feed(data[i : i + 4096])]
    assert _ours(streamed) == expected


@needs_tars
def test_testtar_sparse_members_and_all_39() -> None:
    (path,) = [p for p in TARS if p.name == "testtar.tar"][:1] or pytest.skip("no testtar.tar")
    members = t.TarWalker().feed(path.read_bytes(), 0)
    sparse = {m.name: m.size for m in members if m.sparse}
    assert sparse == {"gnu/sparse": 86016, "gnu/sparse-0.0": 86016, "gnu/sparse-0.1": 86016,
                      "gnu/sparse-1.0": 86016}
    assert len(members) == len(tarfile.open(path).getmembers())


@needs_tars
def test_xz_compressed_testtar_matches_tarfile() -> None:
    paths = [p.with_suffix(".tar.xz") for p in TARS if p.with_suffix(".tar.xz").is_file()]
    if not paths:
        pytest.skip("no testtar.tar.xz")
    blob = paths[0].read_bytes()
    decoder = StreamDecoder("xz", piece=3000)
    stream = t.TarStream()
    found = [m for piece in decoder.feed(blob) for m in stream.feed(piece)]
    assert _ours(found) == _tarfile_listing(lzma.decompress(blob))


@needs_zips
@pytest.mark.parametrize("path", ZIPS, ids=lambda p: p.name)
def test_zip_listing_matches_zipfile(path: Path) -> None:
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        expected = [(i.filename, i.file_size, i.compress_size, i.header_offset) for i in zf.infolist()]
    location = z.locate_central_directory(data[-z.MAX_EOCD_SEARCH :], len(data))
    entries = z.iter_central_directory(data[location.cd_offset : location.cd_end],
                                       prefix_bytes=location.prefix_bytes)
    ours = [(e.name, e.uncompressed_size, e.compressed_size, e.header_offset) for e in entries]
    assert ours == expected

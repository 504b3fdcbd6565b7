"""Hostile archives: every reader's work stays linear in its input and its memory bounded.

Inputs built here: a gzip stream of many tiny or empty members, pax global headers with
thousands of keys, GNU sparse members whose extension chain or map never ends, DICOM
sequences nested thousands deep. Time is compared with a linear baseline measured in the
same test (the machine is shared), memory with tracemalloc.
"""

from __future__ import annotations

import gzip
import time
import tracemalloc
from collections.abc import Callable

import pytest

from envision_spiders.inspection import tar as t
from envision_spiders.inspection.errors import ArchiveError, BudgetExceeded
from envision_spiders.inspection.gzip_prefix import MAX_EMPTY_MEMBERS, StreamDecoder, decompress_prefix
from envision_spiders.inspection.sniff import MAX_DICOM_NESTING, sniff
from tests.inspection import corpus
from tests.inspection import helpers as h


def best_time(run: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def many_members(total: int, payload: bytes = b"x") -> bytes:
    member = gzip.compress(payload, mtime=0)
    return member * (total // len(member))


def decode_all(blob: bytes) -> int:
    decoder = StreamDecoder("gzip", max_output=1 << 30)
    return sum(len(piece) for piece in decoder.feed(blob))


# --- gzip ------------------------------------------------------------------------------------------


def test_gzip_many_members_time_is_linear() -> None:
    small, big = many_members(512 << 10), many_members(4 << 20)  # 8x the bytes
    assert decode_all(big) == len(big) // 21
    baseline = best_time(lambda: decode_all(small))
    elapsed = best_time(lambda: decode_all(big), repeat=1)
    # linear: ~8x; the old decoder copied the rest of the chunk per member: ~64x
    assert elapsed < 24 * baseline + 0.5, (baseline, elapsed)


def test_gzip_many_members_memory_is_bounded() -> None:
    blob = many_members(2 << 20)
    tracemalloc.start()
    decode_all(blob)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1 << 20, peak  # the old decoder held copies of the rest of the input


def test_gzip_run_of_empty_members_is_refused() -> None:
    blob = gzip.compress(b"", mtime=0) * ((1 << 20) // 20)
    decoder = StreamDecoder("gzip")
    start = time.perf_counter()
    with pytest.raises(ArchiveError, match="empty gzip members"):
        list(decoder.feed(blob))
    assert decoder.members == MAX_EMPTY_MEMBERS + 1
    assert time.perf_counter() - start < 1.0
    assert decompress_prefix(gzip.compress(b"data", mtime=0) + blob) == b""  # sniff's path: no facts


def test_gzip_deadline_stops_the_decoder() -> None:
    blob = many_members(256 << 10)
    with pytest.raises(BudgetExceeded, match="time budget"):
        list(StreamDecoder("gzip").feed(blob, deadline=time.monotonic() - 1))
    assert decode_all(blob) > 0


def test_walk_compressed_stops_at_the_deadline_and_on_request() -> None:
    tar = corpus.tar_bytes([(f"f{i}.png", b"p" * 100) for i in range(200)])
    blob = corpus.gz(tar)
    seen: list[str] = []
    finished = t.walk_compressed(StreamDecoder("gzip"), t.TarStream(), blob,
                                 lambda m: seen.append(m.name) or len(seen) < 50)
    assert not finished and len(seen) == 50
    seen.clear()
    assert t.walk_compressed(StreamDecoder("gzip"), t.TarStream(), blob, lambda m: seen.append(m.name) or True)
    assert len(seen) == 200
    with pytest.raises(BudgetExceeded):
        t.walk_compressed(StreamDecoder("gzip"), t.TarStream(), blob, lambda m: True,
                          deadline=time.monotonic() - 1)


def test_tar_stream_parses_a_big_header_once_not_per_piece() -> None:
    big = corpus.pax_member("x", [("path", "n" * 900_000)]) + corpus.tar_header("ignored", 0)
    data = big + corpus.end_of_archive()
    stream = t.TarStream()
    calls = 0
    feed = stream.walker.feed

    def counting(chunk: bytes, offset: int) -> list[t.TarMember]:
        nonlocal calls
        calls += 1
        return feed(chunk, offset)

    stream.walker.feed = counting  # type: ignore[method-assign]
    found = [m for i in range(0, len(data), 1000) for m in stream.feed(data[i : i + 1000])]
    assert [len(m.name) for m in found] == [900_000] and stream.done
    assert calls < 10  # not one call (and one copy of the whole buffer) per 1000-byte piece


# --- TAR -------------------------------------------------------------------------------------------
def test_gnu_sparse_hostile_extension_chain_and_map() -> None:
    endless = bytearray(corpus.gnu_sparse_old("x.img", [(i * 8192, 10) for i in range(5)], 100_000)[:512])
    endless += (bytes(504) + b"\x01" + bytes(7)) * (t.MAX_META_SIZE // 512 + 2)
    with pytest.raises(ArchiveError, match="extension blocks"):
        t.TarWalker().feed(bytes(endless), 0)
    bad_map = (corpus.pax_member("x", [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")])
               + corpus.tar_header("m", 1024) + corpus.pad(b"999999999\n0\n"))
    with pytest.raises(ArchiveError, match="sparse 1.0 map"):
        t.TarWalker().feed(bad_map, 0)


# --- pax global headers -------------------------------------------------------------------------------


def test_pax_global_headers_capped_and_not_copied_per_member() -> None:
    junk = [(f"VENDOR.k{i}", "v" * 20) for i in range(20_000)]  # ~700 KiB of keys nobody reads
    members = b"".join(corpus.tar_header(f"f{i}.png", 0) for i in range(3000))
    data = (corpus.pax_member("g", [*junk, ("path", "global-name")]) + corpus.pax_member("g", [("comment", "c")])
            + members + corpus.end_of_archive())
    tracemalloc.start()
    walker = t.TarWalker()
    found = walker.feed(data, 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(found) == 3000 and walker.global_pax_bytes > 700_000
    assert found[0].name == "global-name"  # a global path applies (as tarfile does)
    assert peak < 8 * len(data)  # the parse of the big header; nothing per member
    over = corpus.pax_member("g", [(f"k{i}", "v" * 200) for i in range(3000)])  # ~650 KiB each
    with pytest.raises(ArchiveError, match="global headers"):
        t.TarWalker().feed(over + over + members + corpus.end_of_archive(), 0)


def test_pax_global_headers_work_is_linear_in_members() -> None:
    members = b"".join(corpus.tar_header(f"f{i}.png", 0) for i in range(3000)) + corpus.end_of_archive()
    junk = corpus.pax_member("g", [(f"k{i}", "") for i in range(80_000)])  # ~0.9 MiB, 80,000 keys

    def best(data: bytes) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            t.TarWalker().feed(data, 0)
            times.append(time.perf_counter() - start)
        return min(times)

    baseline = best(members)
    with_globals = best(junk + members)
    # merging 80,000 global keys into every member made this over 100x the baseline
    assert with_globals < 10 * baseline + 0.2


# --- DICOM -----------------------------------------------------------------------------------------


def test_dicom_nested_sequences_thousands_deep() -> None:
    facts = sniff(h.dicom_nested_sequences(20_000), "deep.dcm")
    assert facts is not None and facts["format"] == "dicom"
    assert facts["sop_class"] == "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # read before the sequences
    assert facts["modality"] is None  # past the nesting cap: reading stopped there


def test_dicom_nested_sequences_within_the_cap_are_skipped() -> None:
    facts = sniff(h.dicom_nested_sequences(MAX_DICOM_NESTING - 1, modality="OPT"))
    assert facts is not None and facts["modality"] == "OPT"

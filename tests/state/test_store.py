"""RecordStore: the one writer of metadata/{source}/{source_id}.json."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from envision_spiders.jsoncodec import stage_bytes
from envision_spiders.state.db import open_state
from envision_spiders.state.store import FileStager, RecordStore, StoreConfig, load_syncfs, record_bytes

AT = "2026-01-01T00:00:00+00:00"


def make_store(tmp_path, state_url):
    data = tmp_path / "data"
    return RecordStore(StoreConfig(data), open_state(state_url, data))


def record(title: str, scraped_at: str) -> dict:
    return {"source": "zenodo", "source_id": "1", "doi": "10.5281/zenodo.1", "title": title,
            "scraped_at": scraped_at, "duplicate_of": None}


def test_a_write_is_recorded_in_the_state(tmp_path, state_url):
    store = make_store(tmp_path, state_url)
    assert store.write(record("a", "t1"), ["10.5281/zenodo.1"], "m1", "t1") is None
    assert store.state.lookup("zenodo", "1")["modified"] == "m1"
    assert json.loads(store.path(("zenodo", "1")).read_text())["title"] == "a"


def test_an_update_owes_the_record_to_the_feeds_only_when_its_label_changed(tmp_path, state_url):
    data = tmp_path / "data"
    store = RecordStore(StoreConfig(data, track_delivery=True), open_state(state_url, data))
    stored = {**record("a", "t1"), "label": "NEGATIVE", "confidence": 0.9}
    store.write(stored, ["10.5281/zenodo.1"], "m1", "t1")
    store.state.mark_delivered([("zenodo", "1")])
    assert store.update(("zenodo", "1"), {"label": "NEGATIVE", "confidence": 0.7}, stored, AT)
    owed = "SELECT source, source_id FROM undelivered"
    assert list(store.state._execute(owed)) == []
    assert store.update(("zenodo", "1"), {"label": "EYE_IMAGING", "confidence": 0.8}, stored, AT)
    assert [tuple(row) for row in store.state._execute(owed)] == [("zenodo", "1")]


def test_an_update_lands_on_the_file_it_was_computed_from(tmp_path, state_url):
    store = make_store(tmp_path, state_url)
    scored = record("a", "t1")
    store.write(dict(scored), [], "m1", "t1")
    assert store.update(("zenodo", "1"), {"label": "EYE_IMAGING"}, scored, AT)
    assert json.loads(store.path(("zenodo", "1")).read_text())["label"] == "EYE_IMAGING"


def test_an_update_never_overwrites_a_file_a_crawl_replaced_since(tmp_path, state_url):
    """``scrapy classify`` read the record, a crawl stored a newer version, then the labels arrive."""
    store = make_store(tmp_path, state_url)
    scored = record("old", "t1")
    store.write(dict(scored), [], "m1", "t1")
    store.write(record("newer", "t2"), [], "m2", "t2")
    assert not store.update(("zenodo", "1"), {"label": "NEGATIVE"}, scored, AT)
    stored = json.loads(store.path(("zenodo", "1")).read_text())
    assert stored["title"] == "newer" and "label" not in stored


def staged(store: RecordStore, rec: dict, dois: list[str]):
    """A write prepared as the store pipeline prepares it: previewed, then its file staged."""
    preview = store.preview(rec)
    preview.tmp = stage_bytes(store.path((rec["source"], rec["source_id"])), record_bytes(preview.record), fsync=True)
    return preview


def test_a_staged_file_is_renamed_into_place_when_the_state_still_agrees(tmp_path, state_url):
    store = make_store(tmp_path, state_url)
    rec = record("a", "t1")
    prepared = staged(store, rec, ["10.5281/zenodo.1"])
    assert store.write(rec, ["10.5281/zenodo.1"], "m1", "t1", staged=prepared) is None
    assert json.loads(store.path(("zenodo", "1")).read_text())["title"] == "a"
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_claim_made_after_the_file_was_staged_still_makes_the_record_a_copy(tmp_path, state_url):
    """The file was staged as canonical; a better record claimed the DOI before the write took
    the lock: what lands is the copy (``duplicate_of``), never the stale staged file."""
    store = make_store(tmp_path, state_url)
    rec = record("a", "t1")
    prepared = staged(store, rec, ["10.5281/zenodo.1"])
    assert prepared.canonical is None
    store.state.claim(["10.5281/zenodo.1"], ("zenodo", "9"), [0])
    assert store.write(rec, ["10.5281/zenodo.1"], "m1", "t1", staged=prepared) == ("zenodo", "9")
    assert json.loads(store.path(("zenodo", "1")).read_text())["duplicate_of"] == "zenodo:9"
    assert store.state.lookup("zenodo", "1")["duplicate_of"] == "zenodo:9"
    assert not list(tmp_path.rglob("*.tmp"))


def stage_in_one_turn(stager: FileStager, files: list) -> list:
    async def stage_all():
        return await asyncio.gather(*(stager.stage(str(path), data) for path, data in files), return_exceptions=True)

    try:  # the temp files' names as paths, failures as they are
        return [Path(tmp) if isinstance(tmp, str) else tmp for tmp in asyncio.run(stage_all())]
    finally:
        stager.close()


@pytest.fixture
def chunks(monkeypatch) -> list[int]:
    """The number of files in each chunk the stager hands to a thread."""
    import envision_spiders.state.store as store_module

    seen: list[int] = []
    real = store_module.stage_all

    def recording(files, fsync):
        seen.append(len(files))
        return real(files, fsync)

    monkeypatch.setattr(store_module, "stage_all", recording)
    return seen


@pytest.mark.parametrize("threads", [1, 4])
def test_files_asked_for_in_one_turn_go_to_the_threads_in_one_chunk_each(tmp_path, threads, chunks):
    files = [(tmp_path / "metadata" / f"{n}.json", f"{n}\n".encode()) for n in range(10)]
    staged = stage_in_one_turn(FileStager(threads=threads), files)
    assert len(chunks) == threads and sum(chunks) == 10
    for (path, data), tmp in zip(files, staged, strict=True):
        assert tmp.parent == path.parent and tmp.read_bytes() == data and not path.exists()


def test_a_file_that_cannot_be_staged_fails_alone(tmp_path, chunks):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    staged = stage_in_one_turn(FileStager(threads=1), [(tmp_path / "a.json", b"a"), (blocker / "b.json", b"b"),
                                                       (tmp_path / "c.json", b"c")])
    assert isinstance(staged[1], OSError)
    assert staged[0].read_bytes() == b"a" and staged[2].read_bytes() == b"c"


class RecordingSyncfs:
    """A syncfs that records the file systems it was asked to flush (and can fail)."""

    def __init__(self, error: OSError | None = None) -> None:
        self.calls: list[int] = []
        self.error = error

    def __call__(self, fd: int) -> None:
        self.calls.append(os.fstat(fd).st_dev)
        if self.error is not None:
            raise self.error


def test_with_the_filesystem_barrier_a_turns_files_reach_the_disk_with_one_syncfs(tmp_path, chunks):
    syncfs = RecordingSyncfs()
    stager = FileStager(threads=4, barrier="filesystem", syncfs=syncfs)
    files = [(tmp_path / "metadata" / source / f"{n}.json", f"{n}\n".encode())
             for source in ("zenodo", "dryad") for n in range(5)]
    staged = stage_in_one_turn(stager, files)
    assert stager.barrier == "filesystem"
    assert chunks == [10]  # one thread writes the turn's files, without an fsync each
    assert syncfs.calls == [tmp_path.stat().st_dev]  # one file system, one syncfs
    for (path, data), tmp in zip(files, staged, strict=True):
        assert tmp.parent == path.parent and tmp.read_bytes() == data and not path.exists()


def test_a_failed_syncfs_fails_every_file_of_its_turn_and_removes_their_temp_files(tmp_path):
    failure = OSError(5, "syncfs: Input/output error")
    stager = FileStager(barrier="filesystem", syncfs=RecordingSyncfs(failure))
    staged = stage_in_one_turn(stager, [(tmp_path / f"{n}.json", b"x") for n in range(3)])
    assert staged == [failure] * 3
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_written_fails_alone_under_the_filesystem_barrier(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    syncfs = RecordingSyncfs()
    staged = stage_in_one_turn(FileStager(barrier="filesystem", syncfs=syncfs),
                               [(tmp_path / "a.json", b"a"), (blocker / "b.json", b"b"), (tmp_path / "c.json", b"c")])
    assert isinstance(staged[1], OSError)
    assert staged[0].read_bytes() == b"a" and staged[2].read_bytes() == b"c"
    assert syncfs.calls == [tmp_path.stat().st_dev]


def test_without_a_syncfs_that_reports_errors_the_filesystem_barrier_is_an_fsync_a_file(tmp_path, monkeypatch, chunks):
    import envision_spiders.state.store as store_module

    monkeypatch.setattr(store_module, "load_syncfs", lambda: None)
    stager = FileStager(threads=2, barrier="filesystem")
    assert stager.barrier == "file"
    staged = stage_in_one_turn(stager, [(tmp_path / f"{n}.json", b"x") for n in range(4)])
    assert chunks == [2, 2] and all(tmp.read_bytes() == b"x" for tmp in staged)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")
def test_this_linux_has_a_syncfs_that_puts_a_turns_files_on_the_disk(tmp_path):
    if load_syncfs() is None:
        pytest.skip(f"kernel {os.uname().release}: syncfs does not report write-back errors before 5.8")
    stager = FileStager(barrier="filesystem")
    assert stager.barrier == "filesystem"
    staged = stage_in_one_turn(stager, [(tmp_path / "metadata" / f"{n}.json", b"x") for n in range(3)])
    assert [tmp.read_bytes() for tmp in staged] == [b"x"] * 3


def test_an_unknown_fsync_barrier_is_refused_when_the_store_is_configured(tmp_path):
    from scrapy.settings import Settings

    with pytest.raises(ValueError, match="ENVISION_STORE_FSYNC_BARRIER must be one of file, filesystem"):
        StoreConfig.from_settings(Settings({"ENVISION_DATA_DIR": str(tmp_path), "ENVISION_STORE_FSYNC_BARRIER": "disk"}))

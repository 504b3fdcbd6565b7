"""Takeover: ``scrapy download`` waits for records another node holds (ENVISION_DOWNLOAD_TAKEOVER_WAIT)
and finishes them once the holder's lease expires, leaves them when the holder completes them, and
gives up after the wait. Real ``scrapy download`` processes against nginx and the shared state."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from envision_spiders.downloads.manifest import load_manifest, write_manifest
from envision_spiders.downloads.takeover import Takeover
from envision_spiders.state.db import open_state
from tests.conftest import run_crawl
from tests.pipelines.test_files import blob, file_entry, manifest, run_download, store
from tests.servers.nginx import NginxServer
from tests.servers.zenodo import FakeZenodo
from tests.spiders.test_zenodo_download import pipelines

TAKEOVER = {"ENVISION_DOWNLOAD_TAKEOVER_WAIT": 30, "ENVISION_DOWNLOAD_TAKEOVER_POLL": 0.3}


def test_record_of_a_dead_node_is_taken_over_when_its_lease_expires(
    nginx: NginxServer, tmp_path: Path, state_url: str
) -> None:
    """Another node holds zenodo:1 with a lease running out in 3 s (it died: nobody renews it). The
    run downloads zenodo:2 first, waits for zenodo:1, takes it over once the lease has expired and
    downloads it; each record is logged once as held."""
    nginx.reset_log()
    data = tmp_path / "data"
    one, two = blob(40_000, "to1"), blob(20_000, "to2")
    store(data, "1", [file_entry("a.bin", one, nginx.put("to/1/a.bin", one))])
    store(data, "2", [file_entry("b.bin", two, nginx.put("to/2/b.bin", two))])
    state = open_state(state_url, data)
    try:
        assert state.take_lease("download", "zenodo:1", "dead-node:4242", 3)
        started = time.monotonic()
        code, stats, log = run_download(data, {"ENVISION_STATE_URL": state_url, **TAKEOVER})
        waited = time.monotonic() - started
        assert code == 0, log[-3000:]
        assert (data / "downloads/zenodo/1/a.bin").read_bytes() == one
        assert (data / "downloads/zenodo/2/b.bin").read_bytes() == two
        assert manifest(data, "1")["status"] == "complete"
        assert stats["records/gated"] == 2 and stats["records/locked"] == 1 and stats["records/complete"] == 2
        assert stats["takeover/waiting"] == 1 and stats["takeover/taken"] == 1
        assert "takeover/gave_up" not in stats
        assert log.count("zenodo:1 is held by another download") == 1
        assert waited >= 2.5  # it did wait for the lease, not take it early
        assert len(nginx.requests("/files/to/1/")) == 1
        assert state.leases("download") == []
    finally:
        state.close()


def test_record_completed_by_its_holder_is_not_fetched_again(nginx: NginxServer, tmp_path: Path) -> None:
    """While the run waits, the holder finishes: its manifest says complete. The run stops waiting
    for it and fetches nothing of it (the lease is still the holder's)."""
    nginx.reset_log()
    data = tmp_path / "data"
    payload = blob(30_000, "done-elsewhere")
    store(data, "1", [file_entry("a.bin", payload, nginx.put("te/1/a.bin", payload))])
    state = open_state(None, data)
    folder = data / "downloads/zenodo/1"

    def holder_finishes() -> None:
        # the holder writes its final manifest (the file itself is its business)
        time.sleep(1.5)
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest(folder / "manifest.json", {"status": "complete", "files": []})

    try:
        assert state.take_lease("download", "zenodo:1", "other-node:4242", 3600)
        finisher = threading.Thread(target=holder_finishes)
        finisher.start()
        code, stats, log = run_download(data, TAKEOVER)
        finisher.join()
        assert code == 0, log[-3000:]
        assert stats["takeover/waiting"] == 1 and stats["takeover/finished_elsewhere"] == 1
        assert "takeover/taken" not in stats and "takeover/gave_up" not in stats
        assert nginx.requests("/files/te/") == []
        assert load_manifest(folder / "manifest.json")["status"] == "complete"
    finally:
        state.close()


def test_wait_runs_out_and_the_record_is_left_to_its_holder(nginx: NginxServer, tmp_path: Path) -> None:
    """A live holder past the wait: the run gives up on the record after the wait, fetches nothing."""
    nginx.reset_log()
    data = tmp_path / "data"
    payload = blob(30_000, "gave-up")
    store(data, "1", [file_entry("a.bin", payload, nginx.put("tg/1/a.bin", payload))])
    state = open_state(None, data)
    try:
        assert state.take_lease("download", "zenodo:1", "other-node:4242", 3600)
        started = time.monotonic()
        code, stats, log = run_download(data, {**TAKEOVER, "ENVISION_DOWNLOAD_TAKEOVER_WAIT": 1.5})
        assert code == 0, log[-3000:]
        assert time.monotonic() - started >= 1.5
        assert stats["takeover/waiting"] == 1 and stats["takeover/gave_up"] == 1 and stats["records/locked"] == 1
        assert "still held by another download after 1.5s" in log
        assert nginx.requests("/files/tg/") == []
    finally:
        state.close()


class Stats:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, value: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + value


def test_takeover_offers_held_records_until_each_is_taken_completed_or_given_up() -> None:
    """Pure: one record taken at its second offer, one completed by its holder, one past the wait."""
    import asyncio

    now = [0.0]
    stats = Stats()
    takeover = Takeover(wait=10, poll=0.01, stats=stats, clock=lambda: now[0])
    complete = {"b": False}
    for key in ("a", "b", "c"):
        assert takeover.defer(key, {"key": key}, lambda key=key: complete.get(key, False))
    assert not takeover.defer("a", {"key": "a"}, lambda: False)  # found held again: not a new record
    offers: list[str] = []

    async def drive() -> None:
        async for item in takeover.revisit(lambda: False):
            key = item["key"]
            offers.append(key)
            if key == "a" and offers.count("a") == 2:
                takeover.taken("a")  # its lease was free at the second look
            elif key == "b":
                complete["b"] = True  # the holder finishes meanwhile
                takeover.defer("b", item, lambda: complete["b"])
            else:
                takeover.defer(key, item, lambda: False)
                now[0] += 4  # time passes between looks

    asyncio.run(drive())
    assert not takeover.waiting
    assert offers.count("a") == 2 and offers.count("b") == 1 and offers.count("c") >= 2
    assert stats.values == {"envision/download/takeover/waiting": 3, "envision/download/takeover/taken": 1,
                            "envision/download/takeover/finished_elsewhere": 1,
                            "envision/download/takeover/gave_up": 1}


def test_a_revisit_the_pipeline_never_answered_is_not_waited_for_forever() -> None:
    takeover = Takeover(wait=60, poll=1)
    takeover.defer("a", {"key": "a"}, lambda: False)
    takeover.defer("b", {"key": "b"}, lambda: False)
    assert [item["key"] for item in takeover.due()] == ["a", "b"]
    takeover.defer("b", {"key": "b"}, lambda: False)  # b: found held again, waits on
    takeover.settled("a")  # a left the pipeline without an answer (an error on the way)
    takeover.settled("b")
    assert list(takeover.held) == ["b"]


def test_takeover_is_off_without_a_wait() -> None:
    assert not Takeover(wait=0, poll=1).enabled
    assert Takeover(wait=60, poll=1).enabled


def test_a_crawl_takes_over_a_dead_node_s_record_at_its_end(nginx: NginxServer, tmp_path: Path) -> None:
    """``scrapy crawl zenodo`` with downloads: one gated record's lease is another node's (dead:
    it runs out 8 s after the crawl starts). The crawl downloads the others, stays open at its
    end, takes the record over once the lease has expired and downloads it too."""
    n = 6  # gated: #3 (slit-lamp) and #6 (fundus)
    for i in range(1, n + 1):
        body = hashlib.sha256(f"crawl-takeover{i}".encode()).digest() * 700
        nginx.put(f"ct/records/{100000 + 2 * i}/files/images/{i}-eye.jpg", body)
    data = tmp_path / "data"
    state = open_state(None, data)
    try:
        assert state.take_lease("download", "zenodo:100006", "dead-node:4242", 8)
    finally:
        state.close()
    with FakeZenodo(n_records=n, html_base=f"{nginx.origin}/ct", files_root=nginx.root / "ct") as fake:
        result = run_crawl("zenodo", tmp_path, settings={
            "ZENODO_API_URL": f"{fake.base_url}/api", "ENVISION_DOWNLOAD": True, "ITEM_PIPELINES": pipelines(),
            "ENVISION_INSPECT_ENABLED": False, **TAKEOVER,
        })
    assert result.returncode == 0, result.log[-4000:]
    stats = result.stats
    assert stats["envision/download/takeover/waiting"] == 1 and stats["envision/download/takeover/taken"] == 1
    assert stats["envision/download/records/complete"] == 2 and stats["envision/download/records/locked"] == 1
    for recid in ("100006", "100012"):
        assert json.loads((data / "downloads/zenodo" / recid / "manifest.json").read_text())["status"] == "complete"
    assert result.log.count("zenodo:100006 is held by another download") == 1

"""Nothing stored is missing from a feed after a crash: a Figshare crawl SIGKILLed after some
records were stored, then run again on the same data dir; together the two runs' feeds (the
``-O`` files and ``feeds/figshare/*.all.jsonl``) hold every stored record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from envision_spiders.state.db import open_state
from tests.conftest import PROJECT_ROOT, run_crawl, scrapy_command, scrapy_env
from tests.servers.figshare import FakeFigshare

N = 40
DATASETS = len([i for i in range(1, N + 1) if i % 11])  # every 11th article is a figure


@pytest.fixture
def fake():
    server = FakeFigshare(n_articles=N)
    server.start()
    yield server
    server.stop()


def api(server: FakeFigshare) -> dict:
    return {"FIGSHARE_API_URL": f"{server.base_url}/v2", "FIGSHARE_PAGE_SIZE": 10, "ENVISION_INSPECT_ENABLED": False,
            "CLASSIFIER_ENABLED": False}


def stored_ids(data: Path) -> set[str]:
    folder = data / "metadata" / "figshare"
    return {p.stem for p in folder.glob("*.json")} if folder.exists() else set()


def fed_ids(*files: Path) -> list[str]:
    ids = []
    for path in files:
        if path.exists():
            ids += [json.loads(line)["source_id"] for line in path.read_text().splitlines() if line.strip()]
    return ids


# the portal feed gzipped: a post-processed feed is only whole at close, so records are
# delivered when the feeds close, not line by line
GZIP_FEEDS = {"ENVISION_FEEDS": json.dumps({"%(data_dir)s/feeds/%(name)s/%(time)s.all.jsonl.gz": {
    "format": "jsonlines", "uri_params": "envision_spiders.exports.feeds.uri_params",
    "postprocessing": ["scrapy.extensions.postprocessing.GzipPlugin"]}})}


def kill_after(server: FakeFigshare, tmp_path: Path, stored_at_least: int, extra: dict | None = None) -> int:
    """``scrapy crawl figshare -O killed.jsonl`` (slowed down), SIGKILLed once that many records are stored."""
    data = tmp_path / "data"
    settings = {**api(server), "ENVISION_DATA_DIR": str(data), "DOWNLOAD_DELAY": 0.15,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 1, **(extra or {})}
    cmd = scrapy_command("crawl", "figshare", "-O", str(tmp_path / "killed.jsonl"))
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(stored_ids(data)) < stored_at_least and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(stored_ids(data))


@pytest.mark.parametrize("kill_at", [1, 8, 25])
def test_every_stored_record_reaches_a_feed_after_a_kill(fake, tmp_path, kill_at):
    batch = 3  # records marked delivered per flush: a kill repeats at most one batch's lines
    before = kill_after(fake, tmp_path, kill_at, {"ENVISION_FEED_DELIVERY_BATCH": batch})
    assert kill_at <= before < DATASETS
    again = run_crawl("figshare", tmp_path, settings=api(fake), name="again")
    assert again.returncode == 0, again.log
    data = tmp_path / "data"
    everything = stored_ids(data)
    assert len(everything) == DATASETS
    portal_feeds = sorted((data / "feeds" / "figshare").glob("*.all.jsonl"))
    assert fed_ids(*portal_feeds) and set(fed_ids(*portal_feeds)) == everything
    assert set(fed_ids(tmp_path / "killed.jsonl", tmp_path / "again.jsonl")) == everything
    state = open_state("", data)
    try:
        assert state.undelivered("figshare") == set()
    finally:
        state.close()
    # what the killed run had fed is not fed again, but for the batch in flight at the kill
    resent = set(fed_ids(tmp_path / "again.jsonl")) & set(fed_ids(tmp_path / "killed.jsonl"))
    assert len(resent) <= batch


def test_records_of_feeds_delivered_at_close_are_emitted_again_after_a_kill(fake, tmp_path):
    import gzip

    before = kill_after(fake, tmp_path, 8, GZIP_FEEDS)
    assert 8 <= before < DATASETS
    again = run_crawl("figshare", tmp_path, settings={**api(fake), **GZIP_FEEDS}, name="again")
    assert again.returncode == 0, again.log
    data = tmp_path / "data"
    assert again.stats["envision/feeds/owed_at_start"] == before  # every record the kill left owed
    assert {item["source_id"] for item in again.items} == stored_ids(data)  # all of them fed again
    fed = []
    for path in (data / "feeds" / "figshare").glob("*.gz"):
        try:
            fed += [json.loads(line)["source_id"] for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
        except EOFError:  # the killed run's feed, cut mid-stream
            continue
    assert set(fed) == stored_ids(data) and len(stored_ids(data)) == DATASETS


def test_a_third_run_emits_nothing_owed(fake, tmp_path):
    kill_after(fake, tmp_path, 8)
    run_crawl("figshare", tmp_path, settings=api(fake), name="again")
    third = run_crawl("figshare", tmp_path, settings=api(fake), name="third")
    assert third.returncode == 0, third.log
    assert third.items == []
    assert third.stats["envision/incremental/unchanged"] == DATASETS
    assert "envision/feeds/owed_at_start" not in third.stats

"""``scrapy crawlall``: every spider at once in one process, against local fake APIs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from envision_spiders.schema import record_errors
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.base import Reply
from tests.servers.figshare import FakeFigshare
from tests.servers.zenodo import FakeZenodo


@pytest.fixture
def fakes():
    zenodo, figshare = FakeZenodo(n_records=60), FakeFigshare(n_articles=30)
    zenodo.start()
    figshare.start()
    yield zenodo, figshare
    zenodo.stop()
    figshare.stop()


def crawlall(tmp_path: Path, *args: str, settings: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    merged = {
        "ENVISION_DATA_DIR": str(tmp_path / "data"),
        "DOWNLOAD_DELAY": "0",
        "CLASSIFIER_ENABLED": "False",
        **(settings or {}),
    }
    cmd = scrapy_command("crawlall", *args)
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=300)


def api_settings(zenodo: FakeZenodo, figshare: FakeFigshare) -> dict[str, str]:
    return {"ZENODO_API_URL": f"{zenodo.base_url}/api", "FIGSHARE_API_URL": f"{figshare.base_url}/v2"}


def test_lists_every_discovered_spider_but_portal_without_presets(tmp_path):
    proc = crawlall(tmp_path, "--list")
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert "zenodo" in names and "portal" not in names
    assert names == sorted(names)
    skipped = crawlall(tmp_path, "--list", "--skip", "zenodo").stdout.split()
    assert skipped == [n for n in names if n != "zenodo"]
    unknown = crawlall(tmp_path, "nosuchspider")
    assert unknown.returncode == 2 and "unknown spider(s): nosuchspider" in unknown.stderr


def test_runs_spiders_concurrently_writes_results_and_consistent_state(fakes, tmp_path, state_url):
    zenodo, figshare = fakes
    proc = crawlall(tmp_path, "zenodo", "figshare", "--json",
                    settings={**api_settings(zenodo, figshare), "ENVISION_STATE_URL": state_url})
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["failed"] == []
    assert set(summary["spiders"]) == {"zenodo", "figshare"}
    for name, entry in summary["spiders"].items():
        assert entry["finish_reason"] == "finished" and entry["ok"], (name, entry)
        assert entry["results"]["all"] == entry["items"] > 0
    # both crawlers were open at the same time (one process, concurrent engines)
    assert "running 2 spider(s) at once: figshare, zenodo" in proc.stderr
    data = tmp_path / "data"
    for name in ("zenodo", "figshare"):
        records = json.loads((data / "results" / f"{name}_all_results.json").read_text())
        assert len(records) == summary["spiders"][name]["items"]
        assert all(record_errors(r) == [] for r in records)
        assert (data / "results" / f"{name}_eye_imaging.json").exists()
        feeds = list((data / "feeds" / name).glob("*.all.jsonl"))
        assert len(feeds) == 1 and len(feeds[0].read_text().splitlines()) == len(records)
    # shared state (SQLite or PostgreSQL): one row per stored file, every DOI owned by a stored
    # record, two clean runs
    from envision_spiders.state.db import open_state

    state = open_state(state_url, data)
    stored = {(p.parent.name, p.stem) for p in (data / "metadata").glob("*/*.json")}
    rows = {tuple(r) for r in state._execute("SELECT source, source_id FROM records WHERE duplicate_of IS NULL")}
    assert rows == stored
    owners = {tuple(r) for r in state._execute("SELECT DISTINCT source, source_id FROM doi_claims")}
    assert owners <= stored
    assert [(r["spider"], r["finish_reason"], r["clean"]) for r in sorted(state.runs(), key=lambda r: r["spider"])] == [
        ("figshare", "finished", True), ("zenodo", "finished", True)]
    if not state_url:
        assert state._execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    state.close()


def test_scoped_arguments_and_settings_reach_one_spider_only(fakes, tmp_path):
    zenodo, figshare = fakes
    proc = crawlall(
        tmp_path, "zenodo", "figshare", "--json", "-a", "zenodo:max_records=10",
        "--spider-set", "figshare:FIGSHARE_PAGE_SIZE=7", settings=api_settings(zenodo, figshare),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)["spiders"]
    assert summary["zenodo"]["items"] == 10
    assert summary["figshare"]["items"] > 0
    sizes = {json.loads(c.body).get("limit") or json.loads(c.body).get("page_size") for c in figshare.calls_to("search")}
    assert sizes == {7}


def test_a_spider_that_cannot_start_fails_the_run_but_not_the_others(fakes, tmp_path):
    zenodo, figshare = fakes
    proc = crawlall(tmp_path, "zenodo", "figshare", "-a", "figshare:since=last-week",
                    settings=api_settings(zenodo, figshare))
    assert proc.returncode == 1
    assert "FAILED: figshare" in proc.stdout
    assert "since='last-week' is not a date" in proc.stderr
    zenodo_line = next(line for line in proc.stdout.splitlines() if line.startswith("zenodo"))
    assert zenodo_line.split()[1] == "ok"
    assert len(json.loads((tmp_path / "data" / "results" / "zenodo_all_results.json").read_text())) == 60


def test_logged_errors_warn_and_fail_only_with_strict(fakes, tmp_path):
    zenodo, figshare = fakes
    for nth in (1, 2, 3):  # the first search page never comes back as JSON: the group is lost
        zenodo.fault("search", nth, Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    proc = crawlall(tmp_path, "zenodo", "--json", settings=api_settings(zenodo, figshare))
    assert proc.returncode == 0, proc.stderr[-3000:]
    entry = json.loads(proc.stdout)["spiders"]["zenodo"]
    assert entry["ok"] and not entry["clean"] and entry["errors"] >= 1
    db = sqlite3.connect(tmp_path / "data" / "state.sqlite3")
    assert db.execute("SELECT clean FROM crawl_runs").fetchall() == [(0,)]
    for nth in (4, 5, 6):
        zenodo.fault("search", nth, Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    strict = crawlall(tmp_path, "zenodo", "--strict", settings=api_settings(zenodo, figshare))
    assert strict.returncode == 1 and "FAILED: zenodo" in strict.stdout


def test_one_spiders_errors_mark_only_that_spider(fakes, tmp_path):
    zenodo, figshare = fakes
    for nth in (1, 2, 3):  # zenodo loses its first search page; figshare is fine
        zenodo.fault("search", nth, Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    proc = crawlall(tmp_path, "zenodo", "figshare", "--json", settings=api_settings(zenodo, figshare))
    assert proc.returncode == 0, proc.stderr[-3000:]
    spiders = json.loads(proc.stdout)["spiders"]
    assert spiders["zenodo"]["errors"] >= 1 and not spiders["zenodo"]["clean"]
    assert spiders["figshare"]["errors"] == 0 and spiders["figshare"]["clean"], spiders["figshare"]
    db = sqlite3.connect(tmp_path / "data" / "state.sqlite3")
    runs = db.execute("SELECT spider, clean FROM crawl_runs ORDER BY spider").fetchall()
    assert runs == [("figshare", 1), ("zenodo", 0)]


def test_an_empty_run_after_a_full_one_is_warn_and_keeps_since(tmp_path):
    """Zenodo answered 12 records last week and none now (an API change): the run is not clean,
    says why in one line, and the weekly `since` still starts from last week's run."""
    from envision_spiders.state.db import open_state
    from envision_spiders.state.runs import since_for

    full, empty = FakeZenodo(n_records=12), FakeZenodo(n_records=0)
    for server in (full, empty):
        server.start()
    try:
        first = crawlall(tmp_path, "zenodo", "--json", settings={"ZENODO_API_URL": f"{full.base_url}/api"})
        assert first.returncode == 0, first.stderr[-3000:]
        assert json.loads(first.stdout)["spiders"]["zenodo"]["clean"] is True
        second = crawlall(tmp_path, "zenodo", settings={"ZENODO_API_URL": f"{empty.base_url}/api"})
    finally:
        full.stop()
        empty.stop()
    assert second.returncode == 0, second.stderr[-3000:]
    row = next(line for line in second.stdout.splitlines() if line.startswith("zenodo "))
    assert row.split()[1] == "warn"
    why = [line for line in second.stderr.splitlines() if "met 0 records" in line]
    assert len(why) == 1 and "met 12" in why[0] and "WARNING" in why[0]
    state = open_state("", tmp_path / "data")
    try:
        runs = state.runs("zenodo")
        assert [(r["clean"], r["seen"]) for r in runs] == [(True, 12), (False, 0)]
        assert state.last_clean_run("zenodo")["run_id"] == runs[0]["run_id"]
        assert since_for(state.last_clean_run("zenodo"), 1) == since_for(runs[0], 1)
    finally:
        state.close()


def test_an_empty_run_is_clean_when_the_last_clean_run_was_small_too(tmp_path):
    few, empty = FakeZenodo(n_records=3), FakeZenodo(n_records=0)
    for server in (few, empty):
        server.start()
    try:
        crawlall(tmp_path, "zenodo", settings={"ZENODO_API_URL": f"{few.base_url}/api"})
        second = crawlall(tmp_path, "zenodo", "--json", settings={"ZENODO_API_URL": f"{empty.base_url}/api"})
    finally:
        few.stop()
        empty.stop()
    assert json.loads(second.stdout)["spiders"]["zenodo"]["clean"] is True

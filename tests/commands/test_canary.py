"""``scrapy canary``: a tiny live crawl per source against the fakes, healthy and drifted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from envision_spiders.canary.checks import field_baseline, listing_drift, record_drifts
from tests.conftest import PROJECT_ROOT, run_crawl, scrapy_command, scrapy_env
from tests.servers.zenodo import FakeZenodo


@pytest.fixture
def fake():
    server = FakeZenodo(n_records=60)
    server.start()
    yield server
    server.stop()


def canary(tmp_path: Path, server: FakeZenodo, *args: str) -> subprocess.CompletedProcess:
    cmd = scrapy_command("canary", *args, "-s", f"ZENODO_API_URL={server.base_url}/api",
                         "-s", f"ENVISION_DATA_DIR={tmp_path / 'data'}", "-s", "DOWNLOAD_DELAY=0")
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)


def test_healthy_source_passes_with_three_records_and_touches_no_state(fake, tmp_path):
    proc = canary(tmp_path, fake, "zenodo")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines() == ["canary: 1 source(s) checked, 0 drift(s)"]
    assert len(fake.calls_to("search")) == 1 and "size" in fake.calls_to("search")[0].query
    assert not (tmp_path / "data").exists()  # state, feeds and `since` of the real runs untouched


def test_drifted_answers_give_one_line_each_and_a_failing_exit(fake, tmp_path):
    """A renamed field (creators -> authors) and a missing links.next, against the stored baseline."""
    baseline = run_crawl("zenodo", tmp_path, settings={"ZENODO_API_URL": f"{fake.base_url}/api"},
                         args={"max_records": 10})
    assert baseline.returncode == 0, baseline.log
    fake.drift = {"no_next", "creators_renamed"}
    proc = canary(tmp_path, fake, "zenodo")
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "canary: 1 source(s) checked, 2 drift(s)"
    assert any(line.startswith("zenodo: search page has no links.next") for line in lines)
    assert "zenodo: field creators is empty in all 3 records (filled in 100% of 10 stored records)" in lines


def test_unknown_source_is_a_usage_error(tmp_path, fake):
    proc = canary(tmp_path, fake, "nosuchsource")
    assert proc.returncode == 2 and "unknown spider" in proc.stderr


def test_checks_name_each_drift():
    stored = [{"title": "a", "url": "u", "creators": ["x"], "doi": None}] * 10
    baseline, count = field_baseline(stored)
    good = {"title": "b", "url": "u", "creators": ["y"]}
    assert "creators" in " ".join(record_drifts("s", [{**good, "creators": []}], baseline, count))
    assert record_drifts("s", [], baseline, count) == ["s: no record came back"]
    page = b'{"hits": {"hits": [{}], "total": 30}, "links": {}}'
    assert "links.next" in listing_drift("zenodo", "https://z/api/records?page=1&size=1", 200, page)
    assert listing_drift("zenodo", "https://z/api/records?page=30&size=1", 200, page) is None  # the last page
    assert "not JSON" in listing_drift("osf", "https://o/v2/nodes/?filter=x", 200, b"<html>")
    assert listing_drift("kaggle", "https://k/api/v1/datasets/list?page=1", 200, b"[]") is None

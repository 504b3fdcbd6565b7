"""Progress of real crawls (subprocesses against the fake APIs): a fake with N hits shows N
expected and reaches N, in the periodic lines and in the final stats; nothing is printed to
standard output by the spider process; ``scrapy crawlall`` draws live lines on a terminal
and logs plain lines elsewhere."""

from __future__ import annotations

import ast
import json
import os
import pty
import re
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.figshare import FakeFigshare
from tests.servers.zenodo import FakeZenodo

N = 60
PROGRESS = re.compile(r"\[envision_spiders\.progress\.extension\] INFO: Progress.*?: (.*)")


@pytest.fixture
def zenodo():
    server = FakeZenodo(n_records=N)
    server.start()
    yield server
    server.stop()


def crawl_cmd(tmp_path: Path, *command: str, **settings: object) -> list[str]:
    merged = {
        "ENVISION_DATA_DIR": tmp_path / "data", "CLASSIFIER_ENABLED": False, "ENVISION_INSPECT_ENABLED": False,
        "LOG_LEVEL": "INFO", "ENVISION_PROGRESS_INTERVAL": 0.2, "DOWNLOAD_DELAY": 0.4, **settings,
    }
    cmd = scrapy_command(*command)
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def test_a_fake_with_n_hits_shows_n_expected_and_reaches_n_and_prints_nothing(zenodo, tmp_path):
    stats_file = tmp_path / "stats.json"
    cmd = crawl_cmd(tmp_path, "crawl", "zenodo", ZENODO_API_URL=f"{zenodo.base_url}/api",
                    ENVISION_STATS_FILE=stats_file)
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""  # logging only: the spider process prints nothing
    assert re.search(rf"\[zenodo\] INFO: Query .*: {N} hits", proc.stderr)
    lines = PROGRESS.findall(proc.stderr)
    assert len(lines) >= 2, proc.stderr[-3000:]  # periodic lines while it ran, and the final one
    assert all(f"hits {N} reported by 1 queries in 1 query groups" in text for text in lines[1:])
    processed = [int(m) for text in lines for m in re.findall(rf"processed (\d+)/{N}", text)]
    assert processed == sorted(processed) and processed[-1] == N
    assert "waiting on politeness" in lines[0] and "archives 0" in lines[-1]
    stats = json.loads(stats_file.read_text())
    assert stats["envision/progress/expected"] == N and stats["envision/progress/processed"] == N
    assert stats["envision/search/total"] == N and stats["envision/search/queries_reported"] == 1


SPIDER_PROCESS = ["bases", "spiders", "pages", "middlewares", "pipelines", "downloads", "progress", "inspection",
                  "http", "state", "exports", "schema", "classifier"]


def test_no_print_call_in_what_runs_inside_a_crawl():
    package = PROJECT_ROOT / "envision_spiders"
    files = [*package.glob("*.py"), *(p for d in SPIDER_PROCESS for p in (package / d).rglob("*.py"))]
    calls = []
    for path in files:
        if path.parent.name == "training" or path.name == "cli.py":  # offline tools with their own output
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                calls.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert calls == []


@pytest.fixture
def two_fakes():
    zenodo, figshare = FakeZenodo(n_records=N), FakeFigshare(n_articles=30)
    zenodo.start()
    figshare.start()
    yield {"ZENODO_API_URL": f"{zenodo.base_url}/api", "FIGSHARE_API_URL": f"{figshare.base_url}/v2"}
    zenodo.stop()
    figshare.stop()


def test_crawlall_off_a_terminal_logs_plain_progress_lines_per_spider(two_fakes, tmp_path):
    cmd = crawl_cmd(tmp_path, "crawlall", "zenodo", "figshare", "--json", **two_fakes)
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = dict(re.findall(r"\[envision_spiders\.progress\.extension\] INFO: Progress \(final\): hits (\d+)"
                            r".*?processed (\d+)/", proc.stderr))
    assert len(re.findall(r"Progress \(final\)", proc.stderr)) == 2
    assert (str(N), str(N)) in final.items()  # zenodo's line
    assert "\x1b[" not in proc.stderr  # no terminal control sequences in a log


def test_crawlall_on_a_terminal_draws_one_live_line_per_spider(two_fakes, tmp_path):
    cmd = crawl_cmd(tmp_path, "crawlall", "zenodo", "figshare", "--json", **two_fakes)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=scrapy_env({"COLUMNS": "200"}), stdout=subprocess.PIPE,
                            stderr=terminal, text=True)
    os.close(terminal)
    chunks: list[bytes] = []

    def drain() -> None:  # a full pty buffer would block the crawl
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(controller)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen[-3000:]
    assert json.loads(out)["failed"] == []
    assert "\x1b[2F\x1b[J" in screen  # the block of two lines was redrawn in place
    last = screen.splitlines()[-2:]  # the final figures stay on the terminal
    assert sorted(text.split()[0] for text in last) == ["figshare", "zenodo"]
    zenodo_line = next(text for text in last if text.startswith("zenodo"))
    assert zenodo_line.startswith("zenodo     finished after") and f"processed {N}/{N}" in zenodo_line
    assert "INFO: Progress" not in screen  # the live lines replace the logged ones


def test_links_paging_listing_totals_are_the_expected_figure_and_are_reached(tmp_path):
    from tests.servers.datacite import FakeDataCite

    server = FakeDataCite(n_eye=45, n_other=5, window=20)
    server.start()
    try:
        stats_file = tmp_path / "stats.json"
        cmd = crawl_cmd(tmp_path, "crawl", "datacite", DATACITE_API_URL=server.base_url, DATACITE_PAGE_SIZE=10,
                        DOWNLOAD_DELAY=0, ENVISION_STATS_FILE=stats_file)
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=180)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""
    stats = json.loads(stats_file.read_text())
    assert stats["envision/listing/reported"] == stats["envision/search/query_groups"]
    assert re.search(r"\[datacite\] INFO: Listing \S+: \d+ entries", proc.stderr)
    # five query groups overlap: 45 datasets, met 101 times in all; every hit reached an end
    assert stats["envision/progress/expected"] == stats["envision/listing/total"] == 101
    assert stats["envision/progress/processed"] == 101
    assert stats["item_scraped_count"] + stats["envision/listing/repeated_entries"] == 101
    assert f"reported by {stats['envision/listing/reported']} queries" in PROGRESS.findall(proc.stderr)[-1]

"""``scrapy schedule`` and ``scrapy status`` over several nodes, against in-memory scrapyd fakes
(fast; the real two-node runs are in test_nodes.py)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.scrapyd import FakeScrapyd, free_port


@pytest.fixture
def fakes():
    started: list[FakeScrapyd] = []

    def make(**kwargs) -> FakeScrapyd:
        node = FakeScrapyd(**kwargs)
        node.start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


def scrapy(command: str, urls: list[str], data: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = scrapy_command(command, *args, "-s", f"SCRAPYD_URLS={' '.join(urls)}", "-s", f"ENVISION_DATA_DIR={data}",
                         "-s", "SCRAPYD_RETRY_TIMES=0")
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)


def test_spiders_go_to_the_least_busy_node_and_one_running_anywhere_is_left_out(fakes, tmp_path):
    a = fakes(node_name="a", other_load=2)  # two jobs of another project
    b = fakes(node_name="b")
    b.run("zenodo", "z1")
    proc = scrapy("schedule", [a.base_url, b.base_url], tmp_path / "data", "--json",
                  "-s", "FILES_STORE=s3://bucket/downloads", "-s", "AWS_ENDPOINT_URL=http://key:s3cret@127.0.0.1:9",
                  "figshare", "nei", "osf", "zenodo")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    outcome = json.loads(proc.stdout)
    jobs = outcome["jobs"]
    assert "jobid" not in jobs["zenodo"] and b.base_url in jobs["zenodo"]["skipped"]
    # loads a=2, b=1: figshare -> b (2, 2), nei -> a (tie: listed first), osf -> b
    assert {name: jobs[name]["node"] for name in ("figshare", "nei", "osf")} == {
        "figshare": b.base_url, "nei": a.base_url, "osf": b.base_url}
    assert [s["spider"] for s in a.scheduled] == ["nei"] and [s["spider"] for s in b.scheduled] == ["figshare", "osf"]
    assert jobs["nei"]["jobid"] == a.scheduled[0]["id"]
    sent = a.scheduled[0]["settings"]
    assert sent["ENVISION_DATA_DIR"] == str((tmp_path / "data").resolve())
    assert sent["FILES_STORE"] == "s3://bucket/downloads"
    assert sent["AWS_ENDPOINT_URL"] == "http://key:s3cret@127.0.0.1:9"  # the job gets the value...
    assert outcome["settings"]["AWS_ENDPOINT_URL"] == "http://key:***@127.0.0.1:9"  # ...the output never shows it
    assert "s3cret" not in proc.stdout and "s3cret" not in proc.stderr  # Scrapy's settings line is masked too
    assert "job setting AWS_ENDPOINT_URL carries a secret" in proc.stderr
    assert "job setting FILES_STORE" not in proc.stderr
    assert outcome["nodes"][a.base_url] == {"answering": True, "error": None, "node_name": "a", "load": 2}


def test_a_node_without_the_project_or_refusing_a_job_is_passed_over(fakes, tmp_path):
    bare = fakes(node_name="bare", project=None)  # answers, but the egg is not deployed there
    refusing = fakes(node_name="refusing")
    refusing.fault("schedule", 1, FakeScrapyd.json_error("disk full"))
    good = fakes(node_name="good", other_load=5)
    proc = scrapy("schedule", [bare.base_url, refusing.base_url, good.base_url], tmp_path / "data", "--json",
                  "figshare", "nei")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    outcome = json.loads(proc.stdout)
    assert "not found" in outcome["nodes"][bare.base_url]["error"]
    assert {name: entry["node"] for name, entry in outcome["jobs"].items()} == {
        "figshare": good.base_url, "nei": good.base_url}  # the refusing node takes no more jobs in this run
    assert bare.calls_to("schedule") == [] and len(refusing.calls_to("schedule")) == 1
    assert "disk full" in proc.stderr

    text = scrapy("schedule", [bare.base_url, good.base_url], tmp_path / "data", "--dry-run", "osf")
    assert text.returncode == 0 and f"osf          since full crawl   dry run: would go to {good.base_url}" in text.stdout
    assert f"node {bare.base_url}: skipped (" in text.stdout
    assert [s["spider"] for s in good.scheduled] == ["figshare", "nei"]  # a dry run schedules nothing


def test_status_reads_the_progress_of_a_running_job_from_the_end_of_its_log(fakes, tmp_path):
    node = fakes(node_name="a", other_load=1)
    filler = "".join(f"2026-12-07 03:00:{i % 60:02d} [scrapy.extensions.logstats] INFO: Crawled {i} pages\n"
                     for i in range(2000))
    node.run("zenodo", "z1", log=filler + "2026-12-07 03:01:00 [envision_spiders.progress.extension] INFO: "
             "Progress: hits 1,840 reported by 3 queries; processed 610/1,840; archives 95; "
             "waiting on politeness 3 (+12 scheduled); ETA 6m40s\n" + filler[:5000])
    dead = f"http://127.0.0.1:{free_port()}"
    proc = scrapy("status", [node.base_url, dead], tmp_path / "data", "--format", "json",
                  "-s", "ENVISION_STATUS_LOG_TAIL_BYTES=20000")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    view = json.loads(proc.stdout)
    assert [n["answering"] for n in view["nodes"]] == [True, False]
    (job,) = view["nodes"][0]["running_jobs"]
    assert job["progress"]["processed"] == 610 and job["progress"]["expected"] == 1840
    assert job["progress"]["eta"] == "6m40s"
    ranges = [c.headers.get("Range") for c in node.calls_to("log")]
    assert len(ranges) == 1 and ranges[0] and ranges[0].startswith("bytes=")  # only the tail was read
    table = scrapy("status", [node.base_url], tmp_path / "data")
    assert "610/1,840 ETA 6m40s" in table.stdout and "\nClaims" in table.stdout


def test_a_post_whose_answer_is_lost_is_never_placed_twice(fakes, tmp_path):
    from tests.servers.base import Reply

    queued = fakes(node_name="queued")
    queued.lose_answers = 1  # the job is queued, the answer never arrives
    lost = fakes(node_name="lost")
    lost.fault("schedule", 1, Reply(drop=True))  # nothing queued, no answer
    spare = fakes(node_name="spare", other_load=1)
    proc = scrapy("schedule", [queued.base_url, lost.base_url, spare.base_url], tmp_path / "data", "--json",
                  "figshare", "nei")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    jobs = json.loads(proc.stdout)["jobs"]
    # figshare: its post to "queued" lost the answer, but listjobs shows the job: it stays there
    assert (jobs["figshare"]["node"], jobs["figshare"]["jobid"]) == (queued.base_url, queued.scheduled[0]["id"])
    # nei: "queued" takes no more jobs; "lost" queued nothing, so the spare node gets it
    assert jobs["nei"]["node"] == spare.base_url and len(lost.calls_to("schedule")) == 1
    assert [s["spider"] for s in queued.scheduled] == ["figshare"] and [s["spider"] for s in spare.scheduled] == ["nei"]
    assert all(len(node.calls_to("schedule")) <= 1 for node in (queued, lost, spare))  # a post is never re-sent


def test_two_schedule_runs_at_once_start_a_spider_once(fakes, tmp_path):
    node = fakes(node_name="a")
    node.hold("schedule")  # the first run's schedule.json waits: its job is not in listjobs yet
    cmd = scrapy_command("schedule", "--json", "--url", node.base_url, "-s", f"ENVISION_DATA_DIR={tmp_path / 'data'}",
                         "figshare")
    first = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not node.calls_to("schedule"):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        second = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stdout + second.stderr[-3000:]
        assert "schedule lease held" in json.loads(second.stdout)["jobs"]["figshare"]["skipped"]
    finally:
        node.release("schedule")
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err[-3000:]
    assert json.loads(out)["jobs"]["figshare"]["jobid"] and [s["spider"] for s in node.scheduled] == ["figshare"]
    # the lease was given back: a later run is refused by listjobs, not by a lease
    third = scrapy("schedule", [node.base_url], tmp_path / "data", "--json", "figshare")
    assert "pending or running" in json.loads(third.stdout)["jobs"]["figshare"]["skipped"]

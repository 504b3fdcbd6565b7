"""Two real scrapyd nodes on loopback sharing one data dir: ``scrapy schedule`` over
``SCRAPYD_URLS`` (least busy node first, never one spider twice at once, a silent node skipped)
and ``scrapy status`` checked against the nodes' own listjobs.json."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.base import FakeAPI
from tests.servers.figshare import FakeFigshare
from tests.servers.scrapyd import PROJECT, ScrapydNode, build_egg, free_port
from tests.servers.zenodo import FakeZenodo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    egg = build_egg(tmp_path_factory.mktemp("egg") / "envision_spiders.egg")
    started: list[ScrapydNode] = []
    try:
        for name in ("node-a", "node-b"):
            node = ScrapydNode(tmp_path_factory.mktemp(name), node_name=name).start()
            started.append(node)
            node.deploy(egg, "r1")
        yield started
    finally:
        for node in started:
            node.stop()


@pytest.fixture
def fakes():
    nowhere, zenodo, figshare = FakeAPI(), FakeZenodo(n_records=10), FakeFigshare(n_articles=5)
    for server in (nowhere, zenodo, figshare):
        server.start()
    try:
        yield nowhere, zenodo, figshare
    finally:
        zenodo.release("search")
        for server in (nowhere, zenodo, figshare):
            server.stop()


def job_settings(fakes) -> list[str]:
    from envision_spiders import settings as project_settings

    nowhere, zenodo, figshare = fakes
    # every repository API points at a local server: the real services are never contacted
    values = {name: f"{nowhere.base_url}/none" for name in dir(project_settings) if name.endswith("_API_URL")}
    values.update(ZENODO_API_URL=f"{zenodo.base_url}/api", FIGSHARE_API_URL=f"{figshare.base_url}/v2",
                  DOWNLOAD_DELAY="0", CLASSIFIER_ENABLED="False", ENVISION_PROGRESS_INTERVAL="1")
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def scrapy(command: str, urls: list[str], data: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = scrapy_command(command, *args, "-s", f"SCRAPYD_URLS={','.join(urls)}", "-s", f"ENVISION_DATA_DIR={data}",
                         "-s", "SCRAPYD_RETRY_TIMES=0")
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)


def schedule(urls: list[str], data: Path, fakes, *spiders: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = scrapy("schedule", urls, data, "--json", *job_settings(fakes), *spiders)
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else {})


def ids(listing: dict, state: str) -> dict[str, str]:
    return {job["id"]: job["spider"] for job in listing[state]}


def wait_for(condition, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_schedule_takes_the_least_busy_node_and_never_starts_a_running_spider_elsewhere(nodes, fakes, tmp_path):
    a, b = nodes
    data = tmp_path / "data"
    fakes[1].hold("search")  # zenodo's job stays running on the node it went to
    first, placed = schedule([a.url, b.url], data, fakes, "zenodo")
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert placed["jobs"]["zenodo"]["node"] == a.url  # both idle: the node listed first
    zenodo_job = placed["jobs"]["zenodo"]["jobid"]

    second, outcome = schedule([a.url, b.url], data, fakes, "figshare", "nei", "zenodo")
    assert second.returncode == 0, second.stdout + second.stderr[-3000:]
    jobs = outcome["jobs"]
    assert "jobid" not in jobs["zenodo"] and a.url in jobs["zenodo"]["skipped"]  # not on B either
    assert jobs["figshare"]["node"] == b.url  # A runs zenodo: B is less busy
    assert jobs["nei"]["node"] == a.url  # one each now (counting the job just placed): the first listed
    assert outcome["nodes"][a.url]["load"] == 1 and outcome["nodes"][b.url]["load"] == 0

    on_a, on_b = a.listjobs(), b.listjobs()
    everywhere_a = {k: v for s in ("pending", "running", "finished") for k, v in ids(on_a, s).items()}
    everywhere_b = {k: v for s in ("pending", "running", "finished") for k, v in ids(on_b, s).items()}
    assert everywhere_a == {zenodo_job: "zenodo", jobs["nei"]["jobid"]: "nei"}
    assert everywhere_b == {jobs["figshare"]["jobid"]: "figshare"}
    b.wait_finished({jobs["figshare"]["jobid"]})
    a.wait_finished({jobs["nei"]["jobid"]})

    # scrapy status while zenodo is held on A: wait for the job's first progress line
    log = a.home / "logs" / PROJECT / "zenodo" / f"{zenodo_job}.log"
    wait_for(lambda: log.exists() and "Progress:" in log.read_text(), what="zenodo's progress line")
    proc = scrapy("status", [a.url, b.url], data, "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    view = json.loads(proc.stdout)
    for node, entry in zip(nodes, view["nodes"]):
        listing = node.listjobs()
        daemon = requests.get(f"{node.url}/daemonstatus.json", timeout=10).json()
        assert entry["url"] == node.url and entry["answering"] and entry["node_name"] == node.node_name
        assert {j["id"]: j["spider"] for j in entry["running_jobs"]} == ids(listing, "running")
        assert {j["id"]: j["spider"] for j in entry["pending_jobs"]} == ids(listing, "pending")
        assert (entry["running"], entry["pending"], entry["finished"]) == (
            daemon["running"], daemon["pending"], daemon["finished"])
    running = view["nodes"][0]["running_jobs"]
    assert [j["id"] for j in running] == [zenodo_job]
    assert running[0]["start_time"] == ids_start(a.listjobs(), zenodo_job)
    progress = running[0]["progress"]
    assert progress and progress["processed"] == 0 and progress["line"].startswith("hits"), (running, proc.stderr[-3000:])
    # the schedule lease guard was on exactly when the state has leases, and no run left one held
    assert placed["lease"].startswith("none") == (view["claims"] is None), (placed["lease"], view["claims"])
    if view["claims"] is not None:
        assert view["claims"].get("schedule", {"held": []})["held"] == []
    assert view["last_runs"]["figshare"]["job"] == jobs["figshare"]["jobid"]
    assert view["last_runs"]["figshare"]["finish_reason"] == "finished"

    table = scrapy("status", [a.url, b.url], data)
    assert table.returncode == 0 and zenodo_job in table.stdout and "node-b" in table.stdout
    fakes[1].release("search")
    a.wait_finished({zenodo_job})


def ids_start(listing: dict, job: str) -> str:
    return next(j["start_time"] for j in listing["running"] if j["id"] == job)


def test_a_node_that_does_not_answer_is_reported_and_the_other_one_used(nodes, fakes, tmp_path):
    a, b = nodes
    data = tmp_path / "data"
    dead = f"http://127.0.0.1:{free_port()}"
    proc, outcome = schedule([dead, b.url], data, fakes, "figshare")  # the silent node is listed first
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert outcome["nodes"][dead]["answering"] is False and "refused" in outcome["nodes"][dead]["error"]
    assert outcome["jobs"]["figshare"]["node"] == b.url
    b.wait_finished({outcome["jobs"]["figshare"]["jobid"]})

    status = scrapy("status", [dead, a.url], data, "--format", "json")
    assert status.returncode == 0, status.stderr[-3000:]
    view = json.loads(status.stdout)
    assert [n["answering"] for n in view["nodes"]] == [False, True] and view["answering"] == 1

    for command in ("status", "schedule"):  # no node answers: exit 1
        alone = scrapy(command, [dead], data)
        assert alone.returncode == 1, alone.stdout + alone.stderr[-2000:]
        assert dead in alone.stdout

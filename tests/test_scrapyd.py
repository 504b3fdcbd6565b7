"""A real scrapyd on loopback: deploy the egg, schedule zenodo against the fake API, read the
items feed; then ``scrapy schedule`` (the weekly crawl) schedules every spider, and parallel
jobs leave the shared state consistent."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from envision_spiders.schema import record_errors
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.base import FakeAPI
from tests.servers.figshare import FakeFigshare
from tests.servers.scrapyd import PROJECT, ScrapydNode, build_egg, clean_env, wait_finished
from tests.servers.zenodo import FakeZenodo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def egg(tmp_path_factory) -> Path:
    return build_egg(tmp_path_factory.mktemp("egg") / "envision_spiders.egg")


@pytest.fixture(scope="module")
def scrapyd(tmp_path_factory):
    node = ScrapydNode(tmp_path_factory.mktemp("scrapyd")).start()
    try:
        yield node.url, node.home
    finally:
        node.stop()


def run_in_egg(egg: Path, cwd: Path, code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter after activating ``egg`` as scrapyd's runner does."""
    prelude = "import sys; from scrapyd.runner import activate_egg; activate_egg(sys.argv[1]);"
    return subprocess.run([sys.executable, "-c", prelude + code, str(egg)], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=60)


def test_egg_carries_its_data_files_and_loads_them_zipped(egg, tmp_path):
    names = set(zipfile.ZipFile(egg).namelist())
    assert "envision_spiders/schema/record.schema.json" in names
    package = PROJECT_ROOT / "envision_spiders"
    data_files = [p for pattern in ("classifier/assets/*", "classifier/training/*.jsonl") for p in package.glob(pattern)]
    for path in data_files:
        assert f"envision_spiders/{path.relative_to(package).as_posix()}" in names
    assert not any(n.startswith("tests/") for n in names)
    # the way scrapyd's runner activates an egg: the package must load from inside the zip
    proc = run_in_egg(egg, tmp_path, (
        "import json, envision_spiders.schema as s;"
        "print(json.dumps({'file': s.__file__, 'errors': s.record_errors({})[:1]}))"
    ))
    loaded = json.loads(proc.stdout)
    assert loaded["file"].startswith(str(egg)), loaded  # from the egg, not the working tree
    assert loaded["errors"], loaded  # the validator works from the zipped schema


def test_packaged_classifier_head_loads_from_the_egg(egg, tmp_path):
    proc = run_in_egg(egg, tmp_path, (
        "from importlib.resources import files;"
        "assert files('envision_spiders.classifier').joinpath('assets/head.json').read_bytes();"
        "from envision_spiders.classifier.model import EyeImagingClassifier;"
        "print(len(EyeImagingClassifier().head.feature_names))"
    ))
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_deploy_schedule_zenodo_and_read_the_items_feed(egg, scrapyd, tmp_path):
    url, home = scrapyd
    with open(egg, "rb") as fh:
        added = requests.post(f"{url}/addversion.json", data={"project": PROJECT, "version": "r1"},
                              files={"egg": ("project.egg", fh)}, timeout=60).json()
    assert added["status"] == "ok" and "zenodo" in requests.get(
        f"{url}/listspiders.json", params={"project": PROJECT}, timeout=10).json()["spiders"]
    data = tmp_path / "data"
    with FakeZenodo(n_records=40) as fake:
        job = requests.post(f"{url}/schedule.json", timeout=10, data=[
            ("project", PROJECT), ("spider", "zenodo"),
            ("setting", f"ZENODO_API_URL={fake.base_url}/api"), ("setting", "DOWNLOAD_DELAY=0"),
            ("setting", f"ENVISION_DATA_DIR={data}"), ("setting", "CLASSIFIER_ENABLED=False"),
        ]).json()
        assert job["status"] == "ok", job
        finished = wait_finished(url, {job["jobid"]})
    assert finished[job["jobid"]]["spider"] == "zenodo"
    items_file = home / "items" / PROJECT / "zenodo" / f"{job['jobid']}.jl"
    log_file = home / "logs" / PROJECT / "zenodo" / f"{job['jobid']}.log"
    log = log_file.read_text()
    lines = items_file.read_text().splitlines()
    assert len(lines) == 40, log[-3000:]
    for line in lines:
        assert record_errors(json.loads(line)) == []
    # the portal feed is written too (scrapyd's items FEEDS add to it, not replace it)
    feeds = list((data / "feeds" / "zenodo").glob("*.all.jsonl"))
    assert len(feeds) == 1 and len(feeds[0].read_text().splitlines()) == 40
    assert "Traceback" not in log and str(egg.parent) not in log
    db = sqlite3.connect(data / "state.sqlite3")
    assert db.execute("SELECT spider, job, clean FROM crawl_runs").fetchall() == [("zenodo", job["jobid"], 1)]


def test_weekly_schedule_schedules_every_spider_and_parallel_jobs_share_state(egg, scrapyd, tmp_path):
    url, home = scrapyd
    with open(egg, "rb") as fh:
        assert requests.post(f"{url}/addversion.json", data={"project": PROJECT, "version": "r2"},
                             files={"egg": ("project.egg", fh)}, timeout=60).json()["status"] == "ok"
    deployed = requests.get(f"{url}/listspiders.json", params={"project": PROJECT}, timeout=10).json()["spiders"]
    expected = sorted(s for s in deployed if s not in ("portal", "url"))  # no portal presets, no URL list configured
    data = tmp_path / "data"
    nowhere, zenodo, figshare = FakeAPI(), FakeZenodo(n_records=30), FakeFigshare(n_articles=20)
    for server in (nowhere, zenodo, figshare):
        server.start()
    zenodo.hold("search")  # the zenodo job stays queued or running until the second schedule is done
    try:
        from envision_spiders import settings as project_settings

        # every repository API points at a local server: the real services are never contacted
        job_settings = {name: f"{nowhere.base_url}/none" for name in dir(project_settings) if name.endswith("_API_URL")}
        job_settings.update(ZENODO_API_URL=f"{zenodo.base_url}/api", FIGSHARE_API_URL=f"{figshare.base_url}/v2",
                            DOWNLOAD_DELAY="0", CLASSIFIER_ENABLED="False")
        cmd = scrapy_command("schedule", "--url", url, "--json", "-s", f"ENVISION_DATA_DIR={data}")
        for key, value in job_settings.items():
            cmd += ["--set", f"{key}={value}"]
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
        outcome = json.loads(proc.stdout)
        assert sorted(outcome["jobs"]) == expected
        jobs = {entry["jobid"]: name for name, entry in outcome["jobs"].items()}
        assert all(jobs) and outcome["settings"]["ENVISION_DATA_DIR"] == str(data.resolve())
        listing = requests.get(f"{url}/listjobs.json", params={"project": PROJECT}, timeout=10).json()
        listed = {j["id"]: j["spider"] for key in ("pending", "running", "finished") for j in listing[key]}
        assert {job: listed.get(job) for job in jobs} == jobs
        # scheduling again while they are queued or running adds nothing
        again = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr[-3000:]
        busy = json.loads(again.stdout)["jobs"]
        assert any("skipped" in entry for entry in busy.values())
        assert all("jobid" not in entry for entry in busy.values() if "skipped" in entry)
        assert "skipped" in busy["zenodo"], busy["zenodo"]
        jobs.update({e["jobid"]: n for n, e in busy.items() if e.get("jobid")})
        zenodo.release("search")
        wait_finished(url, set(jobs))
    finally:
        zenodo.release("search")
        for server in (nowhere, zenodo, figshare):
            server.stop()
    db = sqlite3.connect(data / "state.sqlite3")
    runs = db.execute("SELECT spider, job, finish_reason FROM crawl_runs").fetchall()
    recorded = {(spider, job) for spider, job, _ in runs}
    assert {("zenodo", j) for j, n in jobs.items() if n == "zenodo"} <= recorded
    assert {("figshare", j) for j, n in jobs.items() if n == "figshare"} <= recorded
    for job, name in jobs.items():  # a job missing from the ledger never opened its spider: it says why
        if (name, job) not in recorded:
            log = (home / "logs" / PROJECT / name / f"{job}.log").read_text()
            assert "ERROR" in log and "Traceback" not in log, (name, log[-2000:])
    assert all(reason == "finished" for _, _, reason in runs), runs
    stored = {(p.parent.name, p.stem) for p in (data / "metadata").glob("*/*.json")}
    assert {s for s, _ in stored} == {"zenodo", "figshare"}
    assert set(db.execute("SELECT source, source_id FROM records WHERE duplicate_of IS NULL")) == stored
    assert set(db.execute("SELECT DISTINCT source, source_id FROM doi_claims")) <= stored
    # the next week: each spider starts from its last clean run, minus the overlap day
    dry = subprocess.run(scrapy_command("schedule", "--url", url, "--json", "--dry-run", "--force",
                                        "-s", f"ENVISION_DATA_DIR={data}", "zenodo"),
                         cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
    planned = json.loads(dry.stdout)["jobs"]["zenodo"]
    started = db.execute("SELECT max(started_at) FROM crawl_runs WHERE spider='zenodo' AND clean=1").fetchone()[0]
    from datetime import date, timedelta

    assert planned["args"]["since"] == (date.fromisoformat(started[:10]) - timedelta(days=1)).isoformat()
    assert not any((PROJECT_ROOT / name).exists() for name in ("eggs", "dbs", "logs", "items"))

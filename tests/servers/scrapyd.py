"""scrapyd for the tests: real processes on loopback (the project's egg, one node per
``ScrapydNode`` with its own home directory, port and ``deploy/scrapyd.conf``; jobs run the egg
with the venv's packages and no PYTHONPATH to the working tree), and ``FakeScrapyd``, its JSON
API in memory for the fast tests of the commands."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests

from tests.conftest import OFFLINE_ENV, PROJECT_ROOT, scrapy_env
from tests.servers.base import Call, FakeAPI, Reply

PROJECT = "envision_spiders"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    """scrapyd's environment: the venv, no PYTHONPATH to the working tree (jobs must run the egg)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.endswith(("_TOKEN", "_KEY"))}
    env.update(OFFLINE_ENV)
    return env


def build_egg(out: Path) -> Path:
    """The egg ``scrapyd-deploy`` would upload, built from the working tree."""
    deploy = Path(sys.executable).parent / "scrapyd-deploy"
    proc = subprocess.run([str(deploy), "--build-egg", str(out)], cwd=PROJECT_ROOT, env=scrapy_env(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return out


class ScrapydNode:
    """One scrapyd process started in ``home`` with the project's scrapyd.conf (port, max_proc,
    poll interval and node name changed for the test)."""

    def __init__(self, home: Path, max_proc: int = 3, node_name: str | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.max_proc = max_proc
        self.node_name = node_name
        self.proc: subprocess.Popen | None = None
        self._log: Any = None

    def start(self, timeout: float = 30) -> ScrapydNode:
        conf = (PROJECT_ROOT / "deploy" / "scrapyd.conf").read_text()
        conf = conf.replace("http_port    = 6800", f"http_port    = {self.port}")
        conf = conf.replace("max_proc     = 4", f"max_proc     = {self.max_proc}")
        conf = conf.replace("poll_interval = 5.0", "poll_interval = 0.5")
        if self.node_name:
            conf += f"node_name    = {self.node_name}\n"
        (self.home / "scrapyd.conf").write_text(conf)
        self._log = open(self.home / "scrapyd.out", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "scrapyd", "--nodaemon", "--pidfile="], cwd=self.home,
                                     env=clean_env(), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/daemonstatus.json", timeout=2).json()["status"] == "ok":
                    return self
            except (requests.ConnectionError, ValueError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"scrapyd did not come up: {(self.home / 'scrapyd.out').read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def deploy(self, egg: Path, version: str) -> None:
        with open(egg, "rb") as fh:
            added = requests.post(f"{self.url}/addversion.json", data={"project": PROJECT, "version": version},
                                  files={"egg": ("project.egg", fh)}, timeout=60).json()
        assert added["status"] == "ok", added

    def listjobs(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/listjobs.json", params={"project": PROJECT}, timeout=10).json()

    def wait_finished(self, jobs: set[str], timeout: float = 240) -> dict[str, dict]:
        return wait_finished(self.url, jobs, timeout)


def wait_finished(url: str, jobs: set[str], timeout: float = 240) -> dict[str, dict]:
    """{job id: its finished entry} once every job of ``jobs`` has finished on the node at ``url``."""
    deadline = time.monotonic() + timeout
    while True:
        listing = requests.get(f"{url}/listjobs.json", params={"project": PROJECT}, timeout=5).json()
        finished = {j["id"]: j for j in listing["finished"] if j["id"] in jobs}
        if len(finished) == len(jobs):
            return finished
        assert time.monotonic() < deadline, listing
        time.sleep(0.5)


class FakeScrapyd(FakeAPI):
    """scrapyd's JSON API as ``scrapy schedule`` / ``scrapy status`` use it, in memory: jobs are
    whatever the test puts in ``jobs`` (or schedules); ``other_load`` counts jobs of other
    projects in daemonstatus; ``project=None`` answers listjobs as a node without the egg."""

    def __init__(self, spiders: tuple[str, ...] = ("figshare", "nei", "osf", "zenodo"), node_name: str = "fake",
                 project: str | None = PROJECT, other_load: int = 0) -> None:
        super().__init__()
        self.spiders = list(spiders)
        self.node_name = node_name
        self.project = project
        self.other_load = other_load
        self.jobs: dict[str, list[dict[str, Any]]] = {"pending": [], "running": [], "finished": []}
        self.scheduled: list[dict[str, Any]] = []
        self.lose_answers = 0  # this many schedule.json calls queue the job, then drop the connection
        self.logs: dict[str, bytes] = {}
        self.route("daemonstatus", "GET", r"/daemonstatus\.json", self.daemonstatus)
        self.route("listjobs", "GET", r"/listjobs\.json", self.listjobs_)
        self.route("listspiders", "GET", r"/listspiders\.json", self.listspiders)
        self.route("schedule", "POST", r"/schedule\.json", self.schedule)
        self.route("log", "GET", r"/logs/(.+)", self.log)
        self.route("log_head", "HEAD", r"/logs/(.+)", self.log)

    @staticmethod
    def json_error(message: str) -> Reply:
        return Reply.json({"status": "error", "message": message})

    def ok(self, **data: Any) -> Reply:
        return Reply.json({"node_name": self.node_name, "status": "ok", **data})

    def run(self, spider: str, job: str, log: str | None = None) -> None:
        """A running job of ``spider`` (with a log, when given)."""
        entry = {"id": job, "project": PROJECT, "spider": spider, "pid": 1, "start_time": "2026-12-07 03:00:00"}
        if log is not None:
            path = f"{PROJECT}/{spider}/{job}.log"
            self.logs[path] = log.encode()
            entry["log_url"] = f"/logs/{path}"
        self.jobs["running"].append(entry)

    def daemonstatus(self, call: Call, match: Any) -> Reply:
        counts = {state: len(jobs) for state, jobs in self.jobs.items()}
        counts["running"] += self.other_load
        return self.ok(**counts)

    def _project_missing(self, call: Call) -> Reply | None:
        asked = call.query.get("project", [None])[0]
        if asked != self.project:
            return Reply.json({"node_name": self.node_name, "status": "error", "message": f"project '{asked}' not found"})
        return None

    def listjobs_(self, call: Call, match: Any) -> Reply:
        return self._project_missing(call) or self.ok(**self.jobs)

    def listspiders(self, call: Call, match: Any) -> Reply:
        return self._project_missing(call) or self.ok(spiders=self.spiders)

    def schedule(self, call: Call, match: Any) -> Reply:
        form = parse_qs(call.body.decode(), keep_blank_values=True)
        spider = form.pop("spider")[0]
        form.pop("project")
        job = f"{self.node_name}-{len(self.scheduled) + 1}"
        settings = dict(value.split("=", 1) for value in form.pop("setting", []))
        self.scheduled.append({"spider": spider, "id": job, "settings": settings,
                               "args": {k: v[0] for k, v in form.items()}})
        self.jobs["pending"].append({"id": job, "project": PROJECT, "spider": spider})
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return Reply(drop=True)
        return self.ok(jobid=job)

    def log(self, call: Call, match: Any) -> Reply:
        body = self.logs.get(match.group(1))
        if body is None:
            return Reply(404)
        start = re.fullmatch(r"bytes=(\d+)-", call.headers.get("Range", ""))
        if start:
            offset = int(start.group(1))
            return Reply(206, body[offset:], {"Content-Range": f"bytes {offset}-{len(body) - 1}/{len(body)}"})
        return Reply(200, body, {"Content-Type": "text/plain"})

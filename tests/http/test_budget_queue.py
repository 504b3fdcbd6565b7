"""The scheduler's priority queue (``http/budget_queue.py``): a rate-budget slot takes spider
requests only while it is short of work, so file requests sent to the same slot do not queue
behind ``CONCURRENT_REQUESTS`` of the spider's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.core.downloader import Downloader
from scrapy.squeues import LifoMemoryQueue
from scrapy.utils.test import get_crawler

from envision_spiders.http.budget_queue import BudgetSlotQueue
from envision_spiders.http.slots import SLOT_META, file_slot, shared_slot
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.base import FakeAPI, Reply

SHARED = shared_slot("src")


class HeldRequests:
    """The downloader as the queue sees it: the requests it holds, keyed like Scrapy's."""

    def __init__(self) -> None:
        self.active: set[Request] = set()
        self.slots: dict[str, Any] = {}

    get_slot_key = Downloader.get_slot_key
    DOWNLOAD_SLOT = Downloader.DOWNLOAD_SLOT
    ip_concurrency = 0


def make_queue(backlog: int = 1, concurrency: int = 1) -> tuple[BudgetSlotQueue, HeldRequests]:
    crawler = get_crawler(settings_dict={
        "ENVISION_BUDGET_SLOT_BACKLOG": backlog,
        "DOWNLOAD_SLOTS": {SHARED: {"delay": 1.0, "concurrency": concurrency}, file_slot("src"): {"delay": 1.0}},
    })
    held = HeldRequests()
    crawler.engine = SimpleNamespace(downloader=held)  # type: ignore[assignment]
    return BudgetSlotQueue.from_crawler(crawler, LifoMemoryQueue, ""), held


def req(url: str, slot: str | None = SHARED, priority: int = 0) -> Request:
    return Request(url, meta={SLOT_META: slot} if slot else {}, priority=priority)


def test_a_full_budget_slot_gets_no_request_while_other_slots_do():
    queue, held = make_queue()
    for n in range(3):
        queue.push(req(f"https://api.example.org/{n}"))
    queue.push(req("https://other.example.org/x", slot=None))
    held.active |= {req("https://api.example.org/sent"), req("https://files.example.org/inspected")}  # 1 + 1 = full
    assert queue.pop().url == "https://other.example.org/x"
    assert queue.pop() is None
    assert len(queue) == 3  # still waiting: the engine does not see an idle spider
    held.active.pop()
    request = queue.pop()
    assert request.meta[SLOT_META] == SHARED
    held.active.add(request)  # the engine hands it to the downloader: full again
    assert queue.pop() is None


def test_a_budget_slot_may_hold_its_concurrency_plus_the_backlog():
    queue, held = make_queue(backlog=2, concurrency=2)
    for n in range(6):
        queue.push(req(f"https://api.example.org/{n}"))
    popped = 0
    while (request := queue.pop()) is not None:
        held.active.add(request)  # the engine hands it to the downloader
        popped += 1
    assert popped == 4


def test_the_scheduler_keeps_the_priorities_of_what_waits_for_a_full_slot():
    queue, held = make_queue()
    queue.push(req("https://api.example.org/search-page-2", priority=0))
    queue.push(req("https://api.example.org/files-of-a-record", priority=10))
    held.active |= {req("https://api.example.org/a"), req("https://api.example.org/b")}
    assert queue.pop() is None
    held.active.clear()
    assert queue.pop().url == "https://api.example.org/files-of-a-record"


def test_slots_that_are_no_budget_are_never_held_back():
    queue, held = make_queue()
    held.active |= {req(f"https://api.example.org/{n}", slot=None) for n in range(20)}
    queue.push(req("https://api.example.org/next", slot=None))
    assert queue.pop().url == "https://api.example.org/next"


def test_a_backlog_below_one_is_refused():
    with pytest.raises(ValueError, match="ENVISION_BUDGET_SLOT_BACKLOG"):
        make_queue(backlog=0)


class ProbeServer(FakeAPI):
    def __init__(self) -> None:
        super().__init__()
        self.route("page", "GET", r"/page/\d+", lambda call, match: Reply.json({"ok": True}))
        self.route("file", "GET", r"/file", lambda call, match: Reply(200, b"PK\x05\x06"))


def probe_crawl(tmp_path: Path) -> dict[str, Any]:
    out, stats_file = tmp_path / "probe.json", tmp_path / "stats.json"
    with ProbeServer() as server:
        cmd = scrapy_command("runspider", str(PROJECT_ROOT / "tests" / "http" / "budget_queue_spider.py"),
                             "-a", f"url={server.base_url}", "-a", f"out={out}")
        for key, value in {"ENVISION_DATA_DIR": tmp_path / "data", "ENVISION_STATS_FILE": stats_file,
                           "CLASSIFIER_ENABLED": False, "LOG_LEVEL": "INFO"}.items():
            cmd += ["-s", f"{key}={value}"]
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120,
                              check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {**json.loads(out.read_text()), "stats": json.loads(stats_file.read_text())}


def test_a_file_request_in_a_shared_slot_waits_behind_a_few_spider_requests_not_all(tmp_path):
    probe = probe_crawl(tmp_path)
    assert probe["pages"] == 20
    # concurrency 1 + ENVISION_BUDGET_SLOT_BACKLOG 1 (Scrapy alone: up to CONCURRENT_REQUESTS, 16)
    assert probe["ahead_of_file"] is not None and probe["ahead_of_file"] <= 2
    assert probe["most_waiting"] <= 2
    # held back, the spider's requests still go as soon as the slot has room (not at the engine's
    # 5-second heartbeat): 21 requests 0.02 s apart
    assert probe["stats"]["elapsed_time_seconds"] < 4

"""Shared test helpers: run the real ``scrapy`` command in a subprocess against local servers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Nothing in a test may reach the internet; model libraries must not even try.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    "NO_PROXY": "127.0.0.1,127.0.0.2,localhost",
    "no_proxy": "127.0.0.1,127.0.0.2,localhost",
    # the local fakes live on loopback: let the network fence (docs/security.md) reach them
    "ENVISION_FENCE_ALLOW": "127.0.0.0/8,localhost",
}
for _key, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)


@dataclass
class CrawlResult:
    returncode: int
    log: str
    stats: dict[str, Any]
    items: list[dict[str, Any]]


def scrapy_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # no credential of the developer's shell may leak into a test crawl
    from envision_spiders.http.credentials import TOKEN_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in TOKEN_VARIABLES and not k.endswith(("_TOKEN", "_KEY"))}
    env.update(OFFLINE_ENV)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.update(extra or {})
    return env


def blob(n: int, seed: str) -> bytes:
    """``n`` deterministic, incompressible-ish bytes (file bodies for download tests)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest() * 64
        counter += 1
    return bytes(out[:n])


def scrapy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "scrapy", *args]


def run_crawl(
    spider: str,
    tmp_path: Path,
    settings: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    name: str = "run",
) -> CrawlResult:
    """``scrapy crawl SPIDER -O feed.jsonl`` with delays off and data under ``tmp_path/data``."""
    out = tmp_path / f"{name}.jsonl"
    stats_file = tmp_path / f"{name}.stats.json"
    merged = {
        "ENVISION_DATA_DIR": str(tmp_path / "data"),
        "ENVISION_STATS_FILE": str(stats_file),
        "DOWNLOAD_DELAY": 0,
        "CLASSIFIER_ENABLED": False,  # tests that exercise them turn these on
        "ENVISION_INSPECT_ENABLED": False,
        "LOG_LEVEL": "INFO",
        **(settings or {}),
    }
    cmd = scrapy_command("crawl", spider, "-O", str(out))
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    for key, value in (args or {}).items():
        cmd += ["-a", f"{key}={value}"]
    proc = subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=scrapy_env(env), capture_output=True, text=True, timeout=timeout
    )
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    items = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return CrawlResult(proc.returncode, proc.stderr + proc.stdout, stats, items)


@pytest.fixture
def crawl(tmp_path: Path):
    def _crawl(spider: str, **kwargs: Any) -> CrawlResult:
        return run_crawl(spider, tmp_path, **kwargs)

    return _crawl


# nginx on loopback as a Range-capable file server (archive inspection, gated downloads)
from tests.servers.nginx import nginx  # noqa: E402,F401  (fixture)

# a real PostgreSQL on loopback: the state tests run on both backends (state_url)
from tests.servers.postgres import postgres_database, postgres_server, state_url  # noqa: E402,F401  (fixtures)

# an S3-protocol server (moto) on loopback: record store, feeds and downloads on s3://
from tests.servers.s3 import s3_server  # noqa: E402,F401  (fixture)


def project_crawler(spidercls: type | None = None, **overrides: Any):
    """A Crawler over the project's settings (plus ``overrides``) with its spider created and
    stats open, for unit tests of components (``Component.from_crawler(crawler)``)."""
    from scrapy import Spider
    from scrapy.settings import SETTINGS_PRIORITIES
    from scrapy.utils.project import get_project_settings
    from scrapy.utils.test import get_crawler

    project = get_project_settings()
    settings = {k: project[k] for k in project if project.getpriority(k) >= SETTINGS_PRIORITIES["project"]}
    settings.pop("ADDONS", None)  # scrapy-poet is not needed for component tests
    settings.update(overrides)
    crawler = get_crawler(spidercls or Spider, settings_dict=settings)
    crawler.spider = crawler._create_spider(**({} if spidercls else {"name": "test"}))
    crawler.stats.open_spider()
    return crawler

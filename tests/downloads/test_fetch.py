"""Ranged downloads through the one Range path, against an in-memory Range server (no crawl):
If-Range on every chunk after the first, a file changed mid-way, a server ignoring Range.
The same against a real nginx, resumed after SIGKILL: ``tests/pipelines/test_files.py``."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from envision_spiders.downloads.config import DownloadConfig, FetchConfig
from envision_spiders.downloads.fetch import DownloadFailed, FileFetcher, HostLimiter
from envision_spiders.downloads.gate import Checksum
from envision_spiders.http.credentials import ApiToken
from tests.http.fakes import FakeRangeServer

DATA = hashlib.sha256(b"seed").digest() * 320  # 10,240 bytes
CONFIG = FetchConfig(chunk_size=1024, chunk_threshold=2048, ranges_in_flight=3, max_whole_body=20_000)


def fetcher(server: FakeRangeServer, config: FetchConfig = CONFIG) -> tuple[FileFetcher, object]:
    crawler = get_crawler()
    crawler.engine = SimpleNamespace(download_async=server.download)
    return FileFetcher(crawler, config, HostLimiter(4, 8)), crawler


def fetch(server: FakeRangeServer, dest: Path, config: FetchConfig = CONFIG):  # type: ignore[no-untyped-def]
    f, crawler = fetcher(server, config)
    base = Request("http://files.test/vol.bin", headers={"Accept-Encoding": "identity"})
    md5 = Checksum("md5", hashlib.md5(DATA).hexdigest())
    return asyncio.run(f.fetch_ranged(base, dest, len(DATA), md5)), crawler.stats.get_stats()


def test_ranged_download_sends_if_range_after_the_probe(tmp_path: Path) -> None:
    server = FakeRangeServer(DATA, etag='"e1"')
    got, stats = fetch(server, tmp_path / "vol.bin")
    assert (tmp_path / "vol.bin").read_bytes() == DATA and got.mode == "ranged"
    assert got.verification == "md5 matches the repository" and got.bytes_fetched == len(DATA)
    probe, *chunks = server.requests
    assert probe.headers[b"Range"] == b"bytes=0-1023" and b"If-Range" not in probe.headers
    assert len(chunks) == 9 and all(r.headers[b"If-Range"] == b'"e1"' for r in chunks)
    assert stats["envision/download/chunks"] == 9 and stats["envision/range/responses"] == 10


class ChangesAfterTheProbe(FakeRangeServer):
    """The file's ETag changes once, right after the first request (an upload replaced it)."""

    async def download(self, request: Request) -> Response:
        response = await super().download(request)
        if len(self.requests) == 1:
            self.etag = '"e2"'
        return response


def test_a_file_changed_midway_restarts_once_from_zero(tmp_path: Path) -> None:
    server = ChangesAfterTheProbe(DATA, etag='"e1"')
    got, stats = fetch(server, tmp_path / "vol.bin")
    assert (tmp_path / "vol.bin").read_bytes() == DATA and got.mode == "ranged"
    assert stats["envision/download/changed_midway"] == 1 and stats["envision/range/changed"] >= 1


def test_server_ignoring_range_whole_body_under_the_cap(tmp_path: Path) -> None:
    got, stats = fetch(FakeRangeServer(DATA, honour_range=False), tmp_path / "vol.bin")
    assert got.mode == "whole-fallback" and (tmp_path / "vol.bin").read_bytes() == DATA
    assert stats["envision/download/range_ignored"] == 1


def test_server_ignoring_range_over_the_cap_is_stopped_unread(tmp_path: Path) -> None:
    small_cap = FetchConfig(chunk_size=1024, chunk_threshold=2048, ranges_in_flight=3, max_whole_body=4096)
    with pytest.raises(DownloadFailed, match=r"server ignores Range .* \(4096 bytes\)"):
        fetch(FakeRangeServer(DATA, honour_range=False), tmp_path / "vol.bin", small_cap)
    assert not (tmp_path / "vol.bin").exists()


def test_download_config_is_read_and_checked_once() -> None:
    from scrapy.exceptions import NotConfigured

    base = {"ENVISION_DOWNLOAD": True, "ENVISION_DOWNLOAD_CHUNK_SIZE": 4096, "ENVISION_DOWNLOAD_RANGES_IN_FLIGHT": 2,
            "ENVISION_DOWNLOAD_THRESHOLD": 0.9, "ENVISION_FILE_AUTH": {}}
    config = DownloadConfig.from_settings(Settings(base))
    assert config.fetch.chunk_size == 4096 and config.fetch.ranges_in_flight == 2 and config.threshold == 0.9
    with pytest.raises(NotConfigured) as off:
        DownloadConfig.from_settings(Settings({**base, "ENVISION_DOWNLOAD": False}))
    assert off.value.args == ()  # off is the default: no message, so Scrapy logs no WARNING
    with pytest.raises(NotConfigured, match="ENVISION_DOWNLOAD_CHUNK_SIZE"):
        DownloadConfig.from_settings(Settings({**base, "ENVISION_DOWNLOAD_CHUNK_SIZE": 0}))


def test_download_config_keeps_tokens_out_of_its_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENODO_ACCESS_TOKEN", "tok-123")
    settings = Settings({
        "ENVISION_DOWNLOAD": True, "ENVISION_DOWNLOAD_CHUNK_SIZE": 1, "ENVISION_DOWNLOAD_RANGES_IN_FLIGHT": 1,
        "ZENODO_API_URL": "https://zenodo.test/api",
        "ENVISION_FILE_AUTH": {"zenodo": {"secret": "ZENODO_ACCESS_TOKEN", "api_url_setting": "ZENODO_API_URL"}},
    })
    config = DownloadConfig.from_settings(settings)
    assert config.auth == {"zenodo": ApiToken("https://zenodo.test/api", "Bearer tok-123")}
    token = config.auth["zenodo"]
    assert token.headers_for("https://zenodo.test/api/records/1/files/a.zip/content") == {"Authorization": "Bearer tok-123"}
    assert token.headers_for("https://files.zenodo.test/a.zip") == {} and token.headers_for("http://zenodo.test/x") == {}
    assert "tok-123" not in repr(config)

"""The format drivers over RangeReader and an in-memory Range server (no crawl, no network), the
settings-to-config step and the report helpers. The same paths against a real nginx, in a real
crawl: ``tests/pipelines/test_inspect.py``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from envision_spiders.http.ranges import RangeNotSupported, RangeReader
from envision_spiders.inspection.config import InspectConfig
from envision_spiders.inspection.drivers import inspect_archive
from envision_spiders.inspection.report import new_report, reusable
from tests.http.fakes import FakeRangeServer
from tests.inspection import corpus

CONFIG = InspectConfig()


def reader_and_report(data: bytes, fmt: str, config: InspectConfig, **server: Any) -> tuple[RangeReader, dict[str, Any]]:
    fake = FakeRangeServer(data, **server)
    reader = RangeReader(get_crawler(), "http://files.test/archive", size=len(data), download=fake.download,
                         max_requests=config.max_requests, max_bytes=config.max_bytes,
                         keep_bytes=config.tail_bytes * 2)
    report = new_report({"name": f"archive.{fmt}", "url": "http://files.test/archive", "size": len(data)}, fmt)
    return reader, report


def inspect(data: bytes, fmt: str, config: InspectConfig = CONFIG, **server: Any) -> tuple[dict[str, Any], RangeReader]:
    reader, report = reader_and_report(data, fmt, config, **server)
    asyncio.run(inspect_archive(reader, config, report))
    return report, reader


def test_zip_is_listed_from_its_tail_and_sniffed_in_one_more_request() -> None:
    report, reader = inspect(corpus.image_zip(20, 20_000), "zip")
    assert report["status"] == "complete" and report["entries_total"] == report["entries_listed"] == 20
    assert len(report["images"]) == 8 and all(i["format"] for i in report["images"])
    assert reader.requests == 2


def test_tar_walk_lists_every_member() -> None:
    report, _ = inspect(corpus.image_tar(30, 3_000), "tar")
    assert report["status"] == "complete" and report["entries_total"] == 30
    assert report["images"] and all(i["format"] for i in report["images"])


def test_tar_gz_prefix_is_decompressed_as_a_stream() -> None:
    report, reader = inspect(corpus.gz(corpus.image_tar(30, 3_000)), "tar.gz")
    assert report["status"] == "complete" and report["entries_listed"] == 30 and reader.requests == 1


def test_tar_budget_ends_in_a_partial_listing_with_an_estimate() -> None:
    tight = replace(CONFIG, max_requests=3, tar_read_bytes=512, tar_gap_bytes=0, sniff_count=0)
    report, reader = inspect(corpus.image_tar(40, 5_000), "tar", tight)
    assert report["status"] == "partial" and "budget" in report["error"]
    assert 0 < report["entries_listed"] < 40 and report["entries_estimated"] > report["entries_listed"]
    assert reader.requests == 3


def test_a_server_ignoring_range_is_left_to_the_caller() -> None:
    with pytest.raises(RangeNotSupported):
        inspect(corpus.image_zip(20, 20_000), "zip", honour_range=False)


def test_config_reads_and_checks_the_settings_once() -> None:
    config = InspectConfig.from_settings(Settings({"ENVISION_INSPECT_MAX_REQUESTS": 5, "ENVISION_INSPECT_MULTIRANGE": False}))
    assert config.max_requests == 5 and config.multirange is False and config.tail_bytes == CONFIG.tail_bytes
    with pytest.raises(NotConfigured) as off:
        InspectConfig.from_settings(Settings({"ENVISION_INSPECT_ENABLED": False}))
    assert off.value.args == ()  # switched off on purpose: no message, so Scrapy logs no WARNING
    with pytest.raises(NotConfigured, match="ENVISION_INSPECT_TAIL_BYTES"):
        InspectConfig.from_settings(Settings({"ENVISION_INSPECT_TAIL_BYTES": 10}))
    with pytest.raises(NotConfigured, match="exceeds"):
        InspectConfig.from_settings(Settings({"ENVISION_INSPECT_TAIL_BYTES": 4096, "ENVISION_INSPECT_MAX_BYTES": 2048}))


def test_report_reuse_needs_a_complete_entry_of_the_same_file() -> None:
    done = {**new_report({"name": "a.zip", "size": 10, "checksum": "md5:aa"}, "zip"), "status": "complete"}
    assert reusable(done, {"name": "a.zip", "size": 99, "checksum": "md5:aa"})
    assert not reusable(done, {"name": "a.zip", "size": 10, "checksum": "md5:bb"})
    assert reusable({**done, "checksum": None}, {"name": "a.zip", "size": 10})
    assert not reusable({**done, "status": "partial"}, {"name": "a.zip", "size": 10, "checksum": "md5:aa"})


# --- CPU work off the event loop, under a time budget ----------------------------------------------

BUDGET = 1.0  # seconds; each hostile archive below takes several times that to list in full


@pytest.mark.parametrize(("fmt", "build"), [
    ("tar.bz2", corpus.bzip2_bomb_tar),  # 24 kB inflating to 4 GiB: decompression
    ("tar.gz", corpus.empty_members_tar_gz),  # 200,000 empty members: the header walk
])
def test_hostile_compressed_tar_stops_at_its_time_budget_while_the_loop_keeps_running(fmt: str, build: Any) -> None:
    config = replace(CONFIG, decompress_seconds=BUDGET, stream_max_output=1 << 40)
    hostile_reader, hostile = reader_and_report(build(), fmt, config)
    normal_reader, normal = reader_and_report(corpus.gz(corpus.image_tar(30, 3_000)), "tar.gz", config)
    finished: list[str] = []
    ticks: list[float] = []

    async def run(reader: RangeReader, report: dict[str, Any], name: str) -> None:
        await inspect_archive(reader, config, report)
        finished.append(name)

    async def main() -> float:
        async def tick() -> None:
            while len(finished) < 2:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        start = time.monotonic()
        ticks.append(start)
        await asyncio.gather(tick(), run(hostile_reader, hostile, "hostile"), run(normal_reader, normal, "normal"))
        ticks.append(time.monotonic())
        return ticks[-1] - start

    elapsed = asyncio.run(main())
    assert hostile["status"] == "partial" and hostile["time_budget_exceeded"] is True
    assert "ENVISION_INSPECT_DECOMPRESS_SECONDS=1" in hostile["error"] and hostile["entries_listed"] >= 1
    assert elapsed >= BUDGET  # the budget was spent in full...
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]  # ticks of a 10 ms sleep loop
    # ...and the event loop was never held for more than a fraction of it: on the loop thread,
    # one walk call would hold it for the whole budget
    assert max(gaps) < BUDGET / 2, max(gaps)
    assert finished == ["normal", "hostile"] and normal["status"] == "complete"


def test_time_budget_counts_thread_time_not_network_waits() -> None:
    data = corpus.gz(corpus.image_tar(300, 3_000))
    # read in 64 KiB requests (the whole file would be one request)
    config = replace(CONFIG, decompress_seconds=0.05, stream_chunk_bytes=64 << 10, stream_prefix_bytes=len(data) - 1)
    fake = FakeRangeServer(data)

    async def slow_download(request: Any) -> Any:
        await asyncio.sleep(0.02)  # per request: more than the whole budget in total
        return await fake.download(request)

    reader = RangeReader(get_crawler(), "http://files.test/a.tar.gz", size=len(data), download=slow_download,
                         max_requests=config.max_requests, max_bytes=config.max_bytes)
    report = new_report({"name": "a.tar.gz", "url": "http://files.test/a.tar.gz", "size": len(data)}, "tar.gz")
    asyncio.run(inspect_archive(reader, config, report))
    assert reader.requests > 3 and report["status"] == "complete" and "time_budget_exceeded" not in report


def test_plain_tar_whose_last_header_runs_past_the_end_is_read_once() -> None:
    body = corpus.pax_records([("comment", "c" * 8000)])
    data = b"".join(corpus.tar_header(f"{i}.txt", 1_000) + corpus.pad(b"x" * 1_000) for i in range(3))
    data += corpus.tar_header("././@PaxHeader", len(body), "x", gnu=False) + body[:2000]
    report, reader = inspect(data, "tar")
    assert report["status"] == "partial" and "header runs past the end" in report["error"]
    assert report["entries_listed"] == 3 and reader.requests == 1


def test_sparse_members_are_listed_but_not_sniffed() -> None:
    data = corpus.gnu_sparse_old("scan.png", [(0, 3_000), (100_000, 2_000)], 200_000) + corpus.end_of_archive()
    report, _ = inspect(data, "tar")
    assert report["status"] == "complete" and report["entries_listed"] == 1 and report["uncompressed_size"] == 200_000
    assert report["images"] == []
    report, _ = inspect(corpus.gz(data), "tar.gz")
    assert report["status"] == "complete" and report["images"] == []


def test_config_checks_the_time_budget_and_the_thread_pool() -> None:
    assert CONFIG.decompress_seconds == 20.0
    config = InspectConfig.from_settings(Settings({"ENVISION_INSPECT_DECOMPRESS_SECONDS": "2.5"}))
    assert config.decompress_seconds == 2.5
    with pytest.raises(NotConfigured, match="ENVISION_INSPECT_DECOMPRESS_SECONDS"):
        InspectConfig.from_settings(Settings({"ENVISION_INSPECT_DECOMPRESS_SECONDS": 0}))
    with pytest.raises(NotConfigured, match="REACTOR_THREADPOOL_MAXSIZE"):
        InspectConfig.from_settings(Settings({"ENVISION_INSPECT_CONCURRENCY": 10}))

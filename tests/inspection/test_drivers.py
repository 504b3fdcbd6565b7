"""The format drivers over RangeReader and an in-memory Range server (no crawl, no network), the
settings-to-config step and the report helpers. The same paths against a real nginx, in a real
crawl: ``tests/pipelines/test_inspect.py``."""

from __future__ import annotations

import asyncio
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


def inspect(data: bytes, fmt: str, config: InspectConfig = CONFIG, **server: Any) -> tuple[dict[str, Any], RangeReader]:
    fake = FakeRangeServer(data, **server)
    reader = RangeReader(get_crawler(), "http://files.test/archive", size=len(data), download=fake.download,
                         max_requests=config.max_requests, max_bytes=config.max_bytes,
                         keep_bytes=config.tail_bytes * 2)
    report = new_report({"name": f"archive.{fmt}", "url": "http://files.test/archive", "size": len(data)}, fmt)
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
    with pytest.raises(NotConfigured, match="ENVISION_INSPECT_ENABLED"):
        InspectConfig.from_settings(Settings({"ENVISION_INSPECT_ENABLED": False}))
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

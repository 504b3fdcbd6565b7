"""The progress figures and their wording, from hand-built stats (no crawl)."""

from __future__ import annotations

import io
import logging

import pytest
from scrapy.exceptions import NotConfigured

from envision_spiders.progress.extension import CrawlProgress, ProgressMeter
from envision_spiders.progress.figures import duration, figures, line, parse_logged
from envision_spiders.progress.live import LiveLines
from tests.conftest import project_crawler


def test_expected_is_the_sum_of_reported_totals_and_handled_counts_every_end_of_a_hit() -> None:
    stats = {
        "envision/search/total": 90, "envision/search/queries_reported": 3, "envision/search/query_groups": 2,
        "envision/listing/total": 10, "item_scraped_count": 40, "item_dropped_count": 5,
        "envision/incremental/unchanged": 3, "envision/search/repeated_hits": 1, "envision/search/unreadable_rows": 1,
        "envision/inspect/archives": 7,
    }
    f = figures(stats, elapsed=50.0, waiting=4, scheduled=2)
    assert (f.expected, f.handled, f.archives, f.waiting) == (100, 50, 7, 4)
    assert f.eta == 50.0  # 50 left at 1 hit/s
    text = line(f)
    assert "hits 100 reported by 3 queries in 2 query groups" in text
    assert "processed 50/100" in text and "archives 7" in text
    assert "waiting on politeness 4 (+2 scheduled)" in text and text.endswith("ETA 50s")


def test_nothing_reported_yet_has_no_expected_and_no_eta() -> None:
    f = figures({"item_scraped_count": 3}, elapsed=5.0)
    assert f.expected is None and f.eta is None
    assert line(f).startswith("hits: not reported yet; processed 3;") and line(f).endswith("ETA ?")


def test_download_bytes_done_rate_and_eta() -> None:
    stats = {"envision/download/bytes_planned": 300_000_000, "envision/download/bytes_received": 100_000_000,
             "envision/download/resumed_bytes": 50_000_000}
    f = figures(stats, elapsed=10.0, bytes_rate=50e6)
    assert f.bytes_done == 150_000_000 and f.bytes_eta == 3.0
    assert "files 150.0 MB/300.0 MB, 50.0 MB/s, ETA 3s" in line(f)


def test_duration_wording() -> None:
    assert [duration(s) for s in (None, 0, 59, 95, 3600 * 2 + 61)] == ["?", "0s", "59s", "1m35s", "2h01m"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_meter_rate_is_bytes_per_second_between_two_reads() -> None:
    crawler = project_crawler()
    clock = Clock()
    meter = ProgressMeter(crawler, clock=clock)
    crawler.stats.set_value("envision/download/bytes_received", 1_000_000)
    assert meter.read().bytes_rate is None
    clock.now += 2
    crawler.stats.set_value("envision/download/bytes_received", 5_000_000)
    assert meter.read().bytes_rate == 2_000_000


def test_extension_records_the_figures_in_the_stats_and_logs_them(caplog) -> None:
    crawler = project_crawler(ENVISION_PROGRESS_INTERVAL=5)
    crawler.stats.set_value("envision/search/total", 12)
    crawler.stats.set_value("item_scraped_count", 12)
    extension = CrawlProgress(crawler)
    extension.meter = ProgressMeter(crawler)
    with caplog.at_level(logging.INFO, logger="envision_spiders.progress.extension"):
        extension.spider_closed()
    assert crawler.stats.get_value("envision/progress/expected") == 12
    assert crawler.stats.get_value("envision/progress/processed") == 12
    assert any("Progress (final): hits 12" in r.getMessage() and "processed 12/12" in r.getMessage()
               for r in caplog.records)


def test_progress_interval_zero_turns_the_extension_off() -> None:
    with pytest.raises(NotConfigured):
        CrawlProgress(project_crawler(ENVISION_PROGRESS_INTERVAL=0))


def test_live_lines_one_per_crawler_redrawn_in_place_and_erased_before_a_log_line() -> None:
    a, b = project_crawler(), project_crawler()
    a.stats.set_value("envision/search/total", 5)
    b.stats.set_value("finish_reason", "finished")
    stream = io.StringIO()
    live = LiveLines({"zenodo": a, "figshare": b}, stream)
    live.draw()
    first = stream.getvalue().splitlines()
    assert len(first) == 2 and first[0].startswith("zenodo     hits 5")
    assert first[1].startswith("figshare   finished after")
    live.draw()
    assert "\x1b[2F\x1b[J" in stream.getvalue()  # the old block is erased, not repeated below
    before = len(stream.getvalue())
    assert live.filter(logging.LogRecord("x", logging.INFO, "", 0, "msg", None, None)) is True
    assert stream.getvalue()[before:] == "\x1b[2F\x1b[J" and live.drawn == 0


def test_the_last_logged_progress_line_reads_back_as_the_figures_it_states() -> None:
    early = line(figures({"envision/search/total": 1840, "item_scraped_count": 10}, elapsed=10.0))
    late = line(figures({"envision/search/total": 1840, "envision/listing/total": 160, "item_scraped_count": 1500},
                        elapsed=100.0))
    log = (f"2026-12-05 03:00:00 [envision_spiders.progress.extension] INFO: Progress: {early}\n"
           "2026-12-05 03:00:01 [zenodo] INFO: Query ('fundus', None): 1840 hits\n"
           f"2026-12-05 03:01:30 [envision_spiders.progress.extension] INFO: Progress: {late}\n")
    read = parse_logged(log)
    assert read == {"line": late, "final": False, "processed": 1500, "expected": 2000, "eta": duration(500 / 15)}
    final = parse_logged(log + "2026-12-05 03:02:00 [x] INFO: Progress (final): hits: not reported yet; "
                               "processed 0; archives 0; waiting on politeness 0 (+0 scheduled); ETA ?\n")
    assert final is not None and final["final"] and (final["processed"], final["expected"], final["eta"]) == (0, None, "?")
    assert parse_logged("2026-12-05 [scrapy.core.engine] INFO: Spider opened\n") is None

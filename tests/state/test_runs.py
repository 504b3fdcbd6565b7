"""Spider selection, run outcomes, ``since`` and the shared state under concurrent writers."""

from __future__ import annotations

import multiprocessing
from datetime import date

import pytest
from scrapy.settings import Settings

from envision_spiders.state.db import open_state
from envision_spiders.state.runs import UnknownSpiders, outcome, select_spiders, since_for

SPIDERS = ["zenodo", "portal", "figshare", "datacite"]


def test_portal_joins_only_with_presets_or_by_name():
    settings = Settings({"ENVISION_CRAWLALL_NEEDS": {"portal": "ENVISION_PORTALS"}})
    assert select_spiders(SPIDERS, settings) == ["datacite", "figshare", "zenodo"]
    settings.set("ENVISION_PORTALS", {"mendeley": {"listing": "https://example.org"}})
    assert select_spiders(SPIDERS, settings) == ["datacite", "figshare", "portal", "zenodo"]
    assert select_spiders(SPIDERS, Settings({"ENVISION_CRAWLALL_NEEDS": {"portal": "X"}}), only=["portal"]) == ["portal"]
    assert select_spiders(SPIDERS, settings, skip=["zenodo", "portal"]) == ["datacite", "figshare"]
    with pytest.raises(UnknownSpiders, match="nope"):
        select_spiders(SPIDERS, settings, only=["nope"])


def test_outcome_and_since():
    assert outcome({"item_scraped_count": 3}, "finished") | {} == {
        "finish_reason": "finished", "items": 3, "dropped": 0, "errors": 0, "spider_exceptions": 0,
        "ok": True, "clean": True,
    }
    assert outcome({"log_count/ERROR": 2}, "finished")["clean"] is False
    assert outcome({"spider_exceptions/KeyError": 1}, "finished")["ok"] is False
    assert outcome({}, "shutdown")["ok"] is False
    run = {"started_at": "2026-03-09T03:00:05+00:00"}
    assert since_for(run, 1) == "2026-03-08"
    assert since_for(None, 1) is None
    assert since_for(None, 1, today=date(2026, 3, 9), fallback_days=7) == "2026-03-02"


def _writer(url: str, data: str, worker: int, rounds: int) -> None:
    state = open_state(url, data, timeout=30)
    for i in range(rounds):
        doi = f"10.1/shared.{i}"
        owner = (f"src{worker}", str(i))
        result = state.claim([doi, f"10.1/{worker}.{i}"], owner, [worker, owner[0], owner[1]])
        if result.canonical == owner:
            state.mark_stored(*owner, "m", doi, "now")
        else:
            state.mark_duplicate(*owner, "m", result.canonical)
        state.mark_acked("http://portal", [(owner[0], owner[1], f"h{worker}")], "now")
    state.start_run(f"run{worker}", f"src{worker}", "2026-01-01T00:00:00+00:00")
    state.finish_run(f"run{worker}", "2026-01-01T00:01:00+00:00", "finished", rounds, 0, True)
    state.close()


def test_parallel_processes_keep_the_state_consistent(tmp_path, state_url):
    data = str(tmp_path / "data")
    open_state(state_url, data).close()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(state_url, data, w, 150)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    state = open_state(state_url, data)
    for i in range(150):
        # the lowest rank (worker 0) owns every shared DOI and every DOI of the losers
        assert state.owner_of(f"10.1/shared.{i}") == ("src0", str(i))
        assert state.owner_of(f"10.1/3.{i}") == ("src0", str(i))
    assert len(state.portal_acks("http://portal")) == 600
    assert {r["spider"] for r in state.runs() if r["clean"]} == {"src0", "src1", "src2", "src3"}
    assert state.last_clean_run("src2")["run_id"] == "run2"
    state.close()


def test_each_crawler_counts_its_own_error_lines_in_one_process():
    import logging

    from scrapy import Spider
    from scrapy.utils.test import get_crawler

    from envision_spiders.state.runs import CrawlerLogCount

    crawlers, extensions = [], []
    for name in ("zenodo", "figshare"):
        crawler = get_crawler(Spider, {"LOG_LEVEL": "DEBUG"})
        crawler.spider = Spider(name=name)
        extension = CrawlerLogCount.from_crawler(crawler)
        extension.spider_opened(crawler.spider)
        crawlers.append(crawler)
        extensions.append(extension)
    zenodo, figshare = crawlers
    try:
        zenodo.spider.logger.error("lost a page")  # zenodo's own
        logging.getLogger("scrapy.core.scraper").error("Spider error", extra={"spider": zenodo.spider})
        figshare.spider.logger.warning("slow")
        logging.getLogger("envision_spiders.somewhere").error("no spider named")
    finally:
        for crawler, extension in zip(crawlers, extensions):
            extension.spider_closed(crawler.spider, "finished")
    zstats, fstats = zenodo.stats.get_stats(), figshare.stats.get_stats()
    assert zstats["log_count/ERROR"] == 2 and "log_count/WARNING" not in zstats
    assert "log_count/ERROR" not in fstats and fstats["log_count/WARNING"] == 1
    # a line that names no spider may be anyone's: it keeps every crawler open then from being clean
    assert zstats["envision/log/unattributed/ERROR"] == fstats["envision/log/unattributed/ERROR"] == 1
    assert outcome(fstats, "finished")["errors"] == 0 and outcome(fstats, "finished")["clean"] is False
    # alone in its process, a crawler counts every line, as Scrapy does
    alone = get_crawler(Spider, {"LOG_LEVEL": "DEBUG"})
    alone.spider = Spider(name="alone")
    extension = CrawlerLogCount.from_crawler(alone)
    extension.spider_opened(alone.spider)
    try:
        logging.getLogger("envision_spiders.somewhere").error("no spider named")
    finally:
        extension.spider_closed(alone.spider, "finished")
    assert alone.stats.get_value("log_count/ERROR") == 1

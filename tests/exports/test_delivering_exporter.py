"""The feed exporter's item_scraped is the feeds' one receiver of that signal: it writes the lines and settles their delivery (FeedDelivery is no receiver of its own)."""

from __future__ import annotations

from pathlib import Path

from pydispatch.dispatcher import getAllReceivers, liveReceivers
from scrapy import signals
from scrapy.extensions.corestats import CoreStats

from envision_spiders.exports.feeds import DeliveringFeedExporter
from envision_spiders.items import DatasetRecord
from tests.conftest import project_crawler


def item_scraped_receivers(crawler) -> list[type]:
    return [type(r.__self__) for r in liveReceivers(getAllReceivers(crawler.signals.sender, signals.item_scraped))]


def scrape(crawler, n: int) -> None:
    for i in range(n):
        crawler.signals.send_catch_log(signals.item_scraped, item=DatasetRecord(source="zenodo", source_id=str(i)),
                                       response=None, spider=crawler.spider)


def test_the_exporter_is_the_one_receiver_for_feeds_and_their_delivery(tmp_path: Path):
    crawler = project_crawler(ENVISION_DATA_DIR=str(tmp_path), FEEDS={str(tmp_path / "out.jsonl"): {"format": "jsonl"}})
    exporter = crawler.get_extension(DeliveringFeedExporter)
    assert exporter.delivery is not None
    # Scrapy's CoreStats keeps its own receiver (its item count is Scrapy's, not ours to take)
    assert sorted(t.__name__ for t in item_scraped_receivers(crawler)) == ["CoreStats", "DeliveringFeedExporter"]
    scrape(crawler, 5)
    assert crawler.stats.get_value("item_scraped_count") == 5  # each item once
    assert len(exporter.delivery.pending) == 5  # and each is owed its delivery mark once


def test_without_a_feed_core_stats_counts_items_as_scrapy_does(tmp_path: Path):
    crawler = project_crawler(ENVISION_DATA_DIR=str(tmp_path), FEEDS={}, ENVISION_FEEDS={})
    assert crawler.get_extension(DeliveringFeedExporter) is None
    assert item_scraped_receivers(crawler) == [CoreStats]
    scrape(crawler, 2)
    assert crawler.stats.get_value("item_scraped_count") == 2

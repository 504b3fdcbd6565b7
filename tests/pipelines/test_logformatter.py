"""The project's log formatter: dropped items named in one line, per-item DEBUG lines only when shown."""

from __future__ import annotations

import logging

import pytest
from scrapy import Spider
from scrapy.exceptions import DropItem

from envision_spiders.items import DatasetRecord
from envision_spiders.pipelines.logformatter import SCRAPER_LOGGER, RecordLogFormatter, shows_debug

RECORD = DatasetRecord(source="zenodo", source_id="7", title="t")


@pytest.fixture
def root_handler_at():
    """Replace the root logger's handlers with one at the given level (as Scrapy's LOG_LEVEL sets it)."""
    saved, level = logging.root.handlers[:], logging.root.level
    logging.root.setLevel(logging.NOTSET)

    def install(handler_level: int) -> None:
        handler = logging.NullHandler()
        handler.setLevel(handler_level)
        logging.root.handlers[:] = [handler]

    yield install
    logging.root.handlers[:] = saved
    logging.root.setLevel(level)


def test_scraped_line_is_not_made_when_no_handler_shows_debug(root_handler_at):
    root_handler_at(logging.INFO)
    assert not shows_debug(SCRAPER_LOGGER)
    assert RecordLogFormatter().scraped(RECORD, None, Spider("s")) is None


def test_scraped_line_is_kept_when_debug_is_shown(root_handler_at):
    root_handler_at(logging.DEBUG)
    result = RecordLogFormatter().scraped(RECORD, None, Spider("s"))
    assert result is not None and result["level"] == logging.DEBUG


def test_a_debug_handler_on_the_way_to_the_root_counts(root_handler_at):
    root_handler_at(logging.WARNING)
    on_the_way = logging.getLogger("scrapy.core")
    handler = logging.NullHandler()
    on_the_way.addHandler(handler)
    try:
        assert shows_debug(SCRAPER_LOGGER)
    finally:
        on_the_way.removeHandler(handler)


def test_dropped_line_names_the_record_not_the_item():
    result = RecordLogFormatter().dropped(RECORD, DropItem("no reason", log_level="INFO"), None, Spider("s"))
    assert result["msg"] % result["args"] == "Dropped zenodo:7: no reason"

"""RateMargin: every downloader slot with a delay waits ENVISION_RATE_MARGIN longer, once per slot."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from scrapy import Request
from scrapy.core.downloader import Slot
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from envision_spiders.http.margin import RateMargin


def margin(value: float = 0.05) -> tuple[RateMargin, dict[str, Slot]]:
    crawler = get_crawler(settings_dict={"ENVISION_RATE_MARGIN": value})
    crawler.stats.open_spider()
    slots: dict[str, Slot] = {}
    crawler.engine = SimpleNamespace(downloader=SimpleNamespace(slots=slots))
    return RateMargin.from_crawler(crawler), slots


def reach(extension: RateMargin, slot: str) -> None:
    extension.request_reached_downloader(request=Request("https://api.example.org/", meta={"download_slot": slot}))


def test_a_slot_with_a_delay_waits_the_margin_longer_once():
    extension, slots = margin(0.05)
    slots["nei"] = Slot(1, 1.0, 0)
    reach(extension, "nei")
    reach(extension, "nei")  # its next request: not widened again
    assert slots["nei"].delay == pytest.approx(1.05)
    assert extension.crawler.stats.get_value("envision/slots/widened") == 1


def test_a_slot_scrapy_created_again_is_widened_again_and_no_delay_stays_none():
    extension, slots = margin(0.05)
    slots["figshare:all"] = Slot(1, 1.0, 0)
    reach(extension, "figshare:all")
    slots["figshare:all"] = Slot(1, 1.0, 0)  # dropped when idle, then created anew
    reach(extension, "figshare:all")
    slots["s3.example.com:object-store"] = Slot(4, 0.0, 0)
    reach(extension, "s3.example.com:object-store")
    assert slots["figshare:all"].delay == pytest.approx(1.05)
    assert slots["s3.example.com:object-store"].delay == 0


@pytest.mark.parametrize("value", [0, -0.1])
def test_no_margin_or_a_negative_one_turns_it_off(value):
    with pytest.raises(NotConfigured):
        margin(value)

"""Spider settings are read once, by type, into a frozen config; a bad value is an error before
the crawl starts (the preflight builds the same config)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from envision_spiders.bases.spider import SpiderArgumentError, SpiderConfig, setting
from envision_spiders.spiders.nei import NeiSpider
from envision_spiders.spiders.zenodo import ZenodoSpider


@dataclass(frozen=True)
class Demo(SpiderConfig):
    size: int = setting("DEMO_SIZE")
    ratio: float = setting("DEMO_RATIO")
    on: bool = setting("DEMO_ON")
    name: str = setting("DEMO_NAME")
    kinds: tuple[str, ...] = setting("DEMO_KINDS")
    mode: str = setting("DEMO_MODE", choices=("a", "b"))


def test_fields_are_read_by_their_type_and_frozen():
    # values as `-s NAME=VALUE` gives them: strings
    settings = Settings({"DEMO_SIZE": "5", "DEMO_RATIO": "0.5", "DEMO_ON": "True", "DEMO_NAME": "x",
                         "DEMO_KINDS": "dataset,image", "DEMO_MODE": "b"})
    config = Demo.from_settings(settings)
    assert config == Demo(5, 0.5, True, "x", ("dataset", "image"), "b")
    with pytest.raises(FrozenInstanceError):
        config.size = 6  # type: ignore[misc]


def test_a_value_outside_its_choices_is_an_argument_error():
    with pytest.raises(SpiderArgumentError, match="DEMO_MODE='c': use 'a' or 'b'"):
        Demo.from_settings(Settings({"DEMO_MODE": "c", "DEMO_SIZE": 1}))


def test_preflight_and_from_crawler_share_the_validation():
    settings = {"NEI_API_URL": "http://api.test/v2", "NEI_SEARCH_OPERATOR": "or"}
    with pytest.raises(SpiderArgumentError, match="NEI_SEARCH_OPERATOR='or'"):
        NeiSpider.preflight(get_crawler(NeiSpider, settings).settings)
    with pytest.raises(SpiderArgumentError, match="NEI_SEARCH_OPERATOR='or'"):
        NeiSpider.from_crawler(get_crawler(NeiSpider, settings))


def test_config_is_read_once_in_from_crawler(monkeypatch):
    monkeypatch.delenv("ZENODO_ACCESS_TOKEN", raising=False)
    crawler = get_crawler(ZenodoSpider, {"ZENODO_API_URL": "http://api.test/api", "ZENODO_PAGE_SIZE_ANONYMOUS": 7,
                                         "ZENODO_RESULT_WINDOW": 70, "ZENODO_RESOURCE_TYPES": ["dataset"]})
    spider = ZenodoSpider.from_crawler(crawler)
    assert spider.config.resource_types == ("dataset",) and spider.page_size == 7 and spider.reachable == 70
    assert spider.token is None and spider.api_url == "http://api.test/api"

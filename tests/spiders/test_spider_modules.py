"""Every spider loads through Scrapy's SpiderLoader, and its name is its module's name."""

from __future__ import annotations

from scrapy.spiderloader import SpiderLoader
from scrapy.utils.project import get_project_settings


def test_every_spider_is_named_after_its_module():
    loader = SpiderLoader.from_settings(get_project_settings())
    names = loader.list()
    assert {"zenodo", "figshare", "nei"} <= set(names)
    for name in names:
        spider_cls = loader.load(name)
        module = spider_cls.__module__
        assert module.startswith("envision_spiders.spiders."), module
        assert module.rsplit(".", 1)[-1] == name, f"spider {name!r} lives in {module}"

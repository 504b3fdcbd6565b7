"""BudgetSlotMiddleware: a redirect hop off the repository's origin leaves its rate-budget slot
for the object store's slot, with the store's politeness, not the repository's delay."""

from __future__ import annotations

from types import SimpleNamespace

from scrapy import Request
from scrapy.utils.test import get_crawler

from envision_spiders.middlewares.slots import BudgetSlotMiddleware


def hop(url: str, came_from: str, slot: str) -> Request:
    return Request(url, meta={"download_slot": slot, "redirect_urls": [came_from]})


def middleware(settings: dict | None = None) -> BudgetSlotMiddleware:
    from envision_spiders import settings as project

    crawler = get_crawler(settings_dict={"ENVISION_OBJECT_STORE_SLOT": project.ENVISION_OBJECT_STORE_SLOT,
                                         **(settings or {})})
    crawler.stats.open_spider()
    # the downloader's per-slot settings, read when it creates a slot
    crawler.engine = SimpleNamespace(downloader=SimpleNamespace(per_slot_settings={}))
    return BudgetSlotMiddleware.from_crawler(crawler)


def test_a_hop_to_an_object_store_leaves_the_shared_slot_and_is_counted():
    mw = middleware()
    request = hop("https://s3.example.com/bucket/f?sig=1", "https://ndownloader.figshare.com/files/1", "figshare:all")
    mw.process_request(request)
    assert request.meta["download_slot"] == "s3.example.com:object-store"
    assert mw.stats.get_value("envision/slots/left_on_redirect") == 1
    # the store's own politeness: no delay (keyed by its host alone it would get the spider's DOWNLOAD_DELAY)
    slot = mw.crawler.engine.downloader.per_slot_settings["s3.example.com:object-store"]
    assert slot["delay"] == 0 and slot["concurrency"] == 4


def test_a_hop_to_another_origin_leaves_a_file_slot():
    mw = middleware()
    request = hop("https://bucket.s3.amazonaws.com/f", "https://datadryad.org/api/v2/files/1/download", "dryad:files")
    mw.process_request(request)
    assert request.meta["download_slot"] == "bucket.s3.amazonaws.com:object-store"


def test_a_users_download_slots_entry_for_an_object_store_slot_wins():
    mw = middleware()
    mw.crawler.engine.downloader.per_slot_settings["s3.example.com:object-store"] = {"delay": 0.5}
    mw.process_request(hop("https://s3.example.com/f", "https://ndownloader.figshare.com/files/1", "figshare:all"))
    assert mw.crawler.engine.downloader.per_slot_settings["s3.example.com:object-store"] == {"delay": 0.5}


def test_a_hop_within_the_origin_stays_in_the_budget():
    mw = middleware()
    request = hop("https://zenodo.org/records/1/files/a.zip", "https://zenodo.org/record/1/files/a.zip", "zenodo:files")
    mw.process_request(request)
    assert request.meta["download_slot"] == "zenodo:files"
    assert mw.stats.get_value("envision/slots/left_on_redirect") is None


def test_other_slots_keep_scrapys_behaviour():
    """A per-host slot (or a user's DOWNLOAD_SLOTS entry) is not a repository's budget."""
    mw = middleware()
    request = hop("https://storage.googleapis.com/x", "https://www.kaggle.com/api/v1/datasets/download/a/b", "www.kaggle.com")
    mw.process_request(request)
    assert request.meta["download_slot"] == "www.kaggle.com"


def test_a_first_request_is_left_alone():
    mw = middleware()
    request = Request("https://s3.example.com/f", meta={"download_slot": "figshare:all"})
    mw.process_request(request)
    assert request.meta["download_slot"] == "figshare:all"

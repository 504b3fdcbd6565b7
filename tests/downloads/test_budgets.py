"""The budget slots ``scrapy download`` adds for the stored sources: the crawl's own."""

from __future__ import annotations

from scrapy.settings import Settings

from envision_spiders import settings as project
from envision_spiders.downloads.budgets import budget_slots

SPIDERS = ["envision_spiders.spiders"]


def project_settings(**overrides) -> Settings:
    settings = Settings()
    settings.setmodule(project, priority="project")
    settings.setdict(overrides, priority="cmdline")
    return settings


def test_a_source_with_one_rate_gets_its_shared_slot_at_the_spiders_delay():
    slots = budget_slots(project_settings(), SPIDERS, ["figshare", "kaggle"])
    assert slots == {"figshare:all": {"delay": 1.0, "jitter": 0.0, "concurrency": 1},
                     "kaggle:all": {"delay": 1.0, "jitter": 0.0, "concurrency": 1}}


def test_a_source_with_a_file_rate_gets_its_file_slot_and_a_delay_given_with_s_acts_as_in_a_crawl():
    assert budget_slots(project_settings(), SPIDERS, ["dryad"])["dryad:files"]["delay"] == 36.0
    assert budget_slots(project_settings(DOWNLOAD_DELAY=0.2), SPIDERS, ["figshare"])["figshare:all"]["delay"] == 0.2


def test_sources_without_a_spider_or_a_budget_get_nothing():
    assert budget_slots(project_settings(), SPIDERS, ["bench", "datacite", "nei"]) == {}


def test_zenodo_guests_files_keep_the_pace_their_crawl_shares_with_search():
    """Zenodo's guests have no file rate of their own (their 2,000 requests an hour are shared with
    search): a download gets a file slot at the crawl's delay, not no budget at all."""
    from envision_spiders.spiders.zenodo import ZenodoSpider

    crawl = project_settings()
    ZenodoSpider.update_settings(crawl)
    assert "zenodo:files" not in crawl.getdict("DOWNLOAD_SLOTS")  # in a crawl: the search slot
    slots = budget_slots(project_settings(), SPIDERS, ["zenodo"])
    assert slots == {"zenodo:files": {"delay": round(crawl.getfloat("DOWNLOAD_DELAY"), 3), "jitter": 0, "concurrency": 1}}
    assert 3600 / slots["zenodo:files"]["delay"] <= 2000  # Zenodo's documented guest rate
    assert budget_slots(project_settings(DOWNLOAD_DELAY=0), SPIDERS, ["zenodo"]) == {}  # delays off: a local server

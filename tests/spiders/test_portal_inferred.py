"""The portal spider given a listing URL and no selectors, in real Chromium: it probes the
listing's own links, keeps the pages that are datasets' own, follows a "Next" link, and logs
the rules it inferred (``pages/listing_inference.py``)."""

from __future__ import annotations

import pytest
from parsel import Selector

from envision_spiders.items import DatasetRecord
from envision_spiders.pages.listing_inference import candidate_links, dataset_evidence, next_page
from tests.servers.portal import FakePortal

LISTING_IDS = {"10.5555/eye.fundus.1", "10.5555/eye.oct.2", "dataset.html?id=ds-octa",
               "10.5555/eye.slit.4", "10.5555/eye.angio.5"}
LISTING = """<html><body><header><a href="/login">Log in</a></header><nav><a href="/about">About</a></nav>
<ul id="datasets"><li><a class="dataset" href="/d/1">One</a></li><li><a class="dataset" href="/d/2#x">Two</a></li></ul>
<a href="/d/1">One again</a> <a href="/files/all.zip">zip</a> <a href="https://other.org/d/3">elsewhere</a>
<a href="/list?page=2">2</a> <a href="/tags/oct">oct</a> <a href="/team.html">team</a>
<div class="pager"><a href="/list?page=2" aria-label="Next page">›</a></div></body></html>"""


def test_candidate_links_leave_out_chrome_pagination_files_and_other_hosts():
    links = candidate_links(Selector(text=LISTING), "https://portal.org/list")
    assert links == [("https://portal.org/d/1", "#datasets a.dataset"), ("https://portal.org/d/2", "#datasets a.dataset"),
                     ("https://portal.org/team.html", "a")]


def test_next_page_by_rel_or_by_what_the_link_says():
    assert next_page(Selector(text=LISTING), "https://portal.org/list") == ("https://portal.org/list?page=2",
                                                                            '//a[normalize-space()="›"]')
    rel = '<html><head><link rel="next" href="?page=3"></head><body></body></html>'
    assert next_page(Selector(text=rel), "https://portal.org/list?page=2") == ("https://portal.org/list?page=3",
                                                                               "link[rel=next]")
    assert next_page(Selector(text="<a href='/x'>Previous</a>"), "https://portal.org/") is None


def test_dataset_evidence():
    def record(**kwargs):
        return DatasetRecord(source="s", source_id="i", **kwargs)

    assert dataset_evidence(record(extra={"extraction": "jsonld"})) == "jsonld"
    assert dataset_evidence(record(extra={"extraction": "meta", "doi_source": "meta"})) == "doi"
    assert dataset_evidence(record(extra={"extraction": "meta", "doi_source": "text"})) == "doi"
    listing = record(extra={"extraction": "meta", "doi_source": "text"}, related_dois=["10.1/a", "10.1/b"])
    assert dataset_evidence(listing) is None
    assert dataset_evidence(record(extra={"extraction": "meta"}, files=[{"name": "a.zip"}])) == "files"
    assert dataset_evidence(record(extra={"extraction": "meta"})) is None


@pytest.fixture
def site():
    server = FakePortal()
    server.start()
    yield server
    server.stop()


def test_a_listing_without_selectors_yields_every_dataset_once_and_nothing_else(site, crawl):
    result = crawl("portal", args={"url": f"{site.base_url}/catalogue.html"},
                   settings={"ENVISION_INSPECT_ENABLED": False}, timeout=150)
    assert result.returncode == 0, result.log
    ids = [item["source_id"] for item in result.items]
    assert sorted(ids) == sorted(LISTING_IDS)  # each once; no record for the listing, team or collections pages
    stats = result.stats
    assert stats["envision/portal/inferred_listing_pages/portal-127-0-0-1"] == 3  # "Next ›" followed twice
    assert stats["envision/portal/probe_rejected/portal-127-0-0-1"] == 2  # team.html, collections.html
    assert not [p for p in site.paths() if p.startswith(("/about", "/login", "/tag", "/index"))]
    assert "inferred rule: links='#datasets a.dataset' (5 dataset pages)" in result.log
    assert """next='//a[normalize-space()="Next ›"]'""" in result.log
    assert stats["playwright/page_count"] == stats["playwright/page_count/closed"]

"""Dataset portals without a usable API, rendered in headless Chromium (scrapy-playwright).

Start URLs, one of:

``-a url=URL``
    One dataset page (or a page whose JSON-LD ``DataCatalog``/``ItemList`` lists datasets);
    with ``-a links=SELECTOR`` a listing page, paged by ``-a next=SELECTOR`` or
    ``-a button=SELECTOR``. Records' source: ``-a source=NAME`` or ``portal-<host>``.
    Without ``links``, a page that is no dataset's own (no JSON-LD ``Dataset``, no DOI of its
    own, no file links: ``pages.listing_inference``) is read as a listing: its same-origin
    links are probed and kept only when they lead to a dataset's page, its next page (rel=next,
    a "Next" link) is read the same way, and the rules that worked are logged at the end so
    they can be pinned as a preset. Explicit selectors win.
``-a portal=NAME``
    A preset of ``ENVISION_PORTALS`` (see ``envision_spiders.pages.portal_presets``).
neither
    Every preset of ``ENVISION_PORTALS`` (what ``crawlall`` and the schedule run).

Only the page requests go to the browser (``meta["playwright"]``); robots.txt (obeyed) is
plain HTTP. Each portal has its own download slot with its preset's ``delay``. Pages are
closed by scrapy-playwright after rendering, also on errors (``playwright_include_page`` is
never set). Images, fonts and media are not fetched. Records come from
``PortalDatasetPage`` (JSON-LD, then meta tags, text DOIs, file links).

A browser that cannot start (``PLAYWRIGHT_CHROMIUM_PATH``) closes the spider at once with
the reason ``browser_missing`` and an error naming the setting.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import Response
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from envision_spiders.bases.spider import EnvisionSpider, SpiderArgumentError
from envision_spiders.http.browser import (
    apply_playwright_settings,
    click_through,
    fence_browser,
    launch_problem,
    page_method,
    wait_for,
)
from envision_spiders.pages.listing_inference import candidate_links, dataset_evidence, next_page
from envision_spiders.pages.portal import PortalDatasetPage, PortalListingPage
from envision_spiders.pages.portal_presets import URL_ARGUMENTS, PortalPreset, PresetError, select_presets


@dataclass
class InferredRules:
    """Per preset: how often each link rule led to a dataset page, and the next-page rule."""

    link_rules: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    next_rules: dict[str, str] = field(default_factory=dict)


class PortalSpider(EnvisionSpider):
    name = "portal"
    custom_settings = {
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": 1.0,  # portals without a preset delay (-a url=)
        "DOWNLOAD_DELAY_JITTER": 0,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.arguments = {k: kwargs.pop(k, None) for k in ("portal", *URL_ARGUMENTS)}
        super().__init__(*args, **kwargs)
        self.portals: list[PortalPreset] = []
        self.browser_problem: str | None = None
        self.wait_timeout_ms = 10_000.0  # ENVISION_PORTAL_WAIT_TIMEOUT, set in from_crawler
        self.inferred = InferredRules()

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        apply_playwright_settings(settings)

    @staticmethod
    def presets(settings: BaseSettings, arguments: dict[str, Any]) -> list[PortalPreset]:
        try:
            return select_presets(arguments, settings.getdict("ENVISION_PORTALS"),
                                  settings.getint("ENVISION_PORTAL_MAX_PAGES"))
        except PresetError as exc:
            raise SpiderArgumentError(str(exc)) from None

    @classmethod
    def preflight(cls, settings: BaseSettings, **arguments: Any) -> None:
        super().preflight(settings, **arguments)
        cls.presets(settings, arguments)
        problem = launch_problem(settings)
        if problem:
            raise SpiderArgumentError(problem)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> PortalSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.wait_timeout_ms = settings.getfloat("ENVISION_PORTAL_WAIT_TIMEOUT") * 1000
        spider.portals = cls.presets(settings, spider.arguments)
        # One download slot per portal, with its own delay (settings are not frozen yet).
        slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
        default_delay = settings.getfloat("DOWNLOAD_DELAY")
        for preset in spider.portals:
            delay = default_delay if preset.delay is None else preset.delay
            slots.setdefault(spider.slot_of(preset), {"delay": delay, "jitter": 0, "concurrency": 1 if delay else 2})
        # keep a -s DOWNLOAD_SLOTS (its entries won above) at its own priority
        priority = max(settings.getpriority("DOWNLOAD_SLOTS") or 0, SETTINGS_PRIORITIES["spider"])
        settings.set("DOWNLOAD_SLOTS", slots, priority=priority)
        # the browser reaches only these portals' origins (and their CDNs), on public addresses
        fence_browser(crawler, [url for preset in spider.portals for url in preset.browser_origins])
        crawler.signals.connect(spider._report_inferred, signal=signals.spider_closed)
        spider.browser_problem = launch_problem(settings)
        if spider.browser_problem:
            crawler.signals.connect(spider._refuse_to_start, signal=signals.spider_opened)
        return spider

    def _refuse_to_start(self) -> None:
        self.crawler.stats.set_value("envision/portal/browser_missing", 1)
        self.logger.error("%s", self.browser_problem)
        raise CloseSpider("browser_missing")

    @staticmethod
    def slot_of(preset: PortalPreset) -> str:
        return f"portal:{preset.source}"

    async def start(self) -> AsyncIterator[Any]:
        for preset in self.portals:
            listings = preset.listing_urls(self.terms)
            if self.query and preset.listing and not any("{query}" in u for u in preset.listing):
                self.logger.warning("Portal %s has no {query} in its listing URL: -a query is ignored", preset.name)
            for url in preset.dataset_urls:
                yield self.dataset_request(url, preset)
            for url in listings:
                yield self.listing_request(url, preset, page=1)

    # --- requests ---------------------------------------------------------------------
    def browser_meta(self, preset: PortalPreset, **meta: Any) -> dict[str, Any]:
        return {
            "playwright": True,
            "playwright_page_goto_kwargs": {"wait_until": preset.wait_until},
            "download_slot": self.slot_of(preset),
            "envision_portal": preset,
            **meta,
        }

    def listing_request(self, url: str, preset: PortalPreset, page: int) -> scrapy.Request:
        methods = {"links": page_method(wait_for, preset.links, self.wait_timeout_ms)}
        if preset.button:
            methods["click"] = page_method(
                click_through, preset.button, preset.links, preset.max_pages - 1, preset.button_timeout * 1000
            )
        params = {"links": preset.links, "next": preset.next, "same_origin": preset.same_origin}
        return scrapy.Request(
            url,
            callback=self.parse_listing,
            errback=self.failed,
            meta=self.browser_meta(preset, playwright_page_methods=methods, page_params=params,
                                   envision_portal_page=page),
        )

    def dataset_request(self, url: str, preset: PortalPreset, from_catalog: bool = False, probe: str | None = None,
                        inferred: int = 0) -> scrapy.Request:
        """A dataset page; ``probe``: a link of an inferred listing (the rule that selects it),
        kept only when the page shows it is a dataset's; ``inferred``: an inferred listing's page number."""
        methods = {"wait": page_method(wait_for, preset.wait_for, self.wait_timeout_ms)} if preset.wait_for else {}
        return scrapy.Request(
            url,
            callback=self.parse_dataset,
            errback=self.failed,
            meta=self.browser_meta(preset, playwright_page_methods=methods, page_params={"source": preset.source},
                                   envision_portal_from_catalog=from_catalog, envision_portal_probe=probe,
                                   envision_portal_inferred=inferred),
        )

    # --- callbacks --------------------------------------------------------------------
    async def parse_listing(self, response: Response, page: PortalListingPage) -> AsyncIterator[Any]:
        preset: PortalPreset = response.meta["envision_portal"]
        stats = self.crawler.stats
        click = response.meta["playwright_page_methods"].get("click")
        snapshots = (click.result or [None]) if click else [None]
        stats.inc_value(f"envision/portal/listing_pages/{preset.source}", len(snapshots))
        links = list(dict.fromkeys(url for html in snapshots for url in page.links_in(html)))
        if not links:
            stats.inc_value(f"envision/portal/empty_listings/{preset.source}")
            self.logger.warning("No dataset links (%s) on listing %s", preset.links, response.url)
        stats.inc_value(f"envision/portal/dataset_links/{preset.source}", len(links))
        for url in links:
            if not self.wants_more:
                return
            yield self.dataset_request(url, preset)
        next_url = page.next_url
        number = response.meta["envision_portal_page"]
        if next_url and self.wants_more:
            if number >= preset.max_pages:
                stats.inc_value(f"envision/portal/max_pages_reached/{preset.source}")
                self.logger.warning("Portal %s: stopping at max_pages=%d (%s)", preset.name, number, response.url)
            else:
                yield self.listing_request(next_url, preset, number + 1)

    async def parse_dataset(self, response: Response, page: PortalDatasetPage) -> AsyncIterator[Any]:
        preset: PortalPreset = response.meta["envision_portal"]
        stats = self.crawler.stats
        if page.unreadable_jsonld:
            stats.inc_value("envision/portal/jsonld_unreadable", page.unreadable_jsonld)
            self.logger.warning("%d unreadable JSON-LD block(s) on %s", page.unreadable_jsonld, response.url)
        catalog = page.catalog_links
        if catalog and not response.meta.get("envision_portal_from_catalog"):
            stats.inc_value(f"envision/portal/catalog_pages/{preset.source}")
            for url in catalog:
                yield self.dataset_request(url, preset, from_catalog=True)
        record = await page.to_item()
        meta = response.meta
        top_level = not (catalog or meta.get("envision_portal_from_catalog") or meta.get("envision_portal_probe"))
        if meta.get("envision_portal_inferred") or (top_level and dataset_evidence(record) is None):
            for request in self.inferred_listing(response, page, preset, meta.get("envision_portal_inferred") or 1):
                yield request
            return
        if meta.get("envision_portal_probe") is not None:
            if dataset_evidence(record) is None:
                stats.inc_value(f"envision/portal/probe_rejected/{preset.source}")
                self.logger.debug("Portal %s: %s is not a dataset page", preset.name, response.url)
                return
            self.inferred.link_rules[preset.name][meta["envision_portal_probe"]] += 1
        if not page.has_record:
            if not catalog:
                stats.inc_value(f"envision/portal/no_record/{preset.source}")
                self.logger.warning("Nothing to record on %s", response.url)
            return
        stats.inc_value(f"envision/portal/records/{preset.source}/{record.extra['extraction']}")
        if self.since and (record.modified or record.publication_date or "9999")[:10] < self.since.isoformat():
            stats.inc_value(f"envision/portal/older_than_since/{preset.source}")
            return
        for item in self.take([record]):
            yield item

    def inferred_listing(self, response: Response, page: PortalDatasetPage, preset: PortalPreset,
                         number: int) -> list[scrapy.Request]:
        """A page given without ``links`` that is no dataset's own: its same-origin links are
        probed as dataset pages, its next page (rel=next, a "next" link) read the same way."""
        stats = self.crawler.stats
        stats.inc_value(f"envision/portal/inferred_listing_pages/{preset.source}")
        found_next = next_page(page.selector, response.url)
        links = [(url, rule) for url, rule in candidate_links(page.selector, response.url)
                 if not found_next or url != found_next[0]]
        if number == 1:
            self.logger.info("Portal %s: %s is not a dataset page: reading it as a listing (%d links to probe%s)",
                             preset.name, response.url, len(links), f", next page by {found_next[1]}" if found_next else "")
        stats.inc_value(f"envision/portal/probes/{preset.source}", len(links))
        requests = [self.dataset_request(url, preset, probe=rule) for url, rule in links]
        if found_next:
            self.inferred.next_rules[preset.name] = found_next[1]
            if number >= preset.max_pages:
                stats.inc_value(f"envision/portal/max_pages_reached/{preset.source}")
                self.logger.warning("Portal %s: stopping at max_pages=%d (%s)", preset.name, number, response.url)
            else:
                requests.append(self.dataset_request(found_next[0], preset, inferred=number + 1))
        return requests if self.wants_more else []

    def _report_inferred(self) -> None:
        """Say which rules the selector-free listings came down to, so they can be pinned as a preset."""
        for name, rules in self.inferred.link_rules.items():
            (rule, hits), *others = rules.most_common()
            nxt = self.inferred.next_rules.get(name)
            self.logger.info("Portal %s: inferred rule: links=%r (%d dataset pages%s)%s: pin it with -a links=%r%s",
                             name, rule, hits, f"; {len(others)} other rule(s)" if others else "",
                             f", next={nxt!r}" if nxt else "", rule, f" -a next={nxt!r}" if nxt else "")

    def failed(self, failure: Failure) -> None:
        """Errback: the page is already closed by scrapy-playwright (no page object is kept)."""
        request = failure.request  # type: ignore[attr-defined]
        preset: PortalPreset = request.meta["envision_portal"]
        if failure.check(IgnoreRequest) and not failure.check(HttpError):  # robots.txt: counted by Scrapy
            self.logger.info("Portal %s: skipped %s: %s", preset.name, request.url, failure.getErrorMessage())
            return
        self.crawler.stats.inc_value(f"envision/portal/failed/{preset.source}")
        self.logger.error("Portal %s: %s failed: %s", preset.name, request.url, failure.getErrorMessage())

"""The portal spider's set-up without a browser: settings preset, browser path, presets and
arguments validated up front, the requests it starts with."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from envision_spiders.bases.spider import SpiderArgumentError
from envision_spiders.http import browser
from envision_spiders.http.browser import BrowserConfig, abort_request, launch_problem
from envision_spiders.pages.portal_presets import PortalPreset, source_for_url
from envision_spiders.spiders.portal import PortalSpider
from envision_spiders.spiders.zenodo import ZenodoSpider

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
PRESET = {"listing": "https://eyes.example.org/search?q={query}", "links": "a.dataset", "next": "a.next",
          "delay": 2.5}


@pytest.fixture
def chromium(tmp_path):
    path = tmp_path / "chromium"
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def project(settings: dict | None = None) -> dict:
    """The project's settings (get_crawler alone knows only Scrapy's defaults), overridden."""
    from envision_spiders import settings as module

    return {k: getattr(module, k) for k in dir(module) if k.isupper()} | (settings or {})


def spider_for(settings: dict | None = None, **kwargs) -> PortalSpider:
    # settings stay unfrozen until the spider exists (Scrapy >= 2.11): from_crawler may set some
    crawler = Crawler(PortalSpider, project(settings))
    return crawler._create_spider(**kwargs)


def start_requests(spider: PortalSpider) -> list:
    async def collect():
        return [r async for r in spider.start()]

    return asyncio.run(collect())


def test_browser_only_for_the_portal_spider(chromium):
    settings = get_crawler(PortalSpider, settings_dict={"PLAYWRIGHT_CHROMIUM_PATH": chromium}).settings
    assert settings.getdict("DOWNLOAD_HANDLERS") == {"http": HANDLER, "https": HANDLER}
    assert settings.getbool("ROBOTSTXT_OBEY")
    assert settings["PLAYWRIGHT_ABORT_REQUEST"] == "envision_spiders.http.browser.abort_request"
    options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert options["executable_path"] == chromium and options["headless"] is True
    assert "--no-sandbox" in options["args"] and "--disable-background-networking" in options["args"]
    assert "text/html" in settings.getdict("DEFAULT_REQUEST_HEADERS")["Accept"]
    api = get_crawler(ZenodoSpider).settings
    assert HANDLER not in api.getdict("DOWNLOAD_HANDLERS").values()
    assert not api.getbool("ROBOTSTXT_OBEY")


def test_browser_path_default_setting_and_bundled(monkeypatch, chromium):
    default = BrowserConfig.from_settings(get_crawler().settings)
    if os.path.exists("/usr/bin/chromium"):
        assert default.executable_path == "/usr/bin/chromium" and default.problem() is None
    assert BrowserConfig.from_settings(get_crawler(settings_dict={"PLAYWRIGHT_CHROMIUM_PATH": "playwright"})
                                       .settings).launch_options().get("executable_path") is None
    missing = BrowserConfig("/nope/chromium", configured=True).problem()
    assert "PLAYWRIGHT_CHROMIUM_PATH / env CHROMIUM_PATH = '/nope/chromium'" in missing
    assert "does not exist" in missing
    os.chmod(chromium, 0o644)
    assert "is not an executable file" in BrowserConfig(chromium, configured=True).problem()
    unset = BrowserConfig("/usr/bin/chromium-none", configured=False).problem()
    assert "PLAYWRIGHT_CHROMIUM_PATH is not set" in unset


def test_launch_problem_checks_the_effective_launch_options(chromium):
    crawler = get_crawler(PortalSpider, settings_dict={"PLAYWRIGHT_CHROMIUM_PATH": "/nope/chromium"})
    assert "'/nope/chromium'" in launch_problem(crawler.settings)
    crawler = get_crawler(PortalSpider, settings_dict={"PLAYWRIGHT_CHROMIUM_PATH": chromium})
    assert launch_problem(crawler.settings) is None


def test_without_the_browser_extra_spiders_load_and_the_portal_names_the_extra(chromium, monkeypatch):
    # sys.modules[name] = None makes `import name` fail as if the package were not installed
    code = (
        "import sys; sys.modules['scrapy_playwright'] = sys.modules['playwright'] = None\n"
        "from scrapy.spiderloader import SpiderLoader\n"
        "from scrapy.utils.project import get_project_settings\n"
        "print(sorted(SpiderLoader.from_settings(get_project_settings()).list()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "SCRAPY_SETTINGS_MODULE": "envision_spiders.settings"})
    assert proc.returncode == 0, proc.stderr
    assert "'portal'" in proc.stdout and "'zenodo'" in proc.stdout
    monkeypatch.setattr(browser, "browser_extra_installed", lambda: False)
    crawler = get_crawler(PortalSpider, settings_dict={"PLAYWRIGHT_CHROMIUM_PATH": chromium})
    assert "envision-spiders[browser]" in launch_problem(crawler.settings)


def test_abort_images_fonts_media_only():
    class Req:
        def __init__(self, kind: str) -> None:
            self.resource_type = kind

    assert [k for k in ("image", "font", "media", "document", "script", "fetch", "xhr", "stylesheet")
            if abort_request(Req(k))] == ["image", "font", "media"]


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://www.data.mendeley.com/datasets/x", "portal-data-mendeley-com"),
        ("http://127.0.0.1:8123/plain.html", "portal-127-0-0-1"),
        ("https://IEEE-DataPort.org/open-access/x", "portal-ieee-dataport-org"),
    ],
)
def test_source_for_url(url, source):
    assert source_for_url(url) == source


def test_url_argument_starts_one_dataset_page(chromium):
    spider = spider_for({"PLAYWRIGHT_CHROMIUM_PATH": chromium}, url="https://lab.example.org/ds/1")
    [request] = start_requests(spider)
    assert request.url == "https://lab.example.org/ds/1"
    assert request.meta["playwright"] is True and "playwright_include_page" not in request.meta
    assert request.meta["page_params"] == {"source": "portal-lab-example-org"}
    assert request.meta["playwright_page_goto_kwargs"] == {"wait_until": "networkidle"}
    assert request.callback == spider.parse_dataset and request.errback == spider.failed


def test_url_with_links_is_a_listing_with_its_own_source(chromium):
    spider = spider_for({"PLAYWRIGHT_CHROMIUM_PATH": chromium}, url="https://lab.example.org/all",
                        links="a.ds", button="button.more", source="eye-lab")
    [request] = start_requests(spider)
    assert request.callback == spider.parse_listing
    methods = request.meta["playwright_page_methods"]
    assert set(methods) == {"links", "click"}
    assert methods["click"].args[:2] == ("button.more", "a.ds")
    assert request.meta["page_params"]["links"] == "a.ds"
    assert spider.portals[0].source == "eye-lab"


def test_preset_query_placeholder_slot_and_delay(chromium):
    spider = spider_for({"PLAYWRIGHT_CHROMIUM_PATH": chromium, "ENVISION_PORTALS": {"eyes": PRESET}},
                        portal="eyes", query="fundus photography")
    [request] = start_requests(spider)
    assert request.url == "https://eyes.example.org/search?q=fundus+photography"
    assert request.meta["download_slot"] == "portal:eyes"
    assert spider.settings.getdict("DOWNLOAD_SLOTS")["portal:eyes"] == {"delay": 2.5, "jitter": 0, "concurrency": 1}


def test_without_arguments_every_preset_runs(chromium):
    presets = {"eyes": PRESET, "lab": {"listing": "https://lab.example.org/", "links": "a"}}
    spider = spider_for({"PLAYWRIGHT_CHROMIUM_PATH": chromium, "ENVISION_PORTALS": presets})
    assert [p.name for p in spider.portals] == ["eyes", "lab"]
    assert spider.settings.getdict("DOWNLOAD_SLOTS")["portal:lab"]["delay"] == 1.0  # the spider's default
    assert len(start_requests(spider)) > 2  # one listing per shared search term, plus lab


@pytest.mark.parametrize(
    ("kwargs", "settings", "message"),
    [
        ({}, {}, "give -a url=... or configure ENVISION_PORTALS"),
        ({"portal": "nope"}, {"ENVISION_PORTALS": {"eyes": PRESET}}, "configured: ['eyes']"),
        ({"url": "ftp://x.org/a"}, {}, "is not an http(s) URL"),
        ({"url": "https://x.org", "portal": "eyes"}, {}, "not both"),
        ({"links": "a"}, {}, "go with -a url"),
        ({"url": "https://x.org", "next": "a.next"}, {}, "needs -a links"),
        ({"url": "https://x.org", "source": "Bad Name"}, {}, "must match"),
        ({"url": "https://x.org", "links": "a", "next": "a", "button": "b"}, {}, "not both"),
        ({"portal": "eyes"}, {"ENVISION_PORTALS": {"eyes": {**PRESET, "nxet": "a"}}}, "unknown keys ['nxet']"),
        ({"portal": "eyes"}, {"ENVISION_PORTALS": {"eyes": {**PRESET, "links": ""}}}, "['links']"),
        ({"portal": "eyes"}, {"ENVISION_PORTALS": {"eyes": {**PRESET, "delay": "soon"}}}, "must be numbers"),
        ({"portal": "eyes"}, {"ENVISION_PORTALS": {"eyes": {**PRESET, "wait_until": "idle"}}}, "wait_until"),
    ],
)
def test_bad_arguments_and_presets_fail_at_start(kwargs, settings, message):
    with pytest.raises(SpiderArgumentError) as info:
        spider_for(settings, **kwargs)
    assert message in str(info.value)


def test_listing_urls_without_placeholder_are_used_once():
    preset = PortalPreset.from_dict("x", {"listing": ["https://a.org/1", "https://a.org/1"], "links": "a"}, 5)
    assert preset.listing_urls(["t1", "t2"]) == ["https://a.org/1"]
    assert preset.max_pages == 5 and preset.delay is None

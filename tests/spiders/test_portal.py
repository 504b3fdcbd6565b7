"""End to end: the real ``scrapy crawl portal`` in headless Chromium against a local static
portal whose lists, pagination and JSON-LD are created by JavaScript at load time."""

from __future__ import annotations

import itertools
import json
import subprocess
import urllib.request

import pytest

from envision_spiders.schema import record_errors
from tests.servers.base import Reply
from tests.servers.portal import FakePortal

OFF = {"ENVISION_INSPECT_ENABLED": False}  # archive inspection has its own tests
LISTING_IDS = {"10.5555/eye.fundus.1", "10.5555/eye.oct.2", "dataset.html?id=ds-octa",
               "10.5555/eye.slit.4", "10.5555/eye.angio.5"}
BROWSE_IDS = {"10.5555/eye.b1", "10.5555/eye.b2", "10.5555/eye.b3", "10.5555/eye.b4"}
DELAY = 0.4


@pytest.fixture
def site():
    server = FakePortal()
    server.start()
    yield server
    server.stop()


def presets(site: FakePortal) -> dict:
    return {
        "eyes": {"listing": f"{site.base_url}/listing.html", "links": "a.dataset", "next": "a[rel=next]",
                 "source": "eye-portal"},
        "collb": {"listing": f"{site.base_url}/browse.html", "links": "//ul[@id='datasets']//a",
                  "button": "#next-page", "delay": DELAY},
    }


def test_plain_http_sees_no_datasets(site):
    """What makes the browser necessary: the served HTML holds no links, no paging, no JSON-LD."""
    listing = urllib.request.urlopen(f"{site.base_url}/listing.html").read().decode()
    dataset = urllib.request.urlopen(f"{site.base_url}/dataset.html?id=ds-fundus").read().decode()
    assert "dataset.html?id=" not in listing and 'rel="next"' not in listing
    assert "10.5555" not in dataset and "fundus_images.zip" not in dataset


def test_every_preset_crawled_in_chromium_with_files_robots_delay_and_closed_pages(site, crawl):
    result = crawl("portal", settings={"ENVISION_PORTALS": json.dumps(presets(site)), **OFF}, timeout=150)
    assert result.returncode == 0, result.log
    stats = result.stats
    by_source: dict[str, set[str]] = {}
    for item in result.items:
        assert record_errors(item) == [], item
        by_source.setdefault(item["source"], set()).add(item["source_id"])
    # next-link paging over 3 JS-rendered listing pages; button paging over 2 (one click)
    assert by_source == {"eye-portal": LISTING_IDS, "collb": BROWSE_IDS}
    assert stats["envision/portal/listing_pages/eye-portal"] == 3
    assert stats["envision/portal/listing_pages/collb"] == 2
    fundus = next(i for i in result.items if i["source_id"] == "10.5555/eye.fundus.1")
    assert [(f["name"], f["size"]) for f in fundus["files"]] == [
        ("fundus_images.zip", 1_200_000_000), ("labels.csv", 20480)]
    assert fundus["file_count"] == 2 and fundus["extra"]["extraction"] == "jsonld"
    assert all(i["files"] for i in result.items)
    # robots.txt is obeyed (fetched by plain HTTP), the 404 page is counted, nothing else failed
    assert stats["robotstxt/forbidden"] == 1 and "/dataset.html?id=ds-private" not in site.paths()
    assert stats["envision/portal/failed/eye-portal"] == 1 and "envision/portal/failed/collb" not in stats
    assert stats.get("log_count/ERROR", 0) == 1  # that 404
    # every page opened was closed; images and fonts were never fetched
    assert stats["playwright/page_count"] == stats["playwright/page_count/closed"] == 3 + 6 + 1 + 4  # listing, datasets (gone.html too), browse, B datasets
    assert stats["playwright/request_count/aborted"] >= 10
    assert not [p for p in site.paths() if p.startswith(("/img/", "/fonts/"))]
    # the pages asked for HTML (not the project's API Accept header)
    assert all("text/html" in c.headers.get("Accept", "") for c in site.calls if c.path.endswith(".html"))
    # collb's own delay spaced its page loads; eyes (no delay) was not slowed by it
    loads = [t for t, p in site.times if p.startswith("/browse.html") or p in {
        f"/dataset.html?id=ds-b{n}" for n in range(1, 5)}]
    gaps = [b - a for a, b in itertools.pairwise(loads)]
    assert len(loads) == 5 and min(gaps) >= DELAY * 0.9, gaps


def test_single_url_without_jsonld_falls_back_to_meta_tags_and_links(site, crawl):
    result = crawl("portal", args={"url": f"{site.base_url}/plain.html"}, settings=OFF)
    assert result.returncode == 0, result.log
    [item] = result.items
    assert record_errors(item) == []
    assert item["source"] == "portal-127-0-0-1"
    assert item["doi"] == item["source_id"] == "10.5555/eyelab.cornea.2022"
    assert item["title"] == "Corneal topography maps of keratoconus patients"
    assert item["creators"] == ["Moreau, Claire", "Ito, Ken"]
    # the download list exists only after JavaScript ran; other hosts and pages are not files
    assert [f["name"] for f in item["files"]] == [
        "topography_maps.zip", "clinical.csv", "readme.pdf", "volumes.nii.gz"]
    assert item["external_links"] == ["https://mirror.example.net/cornea/all_maps.zip"]
    assert item["extra"] == {**item["extra"], "extraction": "meta", "doi_source": "text", "files_from": "links"}
    assert result.stats["playwright/page_count"] == result.stats["playwright/page_count/closed"] == 1


def test_missing_browser_is_a_clear_error_naming_the_setting(site, crawl, tmp_path):
    missing = tmp_path / "no-chromium"
    result = crawl("portal", args={"url": f"{site.base_url}/plain.html"},
                   settings={"PLAYWRIGHT_CHROMIUM_PATH": str(missing)})
    assert "Traceback" not in result.log
    assert f"PLAYWRIGHT_CHROMIUM_PATH / env CHROMIUM_PATH = '{missing}'" in result.log
    assert "does not exist" in result.log
    # `scrapy crawl` checks before the engine starts: one line, exit status 2, nothing fetched
    assert result.returncode == 2
    assert result.stats == {} and result.items == [] and site.calls == []


def test_missing_browser_met_inside_a_crawl_closes_it_with_a_reason(site, tmp_path):
    """Where no preflight runs (crawlall, scrapyd), the spider itself refuses to start the browser."""
    from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env

    missing = tmp_path / "no-chromium"
    stats_file = tmp_path / "stats.json"
    proc = subprocess.run(
        scrapy_command("runspider", str(PROJECT_ROOT / "envision_spiders" / "spiders" / "portal.py"),
                       "-a", f"url={site.base_url}/plain.html", "-s", f"PLAYWRIGHT_CHROMIUM_PATH={missing}",
                       "-s", f"ENVISION_DATA_DIR={tmp_path / 'data'}", "-s", f"ENVISION_STATS_FILE={stats_file}",
                       "-s", "CLASSIFIER_ENABLED=False"),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120,
    )
    stats = json.loads(stats_file.read_text())
    assert stats["finish_reason"] == "browser_missing", proc.stderr[-2000:]
    assert stats["envision/portal/browser_missing"] == 1
    assert "playwright/browser_count" not in stats and site.calls == []


# --- the browser fence (docs/security.md) -------------------------------------------------


def fenced_crawl(site: FakePortal, crawl, targets: list[str], allow_origins: list[str] | None = None):
    """Crawl ``fence.html``, whose script POSTs to each of ``targets``."""
    from urllib.parse import urlencode

    preset = {"listing": f"{site.base_url}/fence.html?{urlencode({'target': targets}, doseq=True)}",
              "links": "a.dataset"}
    if allow_origins is not None:
        preset["allow_origins"] = allow_origins
    result = crawl("portal", settings={"ENVISION_PORTALS": json.dumps({"fenced": preset}), **OFF}, timeout=150)
    assert result.returncode == 0, result.log[-3000:]
    assert [i["source_id"] for i in result.items] == ["10.5555/eye.fundus.1"]
    return result


def listening(server: FakePortal) -> FakePortal:
    server.route("post", "POST", r"/.*", lambda call, match: Reply(200, b"{}"))
    return server


def test_page_script_cannot_reach_a_loopback_service(site, crawl):
    """A page script POSTing to a service on this machine (think scrapyd's addversion.json,
    another port of loopback) or to the metadata address: blocked before it leaves."""
    with listening(FakePortal()) as victim:
        result = fenced_crawl(site, crawl, [f"{victim.base_url}/addversion.json",
                                            "http://169.254.169.254/latest/meta-data/"])
    assert victim.calls == []  # although loopback is allowed for the test servers: another origin
    assert result.stats["envision/fence/browser/origin"] == 2


def test_preset_cdns_are_reached_but_never_a_private_address(site, crawl):
    with listening(FakePortal()) as cdn:
        result = fenced_crawl(site, crawl, [f"{cdn.base_url}/site.css", "http://169.254.169.254/latest/meta-data/"],
                              allow_origins=[cdn.base_url, "http://169.254.169.254"])
    assert [(c.method, c.path) for c in cdn.calls] == [("POST", "/site.css")]  # listed in allow_origins
    assert result.stats["envision/fence/browser/link_local"] == 1  # listed, but not a public address
    assert "envision/fence/browser/origin" not in result.stats


def test_chromium_inherits_no_token(monkeypatch):
    from envision_spiders.http.browser import BrowserConfig

    monkeypatch.setenv("ZENODO_ACCESS_TOKEN", "s3cr3t")
    monkeypatch.setenv("LD_PRELOAD", "/tmp/evil.so")
    env = BrowserConfig("/usr/bin/chromium", False).launch_options()["env"]
    assert "ZENODO_ACCESS_TOKEN" not in env and "LD_PRELOAD" not in env and "PATH" in env
    assert "s3cr3t" not in json.dumps(env)

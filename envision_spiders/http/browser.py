"""Headless Chromium through scrapy-playwright: the settings preset, the browser path, what
the browser may fetch (the fence), and clicking through button-paged listings.

Only requests with ``meta["playwright"] = True`` reach the browser; every other request of
a spider using this preset (robots.txt, APIs) keeps Scrapy's plain HTTP handler.

The browser runs the portal's JavaScript, so it is fenced (docs/security.md): every request
of the page — navigations, scripts, fetch/XHR, forms — goes through ``BrowserFence`` (the
``PLAYWRIGHT_ABORT_REQUEST`` predicate): http(s) only, only the portal's origins (and the
CDNs its preset lists), only public addresses (resolved here; ``ENVISION_FENCE_ALLOW`` as for
Scrapy's own requests). Chromium starts with a minimal environment: no token is inherited.

scrapy-playwright and playwright are the ``browser`` extra: they are imported only when a
browser page is built or driven, so ``scrapy list`` and the API spiders work without them, and
``launch_problem`` says how to install them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from envision_spiders.http.fence import HostAllowance, address_problem, is_address, origin, scheme_problem

logger = logging.getLogger(__name__)

PLAYWRIGHT_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
BUNDLED = "playwright"  # PLAYWRIGHT_CHROMIUM_PATH value: use Playwright's own browser build
PATH_SETTING = "PLAYWRIGHT_CHROMIUM_PATH"
# What a dataset page never needs to show its metadata: aborted before they are fetched.
ABORTED_RESOURCE_TYPES = frozenset({"image", "font", "media"})
# The only environment variables Chromium inherits (no tokens, no LD_PRELOAD, no proxies).
BROWSER_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "FONTCONFIG_PATH",
                       "FONTCONFIG_FILE")

# alltheplaces-style preset: merged into a spider's custom_settings.
PLAYWRIGHT_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_HANDLERS": {"http": PLAYWRIGHT_HANDLER, "https": PLAYWRIGHT_HANDLER},
    "PLAYWRIGHT_BROWSER_TYPE": "chromium",
    # images/fonts/media only; the spider replaces it with its BrowserFence (fence_browser)
    "PLAYWRIGHT_ABORT_REQUEST": "envision_spiders.http.browser.abort_request",
    "PLAYWRIGHT_MAX_CONTEXTS": 1,
    # a service worker's requests bypass the fence (Playwright's routing does not see them)
    "PLAYWRIGHT_CONTEXTS": {"default": {"service_workers": "block"}},
    "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4,
    "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 30_000,  # ms
    # browsers ask for HTML (the project default asks APIs for JSON)
    "DEFAULT_REQUEST_HEADERS": {
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en",
    },
}


def abort_request(request: Any) -> bool:
    """Skip images, fonts and media (also done by ``BrowserFence``)."""
    return request.resource_type in ABORTED_RESOURCE_TYPES


def browser_environment() -> dict[str, str]:
    """Chromium's environment: ``BROWSER_ENVIRONMENT`` taken from ours, nothing else."""
    env = {name: os.environ[name] for name in BROWSER_ENVIRONMENT if os.environ.get(name)}
    env.setdefault("PATH", os.defpath)
    return env


class BrowserFence:
    """``PLAYWRIGHT_ABORT_REQUEST``: True (abort) for images/fonts/media and for every request
    outside the fence — not http(s) (``scheme``), an origin that is not one of ``origins``
    (``origin``), or a host that is or resolves to a non-public address (``loopback``,
    ``private``, ``link_local``...; ``dns`` when it does not resolve), unless ``allowance``
    lets it through. Blocked requests are counted as ``envision/fence/browser/<reason>``.

    One instance per crawler (kept as it is when settings are copied)."""

    def __init__(self, origins: Iterable[str] = (), allowance: HostAllowance | None = None,
                 enabled: bool = True, crawler: Crawler | None = None) -> None:
        self.origins = frozenset(origin(url) for url in origins if scheme_problem(url) is None)
        self.allowance = allowance or HostAllowance()
        self.enabled = enabled
        self.crawler = crawler  # for its stats (which exist only once the crawl starts)
        self._verdicts: dict[str, str | None] = {}  # host -> reason or None
        self._logged: set[tuple[str, str]] = set()

    @classmethod
    def from_settings(cls, settings: BaseSettings, origins: Iterable[str] = (),
                      crawler: Crawler | None = None) -> BrowserFence:
        return cls(origins, HostAllowance.parse(settings.getlist("ENVISION_FENCE_ALLOW")),
                   settings.getbool("ENVISION_FENCE_ENABLED", True), crawler)

    def __deepcopy__(self, memo: dict[int, Any]) -> BrowserFence:
        return self

    async def __call__(self, request: Any) -> bool:
        if request.resource_type in ABORTED_RESOURCE_TYPES:
            return True
        if not self.enabled:
            return False
        reason = await self.problem(request.url)
        if reason is None:
            return False
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"envision/fence/browser/{reason}")
        where = "{}://{}:{}".format(*origin(request.url)) if reason != "scheme" else request.url[:60]
        if (where, reason) not in self._logged:
            self._logged.add((where, reason))
            logger.info("Browser fence: blocked %s request to %s (%s)", request.resource_type, where, reason)
        return True

    async def problem(self, url: str) -> str | None:
        """Why the browser may not fetch ``url`` (a stats key part), or None."""
        problem = scheme_problem(url)
        if problem:
            return problem
        scheme, host, port = origin(url)
        if (scheme, host, port) not in self.origins:
            return "origin"
        if self.allowance.allows(host):
            return None
        if host not in self._verdicts:
            verdict = await self._address_problem(host, port)
            if verdict == "dns":
                return verdict  # not cached: tried again next time
            self._verdicts[host] = verdict
        return self._verdicts[host]

    async def _address_problem(self, host: str, port: int) -> str | None:
        if is_address(host):
            addresses = [host]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                return "dns"
            addresses = [str(info[4][0]) for info in infos]
        for address in addresses:  # Chromium may use any of them
            problem = address_problem(address)
            if problem and not self.allowance.allows(host, address):
                return problem
        return None


def fence_browser(crawler: Crawler, origins: Iterable[str]) -> BrowserFence:
    """Install the browser fence for a crawl whose pages live on ``origins`` (portal listing and
    dataset URLs, the CDNs of their presets). Call before the settings are frozen."""
    fence = BrowserFence.from_settings(crawler.settings, origins, crawler)
    crawler.settings.set("PLAYWRIGHT_ABORT_REQUEST", fence, priority="spider")  # a -s value still wins
    return fence


@dataclass(frozen=True)
class BrowserConfig:
    """The browser to launch, from ``PLAYWRIGHT_CHROMIUM_PATH`` (default: env ``CHROMIUM_PATH``,
    else Debian's ``/usr/bin/chromium`` where it exists). Parsed once, in ``update_settings``."""

    executable_path: str | None  # None: Playwright's own build (PLAYWRIGHT_CHROMIUM_PATH=playwright)
    configured: bool  # the path was set explicitly (not found by looking at the defaults)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> BrowserConfig:
        value = (settings.get(PATH_SETTING) or "").strip()
        if value == BUNDLED:
            return cls(None, True)
        if value:
            return cls(value, True)
        found = next((p for p in DEFAULT_CHROMIUM_PATHS if os.path.exists(p)), DEFAULT_CHROMIUM_PATHS[0])
        return cls(found, False)

    def problem(self) -> str | None:
        """Why this browser cannot be launched, in words that name the setting; None if it can."""
        path = self.executable_path
        if path is None or (os.path.isfile(path) and os.access(path, os.X_OK)):
            return None
        where = f"{PATH_SETTING} / env CHROMIUM_PATH = {path!r}" if self.configured else (
            f"{PATH_SETTING} is not set and none of {', '.join(DEFAULT_CHROMIUM_PATHS)} exists"
        )
        state = "is not an executable file" if os.path.exists(path) else "does not exist"
        return (
            f"Chromium not found ({where}; the path {state}). Install Debian's chromium "
            f"(scripts/install.sh), or set -s {PATH_SETTING}=/path/to/chromium (or env CHROMIUM_PATH), "
            f"or {PATH_SETTING}={BUNDLED} to use a browser installed by `playwright install chromium`."
        )

    def launch_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"headless": True, "args": list(CHROMIUM_ARGS), "env": browser_environment()}
        if self.executable_path:
            options["executable_path"] = self.executable_path
        return options


def apply_playwright_settings(settings: BaseSettings, priority: str = "spider") -> None:
    """Merge the preset and the launch options into a crawler's settings (from a spider's
    ``update_settings``, before the crawl); settings given with higher priority (``-s``) win."""
    settings.setdict(PLAYWRIGHT_SETTINGS, priority=priority)
    # the preset turns http/https over to the browser; the project's other handlers (off) stay
    handlers = {**settings.getdict("DOWNLOAD_HANDLERS"), **PLAYWRIGHT_SETTINGS["DOWNLOAD_HANDLERS"]}
    settings.set("DOWNLOAD_HANDLERS", handlers, priority=priority)
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", BrowserConfig.from_settings(settings).launch_options(), priority=priority)


def browser_extra_installed() -> bool:
    return importlib.util.find_spec("scrapy_playwright") is not None


def launch_problem(settings: BaseSettings) -> str | None:
    """Why the browser of the effective ``PLAYWRIGHT_LAUNCH_OPTIONS`` cannot start (naming the
    setting or the missing extra), or None. Checked before anything is launched."""
    if not browser_extra_installed():
        return (
            "scrapy-playwright is not installed: the portal spider needs the browser extra "
            "(pip install 'envision-spiders[browser]'; scripts/install.sh installs it)"
        )
    path = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS").get("executable_path")
    configured = bool((settings.get(PATH_SETTING) or "").strip())
    return BrowserConfig(path, configured).problem()


# --- button paging ----------------------------------------------------------------------

# Signature of the listing's dataset links (CSS, or XPath when the selector starts with / or ( ):
# a click has paged when it changes.
_LINKS_SIGNATURE_JS = """
(selector) => {
  let nodes = [];
  if (/^[\\/(]/.test(selector)) {
    const found = document.evaluate(selector, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    for (let i = 0; i < found.snapshotLength; i++) nodes.push(found.snapshotItem(i));
  } else {
    nodes = Array.from(document.querySelectorAll(selector));
  }
  return nodes.map(n => (n.getAttribute && n.getAttribute('href')) || n.textContent || '').join('\\n');
}
"""


def page_method(method: Any, *args: Any, **kwargs: Any) -> Any:
    """A scrapy-playwright ``PageMethod`` (imported here, when a browser request is built)."""
    from scrapy_playwright.page import PageMethod

    return PageMethod(method, *args, **kwargs)


def is_xpath(selector: str) -> bool:
    return selector.lstrip().startswith(("/", "(", "./"))


async def click_through(page: Any, button: str, links: str, max_clicks: int, timeout_ms: float) -> list[str]:
    """A ``PageMethod`` callable: the page's HTML, then again after each click of ``button``
    that changed the dataset links (``links``), until the button is gone, disabled, hidden,
    a click changes nothing within ``timeout_ms``, or ``max_clicks`` is reached.

    Works for "next page" buttons (links replaced) and "load more" buttons (links added);
    the spider reads every snapshot, so no listing page is lost to a replacement.
    """
    from playwright.async_api import TimeoutError as PlaywrightTimeoutError

    locator = page.locator(f"xpath={button}" if is_xpath(button) else button)
    snapshots = [await page.content()]
    for _ in range(max_clicks):
        target = locator.first
        if not await target.count() or not await target.is_visible() or not await target.is_enabled():
            break
        if await target.get_attribute("aria-disabled") == "true":
            break
        before = await page.evaluate(_LINKS_SIGNATURE_JS, links)
        await target.click()
        try:
            await page.wait_for_function(
                f"([s, b]) => ({_LINKS_SIGNATURE_JS})(s) !== b", arg=[links, before], timeout=timeout_ms
            )
        except PlaywrightTimeoutError:  # the click paged nothing: the last page
            break
        snapshots.append(await page.content())
    return snapshots


async def wait_for(page: Any, selector: str, timeout_ms: float) -> bool:
    """A ``PageMethod`` callable: wait until ``selector`` (CSS or XPath) is in the DOM; False
    (not an error) when it does not appear in time, so an empty page is still read."""
    from playwright.async_api import TimeoutError as PlaywrightTimeoutError

    locator = page.locator(f"xpath={selector}" if is_xpath(selector) else selector).first
    try:
        await locator.wait_for(state="attached", timeout=timeout_ms)
    except PlaywrightTimeoutError:
        return False
    return True

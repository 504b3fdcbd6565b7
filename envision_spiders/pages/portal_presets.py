"""Portal presets for the ``portal`` spider: where a portal lists its datasets and how to page.

A preset is one entry of the ``ENVISION_PORTALS`` setting (name -> dict)::

    "mendeley": {
        "listing": "https://data.mendeley.com/research-data/?search={query}",  # or a list of URLs
        "links": "a[href*='/datasets/']",        # dataset links (CSS, or XPath starting with / or ( )
        "next": "a[rel=next]",                    # paging by a next link ...
        "button": "button.load-more",             # ... or by clicking a button (PageMethod)
        "delay": 2.0,                             # seconds between requests to the portal
        "source": "mendeley",                     # records' `source` (default: the preset name)
        "max_pages": 20,                          # listing pages followed (default ENVISION_PORTAL_MAX_PAGES)
        "wait_until": "networkidle",              # page.goto's wait_until
        "wait_for": "script[type='application/ld+json']",  # optional selector awaited on dataset pages
        "same_origin": True,                      # only follow dataset links on the listing's host
        "allow_origins": ["https://cdn.example.net"],  # other origins its pages may load from (CDNs)
    }

``{query}`` in a listing URL is replaced by each search term (``-a query`` or the shared list).
The browser fetches nothing outside the origins of ``listing``, the dataset pages given with
``-a url=`` and ``allow_origins`` (``http.browser.BrowserFence``; docs/security.md).

Validated before the crawl starts (``select_presets``, called by the spider's preflight and
``from_crawler``): a bad preset is a ``PresetError`` naming the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit


class PresetError(ValueError):
    """A portal preset or ``-a url=...`` argument that cannot be used."""

SOURCE_PATTERN = re.compile(r"^[a-z0-9_-]+$")
WAIT_UNTIL = ("load", "domcontentloaded", "networkidle", "commit")
_KEYS = {"listing", "links", "next", "button", "delay", "source", "max_pages", "wait_until", "wait_for",
         "same_origin", "button_timeout", "allow_origins"}


def source_for_url(url: str) -> str:
    """``https://www.data.example.org:8443/x`` -> ``portal-data-example-org``."""
    host = (urlsplit(url).hostname or "").lower()
    host = host.removeprefix("www.")
    slug = re.sub(r"[^a-z0-9]+", "-", host).strip("-")
    return f"portal-{slug or 'unknown'}"


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _http_url(value: Any, what: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise PresetError(f"{what}={value!r} is not an http(s) URL")
    return value


@dataclass(frozen=True)
class PortalPreset:
    name: str
    source: str
    listing: tuple[str, ...] = ()  # empty: the start URL is a dataset page
    links: str | None = None
    next: str | None = None
    button: str | None = None
    delay: float | None = None
    max_pages: int = 50
    wait_until: str = "networkidle"
    wait_for: str | None = None
    same_origin: bool = True
    button_timeout: float = 10.0  # seconds a click may take to change the listing
    dataset_urls: tuple[str, ...] = field(default=())  # -a url= without a links selector
    allow_origins: tuple[str, ...] = ()  # CDNs and other origins the browser may fetch from

    @property
    def browser_origins(self) -> tuple[str, ...]:
        """URLs whose origins the browser may reach for this portal (``BrowserFence``)."""
        return (*self.listing, *self.dataset_urls, *self.allow_origins)

    @classmethod
    def from_dict(cls, name: str, data: Any, max_pages: int) -> PortalPreset:
        where = f"ENVISION_PORTALS[{name!r}]"
        if not isinstance(data, dict):
            raise PresetError(f"{where} is not a dict")
        unknown = set(data) - _KEYS
        if unknown:
            raise PresetError(f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
        listing = data.get("listing")
        listing = [listing] if isinstance(listing, str) else listing
        if not listing or not isinstance(listing, list):
            raise PresetError(f"{where}['listing'] must be a URL or a list of URLs")
        if not isinstance(data.get("links"), str) or not data["links"].strip():
            raise PresetError(f"{where}['links'] must be a selector of the dataset links")
        return cls.build(
            name=name,
            source=data.get("source") or name,
            listing=[_http_url(u, f"{where}['listing']") for u in listing],
            links=data["links"],
            next=data.get("next"),
            button=data.get("button"),
            delay=data.get("delay"),
            max_pages=data.get("max_pages", max_pages),
            wait_until=data.get("wait_until", "networkidle"),
            wait_for=data.get("wait_for"),
            same_origin=data.get("same_origin", True),
            button_timeout=data.get("button_timeout", 10.0),
            allow_origins=[_http_url(u, f"{where}['allow_origins']") for u in _as_list(data.get("allow_origins"))],
            where=where,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        max_pages: int,
        links: str | None = None,
        next: str | None = None,
        button: str | None = None,
        source: str | None = None,
        delay: Any = None,
    ) -> PortalPreset:
        """``-a url=...``: a dataset page, or a listing page when ``-a links=SELECTOR`` is given."""
        url = _http_url(url, "url")
        if (next or button) and not links:
            raise PresetError("next/button paging needs -a links=SELECTOR (the dataset links)")
        return cls.build(
            name="url",
            source=source or source_for_url(url),
            listing=[url] if links else [],
            dataset_urls=[] if links else [url],
            links=links,
            next=next,
            button=button,
            delay=delay,
            max_pages=max_pages,
            where="spider argument",
        )

    @classmethod
    def build(cls, *, name: str, where: str, **values: Any) -> PortalPreset:
        source = values["source"]
        if not isinstance(source, str) or not SOURCE_PATTERN.match(source):
            raise PresetError(f"{where}: source={source!r} must match {SOURCE_PATTERN.pattern}")
        if values.get("next") and values.get("button"):
            raise PresetError(f"{where}: page by 'next' or by 'button', not both")
        delay = values.get("delay")
        try:
            values["delay"] = None if delay in (None, "") else float(delay)
            values["max_pages"] = int(values["max_pages"])
            values["button_timeout"] = float(values.get("button_timeout", 10.0))
        except (TypeError, ValueError):
            raise PresetError(f"{where}: delay, max_pages and button_timeout must be numbers") from None
        if values["delay"] is not None and values["delay"] < 0 or values["max_pages"] < 1:
            raise PresetError(f"{where}: delay must be >= 0 and max_pages >= 1")
        if values.get("wait_until", "networkidle") not in WAIT_UNTIL:
            raise PresetError(f"{where}: wait_until must be one of {WAIT_UNTIL}")
        for key in ("listing", "dataset_urls", "allow_origins"):
            values[key] = tuple(values.get(key) or ())
        return cls(name=name, **values)

    def listing_urls(self, terms: list[str]) -> list[str]:
        """The listing URLs, with ``{query}`` filled by each search term."""
        urls: list[str] = []
        for url in self.listing:
            if "{query}" in url:
                urls.extend(url.replace("{query}", quote_plus(term)) for term in terms)
            else:
                urls.append(url)
        return list(dict.fromkeys(urls))


URL_ARGUMENTS = ("url", "links", "next", "button", "source", "delay")


def url_arguments(arguments: dict[str, Any]) -> dict[str, Any] | None:
    """The ``-a url=...`` arguments (None without ``url``), checked against ``-a portal``."""
    if arguments.get("url") and arguments.get("portal"):
        raise PresetError("give -a url=... or -a portal=NAME, not both")
    if not arguments.get("url"):
        if any(arguments.get(k) for k in URL_ARGUMENTS) or arguments.get("delay") is not None:
            raise PresetError("links/next/button/source/delay go with -a url=...")
        return None
    return {k: arguments.get(k) for k in URL_ARGUMENTS}


def select_presets(arguments: dict[str, Any], presets: dict[str, Any], max_pages: int) -> list[PortalPreset]:
    """The presets a crawl with these spider arguments runs: ``-a url``, ``-a portal`` or all."""
    url_args = url_arguments(arguments)
    if url_args:
        return [PortalPreset.from_url(max_pages=max_pages, **url_args)]
    names = [arguments["portal"]] if arguments.get("portal") else list(presets)
    if not names:
        raise PresetError("give -a url=... or configure ENVISION_PORTALS (-a portal=NAME)")
    for name in names:
        if name not in presets:
            raise PresetError(f"portal={name!r} is not in ENVISION_PORTALS (configured: {sorted(presets) or 'none'})")
    return [PortalPreset.from_dict(name, presets[name], max_pages) for name in names]

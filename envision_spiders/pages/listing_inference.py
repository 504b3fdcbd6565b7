"""A listing page without selectors: which links may be datasets, where the next page is, and
what says a page is a dataset's own. Pure functions over a parsel ``Selector``.

* ``dataset_evidence(record)``: why a rendered page is a dataset's own page (``jsonld``: a
  schema.org ``Dataset`` naming it; ``doi``: a DOI in its meta tags, or the only DOI in its
  text; ``files``: downloadable file links), or None (a listing, an "About" or login page, a
  tag page listing several DOIs);
* ``candidate_links(selector, page_url)``: same-origin links that may lead to dataset pages,
  each with the CSS rule that selects it (``#datasets a.dataset``): not the page itself, not
  its pagination (its own path with another query, ``rel=next|prev``, links inside
  ``<nav>``/``<header>``/``<footer>``), not files, not site chrome (login, about, tags, search…);
* ``next_page(selector, page_url)``: the next listing page by ``rel=next`` or a link whose text
  or label says "next", and the selector that finds it (to pin as a preset's ``next``).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from parsel import Selector

from envision_spiders.inspection.kinds import kind_of

_CHROME = re.compile(
    r"/(?:log-?in|log-?out|sign-?in|sign-?up|register|account|users?|about|contact|help|faq|privacy|terms|"
    r"cookies?|tags?|categor(?:y|ies)|search|feeds?|rss|news|blog)(?:[/.?]|$)",
    re.IGNORECASE,
)
_PAGE_EXTENSIONS = {"", ".html", ".htm", ".php", ".asp", ".aspx", ".jsp"}
_NEXT_WORDS = {"next", "next page", "next ›", "next »", "›", "»", "next >", ">"}
_CHROME_ANCESTORS = "ancestor::nav or ancestor::header or ancestor::footer"


def dataset_evidence(record: Any) -> str | None:
    extra = record.extra or {}
    if extra.get("extraction") == "jsonld":
        return "jsonld"
    if extra.get("doi_source") in ("jsonld", "meta") or (extra.get("doi_source") == "text" and not record.related_dois):
        return "doi"
    if record.files:
        return "files"
    return None


def _absolute(href: str, page_url: str) -> str | None:
    parts = urlsplit(urljoin(page_url, href.strip()))
    return urlunsplit(parts._replace(fragment="")) if parts.scheme in ("http", "https") else None


def _rule(anchor: Selector) -> str:
    """A CSS rule for an anchor: its nearest ancestor with an id (else with a class), then ``a``
    with the anchor's first class."""
    own = (anchor.attrib.get("class") or "").split()
    target = f"a.{own[0]}" if own else "a"
    for ancestor in reversed(anchor.xpath("ancestor::*[@id or @class]")):
        if ancestor.attrib.get("id"):
            return f"#{ancestor.attrib['id']} {target}"
        classes = (ancestor.attrib.get("class") or "").split()
        if classes:
            return f"{ancestor.root.tag}.{classes[0]} {target}"
    return target


def candidate_links(selector: Selector, page_url: str) -> list[tuple[str, str]]:
    """``(url, rule)`` of each link that may lead to a dataset page, in order, without repeats."""
    here = urlsplit(page_url)
    seen: dict[str, str] = {}
    for anchor in selector.xpath(f"//body//a[@href][not({_CHROME_ANCESTORS})][not(contains(@rel, 'next'))]"
                                 "[not(contains(@rel, 'prev'))]"):
        url = _absolute(anchor.attrib["href"], page_url)
        if url is None or url in seen:
            continue
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc.lower()) != (here.scheme, here.netloc.lower()):
            continue
        if parts.path == here.path:  # the page itself, or its own pagination / sorting
            continue
        name = unquote(posixpath.basename(parts.path))
        if posixpath.splitext(name.lower())[1] not in _PAGE_EXTENSIONS or kind_of(name) != "other":
            continue  # a file, not a page
        if _CHROME.search(parts.path):
            continue
        seen[url] = _rule(anchor)
    return list(seen.items())


def next_page(selector: Selector, page_url: str) -> tuple[str, str] | None:
    """``(url, selector)`` of the next listing page, or None."""
    for query in ("//link[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]",
                  "//a[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]"):
        for node in selector.xpath(query):
            url = _absolute(node.attrib.get("href") or "", page_url)
            if url and url != page_url:
                return url, "a[rel=next]" if query.startswith("//a") else "link[rel=next]"
    for anchor in selector.xpath("//a[@href]"):
        text = " ".join(" ".join(anchor.xpath(".//text()").getall()).split())
        label = (anchor.attrib.get("aria-label") or "").strip()
        if text.lower() in _NEXT_WORDS or label.lower().startswith("next"):
            url = _absolute(anchor.attrib["href"], page_url)
            if url and url != page_url:
                how = (f'//a[normalize-space()="{text}"]' if text.lower() in _NEXT_WORDS
                       else f'//a[@aria-label="{label}"]')
                return url, how
    return None

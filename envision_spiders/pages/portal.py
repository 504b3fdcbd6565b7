"""Rendered HTML pages of dataset portals (via Playwright) -> DatasetRecord.

Fields are taken in this order of trust, each from the first that has it:
1. the page's schema.org ``Dataset`` JSON-LD (``pages.jsonld``), often injected by JavaScript;
2. meta tags: ``citation_*`` (Highwire/Google Scholar), ``dc.*``/``dcterms.*``, ``og:*``,
   ``<link rel=canonical|license>``, then ``<h1>`` and ``<title>``;
3. DOIs found in the visible text and links (the first, when nothing above gave one);
4. same-origin links to files of a known kind (``archives.kinds``) when the JSON-LD lists no
   ``distribution``; such links to other hosts (mirrors, buckets) go to ``external_links``.
``extra["extraction"]`` says which tier gave the title, ``extra["doi_source"]`` the DOI's.

``page_params`` (from ``meta["page_params"]``): ``source`` (the records' source) for
dataset pages; ``links``, ``next``, ``same_origin`` for listing pages.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import attrs
from parsel import Selector
from web_poet import PageParams, WebPage, field

from envision_spiders.doi import find_dois, normalize_doi
from envision_spiders.http.browser import is_xpath
from envision_spiders.inspection.kinds import kind_of
from envision_spiders.items import DatasetRecord, FileEntry
from envision_spiders.pages.base import RecordExtractor, html_to_text, memo, strings
from envision_spiders.pages.jsonld import (
    catalog_dataset_urls,
    dataset_facts,
    iter_nodes,
    jsonld_blocks,
    keywords_of,
    main_dataset,
    types_of,
)
from envision_spiders.pages.licenses import license_id

_PAGE_EXTENSIONS = {".html", ".htm", ".php", ".asp", ".aspx", ".jsp", ""}


def select_urls(selector: Selector, query: str, base_url: str) -> list[str]:
    """Absolute http(s) URLs selected by a CSS or XPath ``query`` (elements give their ``href``,
    attributes/text their value), fragments dropped, in order, without repeats."""
    found = selector.xpath(query) if is_xpath(query) else selector.css(query)
    urls = []
    for node in found:
        value = node.root if isinstance(node.root, str) else node.attrib.get("href")
        if not value:
            continue
        parts = urlsplit(urljoin(base_url, value.strip()))
        if parts.scheme in ("http", "https"):
            urls.append(urlunsplit(parts._replace(fragment="")))
    return list(dict.fromkeys(urls))


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def meta_tags(selector: Selector) -> dict[str, list[str]]:
    """``<meta name|property=K content=V>`` -> {k lower-cased: [V, ...]} in document order."""
    tags: dict[str, list[str]] = {}
    for meta in selector.xpath("//meta[@content]"):
        key = (meta.attrib.get("name") or meta.attrib.get("property") or "").strip().lower()
        value = meta.attrib["content"].strip()
        if key and value:
            tags.setdefault(key, []).append(value)
    return tags


def file_links(selector: Selector, base_url: str) -> tuple[list[FileEntry], list[str]]:
    """Links to files of a known kind (archives, images, volumes, tables...): same-origin ones
    as files, the URLs of those on other hosts (mirrors, cloud buckets) apart."""
    files: list[FileEntry] = []
    elsewhere: list[str] = []
    for anchor in selector.xpath("//a[@href]"):
        url = urlunsplit(urlsplit(urljoin(base_url, anchor.attrib["href"].strip()))._replace(fragment=""))
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        path_name = unquote(posixpath.basename(urlsplit(url).path))
        named = (anchor.attrib.get("download") or "").strip()
        name = named if named and kind_of(named) != "other" else path_name
        if posixpath.splitext(name.lower())[1] in _PAGE_EXTENSIONS or kind_of(name) == "other":
            continue
        if not same_origin(url, base_url):
            elsewhere.append(url)
        elif all(f["url"] != url for f in files):
            files.append(FileEntry(name=name, size=None, url=url, checksum=None, mimetype=None, access="open"))
    return files, list(dict.fromkeys(elsewhere))


@attrs.define
class PortalRecord(RecordExtractor):
    """``data``: the merged facts of one page (built by ``PortalDatasetPage.facts``)."""

    @field
    def source(self) -> str:
        return self.data["source"]

    @field
    def source_id(self) -> str:
        return self.data["source_id"]

    @field
    def doi(self) -> str | None:
        return self.data.get("doi")

    @field
    def url(self) -> str | None:
        return self.data.get("url")

    @field
    def title(self) -> str:
        return self.data.get("title", "")

    @field
    def description(self) -> str:
        return self.data.get("description", "")

    @field
    def keywords(self) -> list[str]:
        return self.data.get("keywords", [])

    @field
    def creators(self) -> list[str]:
        return self.data.get("creators", [])

    @field
    def publication_date(self) -> str | None:
        return self.data.get("publication_date")

    @field
    def modified(self) -> str | None:
        return self.data.get("modified")

    @field
    def access_type(self) -> str | None:
        return self.data.get("access_type")

    @field
    def license(self) -> str | None:
        return license_id(self.data.get("license"))

    @field
    def version(self) -> str | None:
        return self.data.get("version")

    @field
    def related_dois(self) -> list[str]:
        return self.data.get("related_dois", [])

    @field
    def external_links(self) -> list[str]:
        return self.data.get("external_links", [])

    @field
    def files(self) -> list[FileEntry]:
        return self.data.get("files", [])

    @field
    def extra(self) -> dict[str, Any]:
        return self.data.get("extra", {})


@attrs.define
class PortalDatasetPage(WebPage[DatasetRecord]):
    """A rendered dataset page. ``has_record`` is False on catalogue pages (follow
    ``catalog_links``) and on pages with nothing to say."""

    page_params: PageParams

    @memo
    def _jsonld(self) -> tuple[list[Any], int]:
        return jsonld_blocks(self.selector)

    @memo
    def _dataset(self) -> dict[str, Any] | None:
        return main_dataset(self._jsonld()[0], self.url)

    @memo
    def _meta(self) -> dict[str, list[str]]:
        return meta_tags(self.selector)

    def _first_meta(self, *names: str) -> str:
        tags = self._meta()
        return next((tags[n][0] for n in names if n in tags), "")

    @property
    def unreadable_jsonld(self) -> int:
        return self._jsonld()[1]

    @property
    def catalog_links(self) -> list[str]:
        """Dataset pages a JSON-LD ``DataCatalog``/``ItemList`` on this page lists."""
        return [] if self._dataset() else catalog_dataset_urls(self._jsonld()[0], self.url)

    @property
    def has_record(self) -> bool:
        return self._dataset() is not None or (not self.catalog_links and bool(self.facts()["title"]))

    def canonical_url(self) -> str:
        href = self.selector.xpath('//link[translate(@rel, "CANONIAL", "canonial")="canonical"]/@href').get()
        return urljoin(self.url, (href or self._first_meta("og:url") or self.url).strip())

    def _meta_facts(self) -> dict[str, Any]:
        first = self._first_meta
        tags = self._meta()
        title = first("citation_title", "dc.title", "dcterms.title", "og:title")
        title = title or " ".join(self.xpath("//h1[1]//text()").getall()) or self.xpath("//title/text()").get("")
        keywords = keywords_of(tags.get("citation_keywords", []) + tags.get("keywords", [])
                               + tags.get("dc.subject", []) + tags.get("dcterms.subject", []))
        creators = tags.get("citation_author") or tags.get("dc.creator") or tags.get("dcterms.creator") or []
        dois = [normalize_doi(v) for n in ("citation_doi", "prism.doi", "dc.identifier", "dcterms.identifier")
                for v in tags.get(n, [])]
        license_ = self.xpath('//link[@rel="license"]/@href').get() or first("dc.rights", "dcterms.license",
                                                                              "dcterms.rights")
        return {
            "title": html_to_text(title),
            "description": html_to_text(first("citation_abstract", "dc.description", "dcterms.description",
                                              "og:description", "description")),
            "keywords": keywords,
            "creators": list(dict.fromkeys(strings(creators))),
            "doi": next((d for d in dois if d), None),
            "publication_date": first("citation_publication_date", "citation_date", "dc.date", "dcterms.issued")
            or None,
            "license": license_.strip() if license_ else None,
        }

    def _text_dois(self) -> list[str]:
        text = " ".join(self.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]").getall())
        hrefs = " ".join(self.xpath('//a[contains(@href, "doi")]/@href').getall())
        return find_dois(f"{text} {hrefs}")

    @memo
    def facts(self) -> dict[str, Any]:
        """Every field, each from the most trusted tier that has it."""
        dataset = self._dataset()
        ld = dataset_facts(dataset, self.url) if dataset else {}
        meta = self._meta_facts()
        merged: dict[str, Any] = {**{k: v for k, v in meta.items() if v}, **ld}
        doi_source = "jsonld" if ld.get("doi") else "meta" if meta.get("doi") else None
        text_dois = self._text_dois()
        if not merged.get("doi") and text_dois:
            merged["doi"], doi_source = text_dois[0], "text"
        own = merged.get("doi")
        merged["related_dois"] = sorted({*merged.get("related_dois", []), *text_dois} - {own})
        linked, elsewhere = file_links(self.selector, self.url)
        if not merged.get("files"):
            merged["files"] = linked
        merged["external_links"] = elsewhere
        merged.setdefault("title", "")
        merged["url"] = merged.get("url") or self.canonical_url()
        merged["extra"] = {
            "extraction": "jsonld" if dataset else "meta",
            "doi_source": doi_source,
            "files_from": "jsonld" if ld.get("files") else "links",
            "jsonld_types": sorted({t for n in iter_nodes(self._jsonld()[0]) for t in types_of(n)}),
            "page_url": self.url,
        }
        return merged

    async def to_item(self) -> DatasetRecord:
        data = dict(self.facts())
        data["source"] = self.page_params.get("source") or "portal"
        data["source_id"] = data.get("doi") or url_id(self.canonical_url())
        return await PortalRecord(data).to_item()


def url_id(url: str) -> str:
    """A stable id from a URL: its path (and query), without the host or slashes around it."""
    parts = urlsplit(url)
    path = parts.path.strip("/") + (f"?{parts.query}" if parts.query else "")
    return path or parts.netloc.lower() or url


@attrs.define
class PortalListingPage(WebPage):
    """A rendered listing page: ``dataset_links`` and the ``next_url`` (page_params: ``links``,
    ``next``, ``same_origin``)."""

    page_params: PageParams

    def links_in(self, html: str | None = None) -> list[str]:
        """Dataset links of this page, or of another HTML snapshot of it (button paging)."""
        selector = self.selector if html is None else Selector(text=html)
        urls = select_urls(selector, self.page_params["links"], self.url)
        if self.page_params.get("same_origin", True):
            urls = [u for u in urls if same_origin(u, self.url)]
        return urls

    @property
    def next_url(self) -> str | None:
        query = self.page_params.get("next")
        if not query:
            return None
        urls = [u for u in select_urls(self.selector, query, self.url) if u != self.url]
        return urls[0] if urls else None

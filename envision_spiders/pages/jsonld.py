"""schema.org JSON-LD in HTML pages: the blocks, their nodes, and a ``Dataset`` node's facts.

Pure functions over strings and parsed JSON. Handles ``@graph``, top-level lists, nested
nodes (``DataCatalog.dataset``, ``Dataset.distribution`` -> ``DataDownload``), types given
as lists or IRIs (``http://schema.org/Dataset``, ``schema:Dataset``), and the many shapes
repositories give a value (string, list, ``PropertyValue``, ``DefinedTerm``, ``CreativeWork``).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from parsel import Selector

from envision_spiders.doi import normalize_doi
from envision_spiders.items import FileEntry
from envision_spiders.pages.base import html_to_text, parse_size, strings

_TYPE_PREFIX = re.compile(r"^(?:https?://schema\.org/|schema:)", re.IGNORECASE)
_KEYWORD_SEPARATORS = re.compile(r"[,;]")


def jsonld_blocks(html: str | Selector) -> tuple[list[Any], int]:
    """The parsed ``<script type="application/ld+json">`` blocks, and how many were unreadable."""
    selector = html if isinstance(html, Selector) else Selector(text=html or "<html></html>")
    blocks, bad = [], 0
    for raw in selector.xpath(
        '//script[translate(@type, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")'
        '="application/ld+json"]/text()'
    ).getall():
        text = raw.strip()
        if text.startswith("<!--"):  # old-style guarded scripts
            text = text.removeprefix("<!--").removesuffix("-->").strip()
        if not text:
            continue
        try:
            blocks.append(json.loads(text, strict=False))
        except ValueError:
            bad += 1
    return blocks, bad


def types_of(node: dict[str, Any]) -> set[str]:
    """``{"@type": ["schema:Dataset", "http://schema.org/Thing"]}`` -> ``{"Dataset", "Thing"}``."""
    return {_TYPE_PREFIX.sub("", t) for t in strings(node.get("@type"))}


def iter_nodes(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every dict node in a JSON-LD value, depth-first in document order (``@graph`` included)."""
    if depth > 20:
        return
    if isinstance(value, list):
        for item in value:
            yield from iter_nodes(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        for key, child in value.items():
            if key != "@context" and isinstance(child, (dict, list)):
                yield from iter_nodes(child, depth + 1)


def find_datasets(blocks: list[Any]) -> list[dict[str, Any]]:
    return [n for n in iter_nodes(blocks) if "Dataset" in types_of(n)]


def main_dataset(blocks: list[Any], page_url: str) -> dict[str, Any] | None:
    """The page's own ``Dataset``: the one naming this page (``url``/``@id``/``mainEntityOfPage``),
    else the first one that is not listed inside a catalogue; None on listing pages (several
    catalogue entries) and pages without one."""
    datasets = find_datasets(blocks)
    if not datasets:
        return None
    here = _plain_url(page_url)
    for node in datasets:
        named = strings(node.get("url")) + strings(node.get("@id")) + strings(_ids(node.get("mainEntityOfPage")))
        if any(_plain_url(urljoin(page_url, u)) == here for u in named):
            return node
    listed = {id(d) for n in iter_nodes(blocks) if types_of(n) & {"DataCatalog", "ItemList"} for d in _members(n)}
    unlisted = [d for d in datasets if id(d) not in listed]
    return unlisted[0] if unlisted else None


def catalog_dataset_urls(blocks: list[Any], page_url: str) -> list[str]:
    """Dataset URLs a ``DataCatalog.dataset`` or ``ItemList.itemListElement`` lists."""
    urls: list[str] = []
    for node in iter_nodes(blocks):
        if types_of(node) & {"DataCatalog", "ItemList"}:
            for member in _members(node):
                for url in strings(member.get("url")) or strings(member.get("@id")):
                    if urlsplit(urljoin(page_url, url)).scheme in ("http", "https"):
                        urls.append(urljoin(page_url, url))
    return list(dict.fromkeys(urls))


def _members(node: dict[str, Any]) -> list[dict[str, Any]]:
    members = []
    for value in _as_list(node.get("dataset")) + _as_list(node.get("itemListElement")):
        if isinstance(value, dict) and isinstance(value.get("item"), dict):  # ListItem
            value = value["item"]
        if isinstance(value, dict):
            members.append(value)
        elif isinstance(value, str):
            members.append({"url": value})
    return members


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _ids(value: Any) -> list[str]:
    return [v.get("@id") or v.get("url") or "" if isinstance(v, dict) else v for v in _as_list(value)]


def _plain_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}?{parts.query}"


# --- values ---------------------------------------------------------------------------------


def text_value(value: Any) -> str:
    """A plain string from a string, a list (first), a ``{"@value"}`` or a named node."""
    for item in _as_list(value):
        if isinstance(item, str) and item.strip():
            return item.strip()
        if isinstance(item, dict):
            found = item.get("@value") or item.get("name")
            if isinstance(found, str) and found.strip():
                return found.strip()
    return ""


def keywords_of(value: Any) -> list[str]:
    """``"a, b"`` / ``"a; b"`` / ``["a", {"@type": "DefinedTerm", "name": "b"}]`` -> ``["a", "b"]``."""
    words: list[str] = []
    for item in _as_list(value):
        if isinstance(item, dict):
            item = item.get("name") or item.get("@value")
        if isinstance(item, str):
            words.extend(w.strip() for w in _KEYWORD_SEPARATORS.split(item) if w.strip())
    return list(dict.fromkeys(words))


def people_of(value: Any) -> list[str]:
    names: list[str] = []
    for item in _as_list(value):
        if isinstance(item, str) and item.strip():
            names.append(item.strip())
        elif isinstance(item, dict):
            name = item.get("name")
            if not name and (item.get("familyName") or item.get("givenName")):
                name = ", ".join(strings([item.get("familyName"), item.get("givenName")]))
            if isinstance(name, str) and name.strip():
                names.append(name.strip())
    return list(dict.fromkeys(names))


def license_of(value: Any) -> str | None:
    """A URL or name; a ``CreativeWork`` gives its ``url``, then ``@id``, then ``name``."""
    for item in _as_list(value):
        if isinstance(item, dict):
            item = item.get("url") or item.get("@id") or item.get("name")
        if isinstance(item, str) and item.strip():
            return item.strip()
    return None


def identifier_strings(node: dict[str, Any]) -> list[str]:
    """Every identifier a Dataset gives: ``identifier`` (strings, ``PropertyValue``s), ``sameAs``,
    ``@id``, ``url``, ``doi`` (some repositories' own key)."""
    found: list[str] = []
    for key in ("identifier", "doi", "@id", "sameAs", "url"):
        for item in _as_list(node.get(key)):
            if isinstance(item, dict):
                prop = str(item.get("propertyID") or "").lower()
                value = item.get("value") or item.get("url") or item.get("@id")
                if isinstance(value, str):
                    found.append(f"doi:{value}" if prop == "doi" and not value.lower().startswith("doi") else value)
            elif isinstance(item, str):
                found.append(item)
    return found


def doi_of(node: dict[str, Any]) -> str | None:
    for value in identifier_strings(node):
        doi = normalize_doi(value)
        if doi:
            return doi
    return None


def file_name_for(name: str, url: str | None) -> str:
    """A download's file name: its ``name`` when that looks like a file, else the URL's last segment."""
    path_name = unquote(posixpath.basename(urlsplit(url).path)) if url else ""
    if name and posixpath.splitext(name)[1]:
        return name
    return path_name or name


def distribution_files(node: dict[str, Any], page_url: str, access: str) -> list[FileEntry]:
    """``distribution`` -> FileEntry list (``contentUrl``/``url``, ``encodingFormat``, ``contentSize``)."""
    files: list[FileEntry] = []
    seen: set[str] = set()
    for item in _as_list(node.get("distribution")):
        if isinstance(item, str):
            item = {"contentUrl": item}
        if not isinstance(item, dict):
            continue
        url = text_value(item.get("contentUrl")) or text_value(item.get("url"))
        url = urljoin(page_url, url) if url else None
        name = file_name_for(text_value(item.get("name")), url)
        if not name or (url and url in seen):
            continue
        if url:
            seen.add(url)
        fmt = text_value(item.get("encodingFormat") or item.get("fileFormat"))
        files.append(
            FileEntry(
                name=name,
                size=parse_size(item.get("contentSize")),
                url=url,
                checksum=None,
                mimetype=fmt if "/" in fmt else None,
                access=access if url else "link",
            )
        )
    return files


def dataset_facts(node: dict[str, Any], page_url: str) -> dict[str, Any]:
    """The DatasetRecord fields a ``Dataset`` node gives (absent/empty values left out)."""
    free = node.get("isAccessibleForFree")
    access = "restricted" if free is False or str(free).lower() == "false" else "open"
    facts: dict[str, Any] = {
        "title": html_to_text(text_value(node.get("name")) or text_value(node.get("headline"))),
        "description": html_to_text(text_value(node.get("description")) or text_value(node.get("abstract"))),
        "keywords": keywords_of(node.get("keywords")),
        "creators": people_of(node.get("creator")) or people_of(node.get("author")),
        "license": license_of(node.get("license")),
        "doi": doi_of(node),
        "url": urljoin(page_url, text_value(node.get("url"))) if text_value(node.get("url")) else None,
        "publication_date": text_value(node.get("datePublished")) or None,
        "modified": text_value(node.get("dateModified")) or None,
        "version": str(node["version"]) if isinstance(node.get("version"), (str, int, float)) else None,
        "access_type": access if free is not None else None,
        "files": distribution_files(node, page_url, access),
        "related_dois": [d for d in map(normalize_doi, strings(_ids(node.get("citation")))
                                        + strings(_ids(node.get("isBasedOn")))) if d],
    }
    return {k: v for k, v in facts.items() if v not in (None, "", [])}

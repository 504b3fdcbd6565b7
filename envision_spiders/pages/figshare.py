"""Figshare API v2: search hits, article detail (``ArticleComplete``) and file lists -> DatasetRecord."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import attrs
from web_poet import WebPage, field

from envision_spiders.doi import normalize_doi, strip_version_suffix
from envision_spiders.items import DatasetRecord, FileEntry
from envision_spiders.pages.base import (
    JsonArrayPage,
    MalformedPage,
    RecordExtractor,
    html_to_text,
    json_body,
    memo,
    strings,
)
from envision_spiders.pages.licenses import license_id

SOURCE = "figshare"
DATASET_ITEM_TYPE = 3
_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
_DOI_VERSION = re.compile(r"\.v(\d+)$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def md5_checksum(value: Any) -> str | None:
    """A Figshare md5 (bare hex, maybe ``""`` while processing) as ``md5:<hex>``."""
    return f"md5:{value.lower()}" if isinstance(value, str) and _HEX.match(value) else None


def file_entry(f: dict[str, Any], downloads_disabled: bool = False) -> FileEntry:
    """One ``PublicFile``. Link-only files point elsewhere: no size, no checksum."""
    if f.get("is_link_only"):
        return FileEntry(name=str(f.get("name") or f.get("download_url")), size=None, url=f.get("download_url"),
                         checksum=None, mimetype=None, access="link")
    size = f.get("size")
    return FileEntry(
        name=str(f["name"]),
        size=size if isinstance(size, int) and size >= 0 else None,
        url=f.get("download_url") or None,
        checksum=md5_checksum(f.get("computed_md5")) or md5_checksum(f.get("supplied_md5")),
        mimetype=f.get("mimetype") or None,
        access="restricted" if downloads_disabled else "open",
    )


def needs_file_listing(article: dict[str, Any], detail_files_cap: int) -> bool:
    """The detail lists at most ``detail_files_cap`` files: ask ``/files`` when it may hold more."""
    files = [f for f in article.get("files") or [] if isinstance(f, dict)]
    if len(files) >= detail_files_cap:
        return True
    size = article.get("size")
    listed = sum(f["size"] for f in files if isinstance(f.get("size"), int) and not f.get("is_link_only"))
    return isinstance(size, int) and size > listed


@attrs.define
class FigshareArticle(RecordExtractor):
    """An ``ArticleComplete`` (``GET /articles/{id}``); ``files`` may be replaced by the full listing."""

    source_name = SOURCE

    @field
    def kind(self) -> str:
        return "dataset" if self.data.get("defined_type") in (None, DATASET_ITEM_TYPE) else str(
            self.data.get("defined_type_name") or self.data.get("defined_type"))

    @field
    def doi(self) -> str | None:
        return normalize_doi(self.data.get("doi"))

    @field
    def version_of(self) -> str | None:
        doi = self.doi
        bare = strip_version_suffix(doi) if doi else None
        return bare if bare and bare != doi else None

    @field
    def version(self) -> str | None:
        version = self.data.get("version")
        if isinstance(version, int):
            return str(version)
        match = _DOI_VERSION.search(self.doi or "")
        return match.group(1) if match else None

    @field
    def url(self) -> str | None:
        return self.data.get("url_public_html") or self.data.get("figshare_url")

    @field
    def api_url(self) -> str | None:
        return self.data.get("url_public_api")

    @field
    def title(self) -> str:
        return (self.data.get("title") or "").strip()

    @field
    def description(self) -> str:
        return html_to_text(self.data.get("description"))

    @field
    def keywords(self) -> list[str]:
        tags = strings(self.data.get("tags")) + strings(self.data.get("keywords"))
        categories = [c.get("title") for c in self.data.get("categories") or [] if isinstance(c, dict)]
        return list(dict.fromkeys(tags + strings(categories)))

    @field
    def creators(self) -> list[str]:
        return [a["full_name"] for a in self.data.get("authors") or [] if isinstance(a, dict) and a.get("full_name")]

    @field
    def publication_date(self) -> str | None:
        timeline = self.data.get("timeline") or {}
        return self.data.get("published_date") or timeline.get("firstOnline") or timeline.get("posted")

    @field
    def modified(self) -> str | None:
        return self.data.get("modified_date")

    @field
    def access_type(self) -> str | None:
        if self.data.get("is_embargoed"):
            return "embargoed"
        if self.data.get("is_public") is False:
            return "closed"
        if self.data.get("download_disabled"):
            return "restricted"
        return "open"

    @field
    def license(self) -> str | None:
        lic = self.data.get("license")
        if not isinstance(lic, dict):
            return None
        given = [v.strip() for v in (lic.get("name"), lic.get("url")) if isinstance(v, str) and v.strip()]
        mapped = [license_id(v) for v in given]
        return next((m for m, v in zip(mapped, given) if m != v), mapped[0] if mapped else None)

    @memo
    def _related(self) -> list[str]:
        links = strings(self.data.get("references"))
        for material in self.data.get("related_materials") or []:
            if isinstance(material, dict) and isinstance(material.get("identifier"), str):
                if material.get("identifier_type", "").upper() == "DOI":
                    links.append("https://doi.org/" + material["identifier"])
                else:
                    links.append(material["identifier"])
        resource_doi = self.data.get("resource_doi")
        if resource_doi:
            links.append("https://doi.org/" + resource_doi)
        return links

    @field
    def related_dois(self) -> list[str]:
        own = {self.doi, self.version_of}
        dois = (normalize_doi(link) for link in self._related())
        return sorted({d for d in dois if d and d not in own})

    @field
    def external_links(self) -> list[str]:
        return list(dict.fromkeys(link for link in self._related() if not normalize_doi(link)))

    @field
    @memo
    def files(self) -> list[FileEntry]:
        disabled = bool(self.data.get("download_disabled"))
        return [file_entry(f, disabled) for f in self.data.get("files") or [] if isinstance(f, dict) and (
            f.get("name") or f.get("download_url"))]

    @field
    def extra(self) -> dict[str, Any]:
        mismatched = [
            f["name"] for f in self.data.get("files") or []
            if isinstance(f, dict) and md5_checksum(f.get("computed_md5")) and md5_checksum(f.get("supplied_md5"))
            and f["computed_md5"].lower() != f["supplied_md5"].lower()
        ]
        version = self.version
        return {
            "version_order": int(version) if version and version.isdigit() else 0,
            "defined_type": self.data.get("defined_type_name"),
            "categories": [c.get("title") for c in self.data.get("categories") or [] if isinstance(c, dict)],
            "is_metadata_record": bool(self.data.get("is_metadata_record")),
            "link_only_files": sum(1 for f in self.files if f.get("access") == "link"),
            "md5_mismatch": mismatched,
            "reported_size": self.data.get("size") if isinstance(self.data.get("size"), int) else None,
        }


def _hit_problem(hit: Any) -> str | None:
    if not isinstance(hit, dict):
        return "not an object"
    if not isinstance(hit.get("id"), int):
        return "no numeric id"
    return None


@attrs.define
class FigshareSearchPage(JsonArrayPage):
    """``POST {api}/articles/search``: a bare array of light ``ArticleWithProject`` hits, no total."""

    def problem(self, entry: Any) -> str | None:
        return _hit_problem(entry)


def resume_since(hits: list[dict[str, Any]], since: str | None) -> str | None:
    """The ``published_since`` that continues a search ordered by ``published_date`` ascending
    after ``hits`` (the last page read): the day before the latest hit's day, so the hits of
    that day come again whether the API's "published after the date" includes the date or not
    (repeats are left out by id). None when that is not later than ``since`` (no progress:
    a single day fills the whole paging window) or no hit has a date."""
    days = [h["published_date"][:10] for h in hits
            if isinstance(h.get("published_date"), str) and _DAY.match(h["published_date"])]
    if not days:
        return None
    try:
        resume = (date.fromisoformat(max(days)) - timedelta(days=1)).isoformat()
    except ValueError:
        return None
    return resume if since is None or resume > since else None


@attrs.define
class FigshareArticlePage(WebPage[DatasetRecord]):
    """``GET {api}/articles/{id}``: the article detail (at most 10 files listed)."""

    @memo
    def detail(self) -> dict[str, Any]:
        data = json_body(self.response)
        if _hit_problem(data) or not isinstance(data.get("files", []), list):
            raise MalformedPage(str(self.response.url), self.response.status, "not an article", self.response.body)
        return data

    async def to_item(self) -> DatasetRecord:
        return await FigshareArticle(self.detail()).to_item()


@attrs.define
class FigshareFilesPage(WebPage):
    """``GET {api}/articles/{id}/files?page=&page_size=``: a bare array of ``PublicFile``."""

    @memo
    def files(self) -> list[dict[str, Any]]:
        items = json_body(self.response, expect=list)
        if not all(isinstance(f, dict) and (f.get("name") or f.get("download_url")) for f in items):
            raise MalformedPage(str(self.response.url), self.response.status, "a file without a name",
                                self.response.body)
        return items

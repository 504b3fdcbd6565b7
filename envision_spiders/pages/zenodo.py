"""Zenodo: the legacy JSON record (``Accept: application/json``) -> DatasetRecord."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attrs
from web_poet import WebPage, field

from envision_spiders.doi import normalize_doi
from envision_spiders.items import DatasetRecord, FileEntry
from envision_spiders.pages.base import MalformedPage, RecordExtractor, html_to_text, json_body, memo, strings

SOURCE = "zenodo"


@attrs.define
class ZenodoRecord(RecordExtractor):
    """One record as found in ``hits.hits[]`` of a search or at ``/api/records/{id}``."""

    source_name = SOURCE

    @memo
    def _meta(self) -> dict[str, Any]:
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @field
    def kind(self) -> str:
        rtype = self._meta().get("resource_type") or {}
        return rtype.get("type") or "dataset"

    @field
    @memo
    def doi(self) -> str | None:
        return normalize_doi(self.data.get("doi") or self._meta().get("doi"))

    @field
    @memo
    def url(self) -> str | None:
        links = self.data.get("links") or {}
        return links.get("self_html") or links.get("html") or self.data.get("doi_url")

    @field
    def api_url(self) -> str | None:
        return (self.data.get("links") or {}).get("self")

    @field
    def title(self) -> str:
        return (self._meta().get("title") or self.data.get("title") or "").strip()

    @field
    def description(self) -> str:
        return html_to_text(self._meta().get("description"))

    @field
    def keywords(self) -> list[str]:
        return strings(self._meta().get("keywords"))

    @field
    def creators(self) -> list[str]:
        return [c["name"] for c in self._meta().get("creators") or [] if isinstance(c, dict) and c.get("name")]

    @field
    def publication_date(self) -> str | None:
        return self._meta().get("publication_date")

    @field
    def modified(self) -> str | None:
        return self.data.get("modified") or self.data.get("updated")

    @field
    @memo
    def access_type(self) -> str | None:
        return self._meta().get("access_right")

    @field
    def license(self) -> str | None:
        lic = self._meta().get("license")
        if isinstance(lic, dict):
            lic = lic.get("id")
        return lic.lower() if isinstance(lic, str) and lic else None

    @field
    def version(self) -> str | None:
        version = self._meta().get("version")
        return str(version) if version else None

    @field
    @memo
    def version_of(self) -> str | None:
        return normalize_doi(self.data.get("conceptdoi") or self._meta().get("conceptdoi"))

    @memo
    def _related(self) -> list[dict[str, Any]]:
        return [r for r in self._meta().get("related_identifiers") or [] if isinstance(r, dict)]

    @field
    def related_dois(self) -> list[str]:
        own = {self.doi, self.version_of}
        dois = (normalize_doi(r.get("identifier")) for r in self._related() if r.get("scheme") == "doi")
        return sorted({d for d in dois if d and d not in own})

    @field
    def external_links(self) -> list[str]:
        return [r["identifier"] for r in self._related() if r.get("scheme") == "url" and r.get("identifier")]

    @field
    @memo
    def files(self) -> list[FileEntry]:
        # Range works on the landing-page route /records/{id}/files/{key}, reportedly not on
        # the API's .../content link: prefer the former for archive inspection and downloads.
        landing = self.url if self.url and "/records/" in self.url else None
        access = "open" if self.access_type in (None, "open") else self.access_type
        entries: list[FileEntry] = []
        for f in self.data.get("files") or []:
            if not isinstance(f, dict) or not f.get("key"):
                continue
            links = f.get("links") or {}
            checksum = f.get("checksum")
            url = f"{landing}/files/{quote(f['key'])}?download=1" if landing else links.get("self")
            entries.append(
                FileEntry(
                    name=f["key"],
                    size=f.get("size") if isinstance(f.get("size"), int) else None,
                    url=url,
                    checksum=checksum.lower() if isinstance(checksum, str) and ":" in checksum else None,
                    access=access,
                )
            )
        return entries

    @field
    def extra(self) -> dict[str, Any]:
        rtype = self._meta().get("resource_type") or {}
        return {
            "concept_recid": self.data.get("conceptrecid"),
            "version_order": int(self.data["id"]) if str(self.data.get("id", "")).isdigit() else 0,
            "resource_type": rtype.get("title") or rtype.get("type"),
            "communities": [c.get("id") for c in self._meta().get("communities") or [] if isinstance(c, dict)],
        }


@attrs.define
class ZenodoSearchPage(WebPage):
    """``GET {api}/records?q=...``: ``{"hits": {"hits": [...], "total": N}, "links": {...}}``."""

    @memo
    def _hits(self) -> dict[str, Any]:
        data = json_body(self.response)
        hits = data.get("hits")
        if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
            raise MalformedPage(str(self.response.url), self.response.status, "no hits.hits list", self.response.body)
        return hits

    @property
    def total(self) -> int:
        total = self._hits().get("total")
        if isinstance(total, dict):  # OpenSearch style {"value": N}
            total = total.get("value")
        if not isinstance(total, int):
            raise MalformedPage(str(self.response.url), self.response.status, "no hits.total", self.response.body)
        return total

    async def records(self) -> tuple[list[DatasetRecord], list[str]]:
        """The page's records, and a description of each hit that could not be read."""
        records, problems = [], []
        for n, hit in enumerate(self._hits()["hits"]):
            if not isinstance(hit, dict) or hit.get("id") in (None, ""):
                problems.append(f"hit {n} has no id")
                continue
            records.append(await ZenodoRecord(hit).to_item())
        return records, problems


@attrs.define
class ZenodoRecordPage(WebPage[DatasetRecord]):
    """``GET {api}/records/{id}``: one legacy record."""

    async def to_item(self) -> DatasetRecord:
        return await ZenodoRecord(json_body(self.response)).to_item()

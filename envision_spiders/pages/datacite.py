"""DataCite: JSON:API ``/dois`` answers -> metadata-only DatasetRecords.

DataCite indexes DOIs minted by Zenodo, Figshare, Dryad, OSF...: it has no file lists or
checksums, so a record carries what the metadata says (``sizes``/``formats`` free text,
``contentUrl`` when given) and every DOI that names the same dataset (``IsVersionOf`` ->
``version_of``; ``IsIdenticalTo``, alternate DOI identifiers -> ``extra["alternate_dois"]``),
so dedup keeps the repository's own record as canonical.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import attrs
from web_poet import WebPage, field

from envision_spiders.doi import normalize_doi
from envision_spiders.items import FileEntry
from envision_spiders.pages.base import (
    MalformedPage,
    RecordExtractor,
    html_to_text,
    json_body,
    memo,
    parse_size,
    strings,
)
from envision_spiders.pages.licenses import license_id

SOURCE = "datacite"

# client-id -> the repository whose own spider has the full record (files, checksums)
CLIENT_SOURCES = {"cern.zenodo": "zenodo", "dryad.dryad": "dryad", "cos.osf": "osf"}  # cos.osf: [A]
_ACCESS_RIGHTS = {
    "info:eu-repo/semantics/openaccess": "open",
    "info:eu-repo/semantics/restrictedaccess": "restricted",
    "info:eu-repo/semantics/embargoedaccess": "embargoed",
    "info:eu-repo/semantics/closedaccess": "closed",
}
SAME_DATASET = {"isidenticalto"}
VERSION_OF = {"isversionof"}


def client_source(client_id: str | None) -> str | None:
    if not client_id:
        return None
    if client_id.startswith("figshare."):  # [A] figshare.* client ids
        return "figshare"
    return CLIENT_SOURCES.get(client_id)


@attrs.define
class DataCiteRecord(RecordExtractor):
    """One ``data[]`` entry of ``/dois`` (or ``data`` of ``/dois/{doi}``). ``api_root``: where
    ``/dois/{doi}`` lives, for ``api_url``."""

    source_name = SOURCE

    api_root: str = ""

    @memo
    def _attrs(self) -> dict[str, Any]:
        value = self.data.get("attributes")
        return value if isinstance(value, dict) else {}

    @memo
    def _related(self) -> list[dict[str, Any]]:
        return [r for r in self._attrs().get("relatedIdentifiers") or [] if isinstance(r, dict)]

    def _related_dois(self, relations: set[str]) -> list[str]:
        out = []
        for rel in self._related():
            if str(rel.get("relationType", "")).lower() in relations and str(
                rel.get("relatedIdentifierType", "")
            ).upper() == "DOI":
                doi = normalize_doi(rel.get("relatedIdentifier"))
                if doi and doi != self.doi:
                    out.append(doi)
        return sorted(set(out))

    @field
    def source_id(self) -> str:
        return self.doi or str(self.data["id"]).lower()

    @field
    def kind(self) -> str:
        general = (self._attrs().get("types") or {}).get("resourceTypeGeneral")
        return general.lower() if isinstance(general, str) and general else "dataset"

    @field
    @memo
    def doi(self) -> str | None:
        return normalize_doi(self._attrs().get("doi") or self.data.get("id"))

    @field
    def url(self) -> str | None:
        url = self._attrs().get("url")
        return url if isinstance(url, str) and url else (f"https://doi.org/{self.doi}" if self.doi else None)

    @field
    def api_url(self) -> str | None:
        return f"{self.api_root}/dois/{quote(self.doi, safe='/')}" if self.api_root and self.doi else None

    @field
    def title(self) -> str:
        titles = [t for t in self._attrs().get("titles") or [] if isinstance(t, dict) and t.get("title")]
        main = [t for t in titles if not t.get("titleType")]
        chosen = (main or titles or [{"title": ""}])[0]["title"]
        return str(chosen).strip()

    @field
    def description(self) -> str:
        descriptions = [d for d in self._attrs().get("descriptions") or [] if isinstance(d, dict)]
        abstracts = [d for d in descriptions if d.get("descriptionType") == "Abstract"]
        for desc in abstracts + descriptions:
            text = desc.get("description")
            if isinstance(text, list):  # older records: a list of strings
                text = " ".join(strings(text))
            if isinstance(text, str) and text.strip():
                return html_to_text(text)
        return ""

    @field
    def keywords(self) -> list[str]:
        subjects = [s.get("subject") for s in self._attrs().get("subjects") or [] if isinstance(s, dict)]
        return list(dict.fromkeys(strings(subjects)))

    @field
    def creators(self) -> list[str]:
        return [c["name"] for c in self._attrs().get("creators") or [] if isinstance(c, dict) and c.get("name")]

    @field
    def publication_date(self) -> str | None:
        for date in self._attrs().get("dates") or []:
            if isinstance(date, dict) and date.get("dateType") == "Issued" and date.get("date"):
                return str(date["date"])
        year = self._attrs().get("publicationYear")
        return str(year) if year else None

    @field
    def modified(self) -> str | None:
        return self._attrs().get("updated")

    @memo
    def _rights(self) -> list[dict[str, Any]]:
        return [r for r in self._attrs().get("rightsList") or [] if isinstance(r, dict)]

    @field
    def access_type(self) -> str | None:
        for rights in self._rights():
            uri = str(rights.get("rightsUri") or "").lower()
            if uri in _ACCESS_RIGHTS:
                return _ACCESS_RIGHTS[uri]
        return None

    @field
    def license(self) -> str | None:
        for rights in self._rights():
            if str(rights.get("rightsUri") or "").lower() in _ACCESS_RIGHTS:
                continue
            found = license_id(rights.get("rightsIdentifier")) or license_id(rights.get("rightsUri")) or license_id(
                rights.get("rights")
            )
            if found:
                return found
        return None

    @field
    def version(self) -> str | None:
        version = self._attrs().get("version")
        return str(version) if version not in (None, "") else None

    @field
    @memo
    def version_of(self) -> str | None:
        found = self._related_dois(VERSION_OF)
        return found[0] if found else None

    @memo
    def _alternate_dois(self) -> list[str]:
        dois = self._related_dois(SAME_DATASET) + self._related_dois(VERSION_OF)[1:]
        for ident in self._attrs().get("identifiers") or []:
            if isinstance(ident, dict) and str(ident.get("identifierType", "")).upper() == "DOI":
                doi = normalize_doi(ident.get("identifier"))
                if doi and doi != self.doi:
                    dois.append(doi)
        return sorted(set(dois))

    @field
    def related_dois(self) -> list[str]:
        own = {self.doi, self.version_of, *self._alternate_dois()}
        dois = (
            normalize_doi(r.get("relatedIdentifier"))
            for r in self._related()
            if str(r.get("relatedIdentifierType", "")).upper() == "DOI"
        )
        return sorted({d for d in dois if d and d not in own})

    @field
    def external_links(self) -> list[str]:
        return [
            r["relatedIdentifier"]
            for r in self._related()
            if str(r.get("relatedIdentifierType", "")).upper() == "URL" and r.get("relatedIdentifier")
        ]

    @field
    @memo
    def files(self) -> list[FileEntry]:
        """DataCite lists no files; a ``contentUrl`` (rare) is the one direct link it may give."""
        urls = self._attrs().get("contentUrl") or []
        entries: list[FileEntry] = []
        for url in strings(urls):
            name = posixpath.basename(unquote(urlsplit(url).path)) or url
            entries.append(FileEntry(name=name, size=None, url=url, checksum=None, access="link"))
        return entries

    @field
    def size_mb(self) -> float | None:
        sizes = [parse_size(s) for s in strings(self._attrs().get("sizes"))]
        known = [s for s in sizes if s is not None]
        return round(sum(known) / 1e6, 3) if known else None

    @field
    def extra(self) -> dict[str, Any]:
        attributes = self._attrs()
        client = ((self.data.get("relationships") or {}).get("client") or {}).get("data") or {}
        publisher = attributes.get("publisher")
        if isinstance(publisher, dict):
            publisher = publisher.get("name")
        client_id = client.get("id") if isinstance(client, dict) else None
        return {
            "alternate_dois": self._alternate_dois(),
            "client_id": client_id,
            "repository": client_source(client_id),
            "publisher": publisher,
            "resource_type": (attributes.get("types") or {}).get("resourceType"),
            "sizes": strings(attributes.get("sizes")),
            "formats": strings(attributes.get("formats")),
            "metadata_only": True,
        }


@attrs.define
class DataCiteListPage(WebPage):
    """``GET {api}/dois?...``: ``{"data": [...], "meta": {"total", ...}, "links": {"self", "next"?}}``."""

    @memo
    def _body(self) -> dict[str, Any]:
        data = json_body(self.response)
        if not isinstance(data.get("data"), list):
            raise MalformedPage(str(self.response.url), self.response.status, "no data list", self.response.body)
        return data

    def entries(self) -> tuple[list[dict[str, Any]], list[str]]:
        good, problems = [], []
        for n, entry in enumerate(self._body()["data"]):
            attributes = entry.get("attributes") if isinstance(entry, dict) else None
            if not isinstance(attributes, dict) or not normalize_doi(attributes.get("doi") or entry.get("id")):
                problems.append(f"entry {n} has no DOI")
                continue
            good.append(entry)
        return good, problems

    @property
    def next_link(self) -> str | None:
        link = (self._body().get("links") or {}).get("next")
        return link if isinstance(link, str) and link else None

    @property
    def last_link(self) -> str | None:
        return None  # DataCite has no `last` (nor `prev`)

    @property
    def total(self) -> int | None:
        total = (self._body().get("meta") or {}).get("total")
        return total if isinstance(total, int) else None

"""OSF API v2 (JSON:API): node and file listings, and a node + its file tree -> DatasetRecord.

API version 2.0 (the default) puts the total at ``links.meta.total``, 2.1+ at ``meta.total``:
both are read. File listings are per folder; the spider walks the tree and hands every
``kind == "file"`` entry to ``OsfRecord``. A node's DOI is read from its identifiers (asked
for with ``embed=identifiers``), only when one was minted (``category == "doi"``): most OSF
nodes have none, and ``doi`` is never made up from the GUID (the
``<prefix>/<guid>`` pattern is only claimed in ``extra.alternate_dois`` for dedup).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

import attrs
from web_poet import WebPage, field

from envision_spiders.doi import normalize_doi
from envision_spiders.items import FileEntry
from envision_spiders.pages.base import MalformedPage, RecordExtractor, json_body, memo, strings
from envision_spiders.pages.licenses import license_id

SOURCE = "osf"


def related_href(entry: dict[str, Any], relationship: str) -> str | None:
    """``entry.relationships.<relationship>.links.related.href`` (or the bare string form)."""
    rel = ((entry.get("relationships") or {}).get(relationship) or {}).get("links") or {}
    related = rel.get("related")
    if isinstance(related, dict):
        related = related.get("href")
    return related if isinstance(related, str) and related else None


def osf_checksum(hashes: Any) -> str | None:
    """``extra.hashes`` -> ``sha256:<hex>`` (preferred) or ``md5:<hex>``; None when both are null."""
    if not isinstance(hashes, dict):
        return None
    for algo in ("sha256", "md5"):
        value = hashes.get(algo)
        if isinstance(value, str) and value and all(c in "0123456789abcdefABCDEF" for c in value):
            return f"{algo}:{value.lower()}"
    return None


@attrs.define
class OsfRecord(RecordExtractor):
    """A node (``data[]`` of ``/nodes/``) with ``file_data``: every file (not folder) of its
    walked storage. ``licenses`` maps licence ids to ``{"name", "url"}`` (from ``/licenses/``)."""

    source_name = SOURCE

    file_data: list[dict[str, Any]] = attrs.Factory(list)
    licenses: dict[str, dict[str, Any]] = attrs.Factory(dict)
    doi_prefix: str = ""
    files_complete: bool = True

    @memo
    def _attrs(self) -> dict[str, Any]:
        value = self.data.get("attributes")
        return value if isinstance(value, dict) else {}

    @field
    def url(self) -> str | None:
        return (self.data.get("links") or {}).get("html")

    @field
    def api_url(self) -> str | None:
        return (self.data.get("links") or {}).get("self")

    @field
    def title(self) -> str:
        return str(self._attrs().get("title") or "").strip()

    @field
    def doi(self) -> str | None:
        """The minted DOI among ``embeds.identifiers`` (``category == "doi"``), else None."""
        identifiers = ((self.data.get("embeds") or {}).get("identifiers") or {}).get("data") or []
        for identifier in identifiers if isinstance(identifiers, list) else []:
            a = identifier.get("attributes") if isinstance(identifier, dict) else None
            if isinstance(a, dict) and a.get("category") == "doi" and isinstance(a.get("value"), str):
                doi = normalize_doi(a["value"])
                if doi:
                    return doi
        return None

    @field
    def description(self) -> str:
        return " ".join(str(self._attrs().get("description") or "").split())

    @field
    def keywords(self) -> list[str]:
        return strings(self._attrs().get("tags"))

    @field
    def creators(self) -> list[str]:
        """Names from ``embeds.contributors`` (present when the listing asked ``embed=contributors``)."""
        contributors = ((self.data.get("embeds") or {}).get("contributors") or {}).get("data") or []
        names = []
        for contributor in contributors:
            if not isinstance(contributor, dict) or (contributor.get("attributes") or {}).get("bibliographic") is False:
                continue
            user = ((contributor.get("embeds") or {}).get("users") or {}).get("data") or {}
            name = (user.get("attributes") or {}).get("full_name") if isinstance(user, dict) else None
            if isinstance(name, str) and name.strip():
                names.append(name.strip())
        return names

    @field
    def publication_date(self) -> str | None:
        return self._attrs().get("date_created")

    @field
    def modified(self) -> str | None:
        # an incomplete file walk is stored without a stamp, so the next crawl walks it again
        return self._attrs().get("date_modified") if self.files_complete else None

    @field
    def access_type(self) -> str | None:
        return "open" if self._attrs().get("public") else "restricted"

    @field
    def license(self) -> str | None:
        data = ((self.data.get("relationships") or {}).get("license") or {}).get("data")
        known = self.licenses.get(data.get("id")) if isinstance(data, dict) else None
        if not known:
            return None
        from_url = license_id(known.get("url"))
        return from_url if from_url and from_url != known.get("url") else license_id(known.get("name"))

    @field
    @memo
    def files(self) -> list[FileEntry]:
        entries: list[FileEntry] = []
        for f in self.file_data:
            a = f.get("attributes") if isinstance(f, dict) else None
            if not isinstance(a, dict) or a.get("kind") != "file" or not (a.get("materialized_path") or a.get("name")):
                continue
            size = a.get("size")
            entries.append(
                FileEntry(
                    name=str(a.get("materialized_path") or a["name"]).lstrip("/"),
                    size=size if isinstance(size, int) and size >= 0 else None,
                    url=(f.get("links") or {}).get("download"),
                    checksum=osf_checksum((a.get("extra") or {}).get("hashes")),
                    access="open" if self._attrs().get("public") else "restricted",
                )
            )
        return entries

    @field
    def extra(self) -> dict[str, Any]:
        a = self._attrs()
        node_license = a.get("node_license") if isinstance(a.get("node_license"), dict) else {}
        return {
            # OSF DOIs are <prefix>/<guid>: the pattern is claimed (never put in `doi`) so that
            # DataCite's record of a minted one links to this node in dedup
            "alternate_dois": [f"{self.doi_prefix}/{self.source_id}".lower()] if self.doi_prefix else [],
            "category": a.get("category"),
            "copyright_holders": strings(node_license.get("copyright_holders")),
            "fork": bool(a.get("fork")),
            "registration": bool(a.get("registration")),
            "files_complete": self.files_complete,
        }


@attrs.define
class OsfListPage(WebPage):
    """A JSON:API list: ``{"data": [...], "links": {first, last, prev, next, meta?}, "meta"?}``."""

    @memo
    def _body(self) -> dict[str, Any]:
        data = json_body(self.response)
        if not isinstance(data.get("data"), list):
            problem = "; ".join(str(e.get("detail")) for e in data.get("errors") or [] if isinstance(e, dict))
            raise MalformedPage(str(self.response.url), self.response.status, problem or "no data list",
                                self.response.body)
        return data

    def entries(self) -> tuple[list[dict[str, Any]], list[str]]:
        good, problems = [], []
        for n, entry in enumerate(self._body()["data"]):
            if not isinstance(entry, dict) or not entry.get("id") or not isinstance(entry.get("attributes"), dict):
                problems.append(f"entry {n} has no id/attributes")
                continue
            good.append(entry)
        return good, problems

    def _link(self, name: str) -> str | None:
        value = (self._body().get("links") or {}).get(name)
        if isinstance(value, dict):
            value = value.get("href")
        return value if isinstance(value, str) and value else None

    @property
    def next_link(self) -> str | None:
        return self._link("next")

    @property
    def last_link(self) -> str | None:
        return self._link("last")

    @property
    def total(self) -> int | None:
        body = self._body()
        for meta in ((body.get("links") or {}).get("meta"), body.get("meta")):  # API 2.0, then 2.1+
            if isinstance(meta, dict) and isinstance(meta.get("total"), int):
                return meta["total"]
        return None


@attrs.define
class OsfNodesPage(OsfListPage):
    """``GET {api}/nodes/?filter[...]``."""


@attrs.define
class OsfFilesPage(OsfListPage):
    """``GET {api}/nodes/{id}/files/{provider}/`` or a folder's ``relationships.files`` link."""

    def listing(self) -> tuple[list[dict[str, Any]], list[str], list[str]]:
        """The files on this page, the entries it could not read, and the absolute URLs still to
        list: each folder's own listing (listings are not recursive), then the next page."""
        entries, problems = self.entries()
        files = [e for e in entries if e["attributes"].get("kind") == "file"]
        folders = [related_href(e, "files") for e in entries if e["attributes"].get("kind") == "folder"]
        more = [urljoin(str(self.response.url), href) for href in [*folders, self.next_link] if href]
        return files, problems, more


def read_licenses(response: Any) -> tuple[dict[str, dict[str, Any]], str | None]:
    """One page of ``GET {api}/licenses/``: licence id -> attributes (name, url), and the next
    page's URL. Raises MalformedPage for anything but a 200 with a ``data`` list."""
    url, status, body = str(response.url), response.status, response.body
    try:
        data = json.loads(body)
        items = data["data"] if status == 200 else None
    except (ValueError, KeyError, TypeError):
        items = None
    if not isinstance(items, list):
        raise MalformedPage(url, status, "no licence list", body)
    found = {str(lic.get("id")): lic["attributes"] for lic in items
             if isinstance(lic, dict) and isinstance(lic.get("attributes"), dict)}
    return found, (data.get("links") or {}).get("next")

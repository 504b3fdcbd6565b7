"""Dryad API v2 (HAL+JSON): search/file listings and the dataset + its files -> DatasetRecord.

Search hits embed the full dataset metadata; the files of the latest version come from
``{_links."stash:version".href}/files``. HAL ``_links`` hrefs are paths: they are joined
with the URL of the page they came from.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urljoin

import attrs
from web_poet import WebPage, field

from envision_spiders.doi import normalize_doi
from envision_spiders.items import FileEntry
from envision_spiders.pages.base import MalformedPage, RecordExtractor, html_to_text, json_body, memo, strings
from envision_spiders.pages.licenses import license_id

SOURCE = "dryad"
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def href(obj: dict[str, Any], rel: str) -> str | None:
    """``obj["_links"][rel]["href"]`` or None."""
    link = (obj.get("_links") or {}).get(rel)
    if isinstance(link, list):  # HAL allows an array of links
        link = link[0] if link else None
    value = link.get("href") if isinstance(link, dict) else None
    return value if isinstance(value, str) and value else None


def dryad_checksum(digest: Any, digest_type: Any) -> str | None:
    """``digest`` + ``digestType`` (``sha-256``, ``md5``...) -> ``sha256:<hex>``; None when absent/odd."""
    if not isinstance(digest, str) or not _HEX.match(digest) or not isinstance(digest_type, str):
        return None
    algo = digest_type.lower().replace("-", "").replace("_", "")
    return f"{algo}:{digest.lower()}" if algo.isalnum() else None


@attrs.define
class DryadRecord(RecordExtractor):
    """A dataset (as embedded in search hits or at ``/datasets/{doi}``) plus its files
    (``stash:files`` entries of the latest version). ``base_url`` resolves the relative hrefs."""

    source_name = SOURCE

    file_data: list[dict[str, Any]] = attrs.Factory(list)
    base_url: str = "https://datadryad.org"
    files_complete: bool = True

    @field
    def source_id(self) -> str:
        return self.doi or str(self.data["identifier"])

    @field
    @memo
    def doi(self) -> str | None:
        return normalize_doi(self.data.get("identifier"))

    @field
    def url(self) -> str | None:
        return f"https://doi.org/{self.doi}" if self.doi else None

    @field
    def api_url(self) -> str | None:
        link = href(self.data, "self")
        return urljoin(self.base_url, link) if link else None

    @field
    def title(self) -> str:
        return str(self.data.get("title") or "").strip()

    @field
    def description(self) -> str:
        return html_to_text(self.data.get("abstract"))

    @field
    def keywords(self) -> list[str]:
        return strings(self.data.get("keywords"))

    @field
    def creators(self) -> list[str]:
        names = []
        authors = [a for a in self.data.get("authors") or [] if isinstance(a, dict)]
        for author in sorted(authors, key=lambda a: a.get("order") if isinstance(a.get("order"), int) else 0):
            last, first = (author.get("lastName") or "").strip(), (author.get("firstName") or "").strip()
            if last or first:
                names.append(f"{last}, {first}" if last and first else last or first)
        return names

    @field
    def publication_date(self) -> str | None:
        return self.data.get("publicationDate")

    @field
    def modified(self) -> str | None:
        # a record whose file list could not be read completely is stored without a stamp,
        # so the next crawl fetches it again instead of keeping the gap
        return self.data.get("lastModificationDate") if self.files_complete else None

    @field
    def access_type(self) -> str | None:
        status = str(self.data.get("curationStatus") or "").lower()
        if status == "embargoed":
            return "embargoed"
        visibility = self.data.get("visibility")
        if visibility in (None, "public") and status in ("", "published"):
            return "open"
        return "restricted"

    @field
    def license(self) -> str | None:
        return license_id(self.data.get("license"))

    @field
    def version(self) -> str | None:
        number = self.data.get("versionNumber")
        return str(number) if number not in (None, "") else None

    @memo
    def _related(self) -> list[dict[str, Any]]:
        return [r for r in self.data.get("relatedWorks") or [] if isinstance(r, dict)]

    @field
    def related_dois(self) -> list[str]:
        dois = (normalize_doi(r.get("identifier")) for r in self._related()
                if str(r.get("identifierType", "")).upper() == "DOI")
        return sorted({d for d in dois if d and d != self.doi})

    @field
    def external_links(self) -> list[str]:
        return [r["identifier"] for r in self._related()
                if str(r.get("identifierType", "")).upper() == "URL" and r.get("identifier")]

    @field
    @memo
    def files(self) -> list[FileEntry]:
        entries: list[FileEntry] = []
        for f in self.file_data:
            if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not f["path"]:
                continue
            download = href(f, "stash:download")
            entries.append(
                FileEntry(
                    name=f["path"],
                    size=f["size"] if isinstance(f.get("size"), int) and f["size"] >= 0 else None,
                    url=urljoin(self.base_url, download) if download else None,
                    checksum=dryad_checksum(f.get("digest"), f.get("digestType")),
                    mimetype=f.get("mimeType") if isinstance(f.get("mimeType"), str) else None,
                    # the link is there only when the file may be downloaded, with a token (401 without, since 2026)
                    access="token" if download else "restricted",
                )
            )
        return entries

    @field
    def extra(self) -> dict[str, Any]:
        number = self.data.get("versionNumber")
        return {
            "dryad_id": self.data.get("id"),
            "storage_size": self.data.get("storageSize"),
            "curation_status": self.data.get("curationStatus"),
            "field_of_science": self.data.get("fieldOfScience"),
            "version_order": number if isinstance(number, int) else 0,
            "files_complete": self.files_complete,
        }


@attrs.define
class DryadListPage(WebPage):
    """A HAL list: ``{"_links": {self, first, last, prev?, next?}, "count", "total",
    "_embedded": {"stash:datasets"|"stash:files"|...: [...]}}``. ``embedded`` names the list."""

    embedded: ClassVar[str] = "stash:datasets"

    @memo
    def _body(self) -> dict[str, Any]:
        return json_body(self.response)

    @memo
    def _items(self) -> list[Any]:
        data = self._body()
        embedded = data.get("_embedded")
        items = embedded.get(self.embedded) if isinstance(embedded, dict) else None
        if items is None and data.get("total") == 0:
            items = []  # blank fields are dropped (recursive_compact): an empty list may be missing
        if not isinstance(items, list):
            raise MalformedPage(str(self.response.url), self.response.status,
                                f"no _embedded.{self.embedded} list", self.response.body)
        return items

    def required_key(self) -> str:
        return "identifier" if self.embedded == "stash:datasets" else "path"

    def entries(self) -> tuple[list[dict[str, Any]], list[str]]:
        good, problems = [], []
        key = self.required_key()
        for n, entry in enumerate(self._items()):
            if not isinstance(entry, dict) or not entry.get(key):
                problems.append(f"entry {n} has no {key}")
                continue
            good.append(entry)
        return good, problems

    @property
    def next_link(self) -> str | None:
        return href(self._body(), "next")

    @property
    def last_link(self) -> str | None:
        return href(self._body(), "last")

    @property
    def total(self) -> int | None:
        total = self._body().get("total")
        return total if isinstance(total, int) else None


@attrs.define
class DryadSearchPage(DryadListPage):
    """``GET {api}/search?q=...``: datasets with full metadata."""

    embedded: ClassVar[str] = "stash:datasets"


@attrs.define
class DryadFilesPage(DryadListPage):
    """``GET {api}/versions/{id}/files``: the files of one version, sorted by name."""

    embedded: ClassVar[str] = "stash:files"


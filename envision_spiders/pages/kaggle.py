"""Kaggle legacy API v1: ``/datasets/list`` pages and ``/datasets/list/{owner}/{slug}`` file
listings -> DatasetRecord. Kaggle exposes no checksums; default-valued fields may be left
out and int64s may arrive as strings, so every field is read with a default. Newer list
answers carry some values under ``<name>Nullable`` keys (``titleNullable``, ``urlNullable``,
``licenseNameNullable``, ``totalBytesNullable``, ``ownerRefNullable``) with the plain key
absent or ``false``: ``nullable(data, name)`` reads either and ignores values of the wrong type."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attrs
from web_poet import WebPage, field

from envision_spiders.items import FileEntry
from envision_spiders.pages.base import JsonArrayPage, MalformedPage, RecordExtractor, json_body, memo, strings
from envision_spiders.pages.licenses import license_id

SOURCE = "kaggle"
DATASET_URL = "https://www.kaggle.com/datasets/{ref}"
NO_CHECKSUMS = "not provided by Kaggle"
# Kaggle's own licence names (licenseName) that the generic mapping does not know.
KAGGLE_LICENSES = {
    "cc0: public domain": "cc0-1.0",
    "attribution 4.0 international (cc by 4.0)": "cc-by-4.0",
    "attribution-sharealike 4.0 international (cc by-sa 4.0)": "cc-by-sa-4.0",
    "attribution-noncommercial 4.0 international (cc by-nc 4.0)": "cc-by-nc-4.0",
    "attribution-noncommercial-sharealike 4.0 international (cc by-nc-sa 4.0)": "cc-by-nc-sa-4.0",
    "database: open database, contents: database contents": "odbl-1.0",
    "database: open database, contents: © original authors": "odbl-1.0",
    "open data commons open database license (odbl) v1.0": "odbl-1.0",
    "community data license agreement - sharing - version 1.0": "cdla-sharing-1.0",
    "community data license agreement - permissive - version 1.0": "cdla-permissive-1.0",
    "gpl 2": "gpl-2.0",
    "mit": "mit",
    "apache 2.0": "apache-2.0",
    "other (specified in description)": None,
    "unknown": None,
}


def as_int(value: Any) -> int | None:
    """An int64 that may come as a JSON number or a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def nullable(data: dict[str, Any], name: str) -> Any:
    """``data[name]`` or ``data[name + "Nullable"]``: the first non-empty string or (non-bool)
    integer, else None (a plain key may be absent or ``false`` when the value moved)."""
    for key in (name, name + "Nullable"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def text(data: dict[str, Any], name: str) -> str | None:
    """A string field (plain or ``Nullable``), or None."""
    value = nullable(data, name)
    return value if isinstance(value, str) else None


def kaggle_license(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    key = " ".join(name.lower().split())
    return KAGGLE_LICENSES[key] if key in KAGGLE_LICENSES else license_id(name)


def file_download_url(download_base: str, ref: str, name: str) -> str:
    """``GET {api}/datasets/download/{owner}/{slug}/{fileName}`` (302 to a signed GCS URL).
    Each path parameter is encoded with ``safe=""`` as the official client does: a file in a
    folder is one segment (``train%2FCNV%2Fx.jpeg``)."""
    owner, slug = ref.split("/", 1)
    return f"{download_base}/datasets/download/{quote(owner, safe='')}/{quote(slug, safe='')}/{quote(name, safe='')}"


@attrs.define
class KaggleDataset(RecordExtractor):
    """An ``ApiDataset`` from the list, with its ``ApiDatasetFile``s (``dataset_files``)."""

    source_name = SOURCE
    id_key = "ref"

    dataset_files: list[dict[str, Any]] = attrs.Factory(list)
    download_base: str = "https://www.kaggle.com/api/v1"  # the API root downloads go through

    @field
    def kind(self) -> str:
        return "dataset"

    @field
    def url(self) -> str:
        url = text(self.data, "url")
        return url if isinstance(url, str) and url.startswith("http") else DATASET_URL.format(ref=self.data["ref"])

    @field
    def title(self) -> str:
        return (text(self.data, "title") or "").strip()

    @field
    def description(self) -> str:
        parts = [(self.data.get(key) or "").strip() for key in ("subtitle", "description")]
        return "\n\n".join(dict.fromkeys(p for p in parts if p))

    @field
    def keywords(self) -> list[str]:
        return strings([t.get("name") for t in self.data.get("tags") or [] if isinstance(t, dict)])

    @field
    def creators(self) -> list[str]:
        return strings([self.data.get("creatorName") or self.data.get("ownerName")])

    @memo
    def _versions(self) -> list[dict[str, Any]]:
        return [v for v in self.data.get("versions") or [] if isinstance(v, dict)]

    @field
    def publication_date(self) -> str | None:
        dates = [v["creationDate"] for v in self._versions() if isinstance(v.get("creationDate"), str)]
        return min(dates) if dates else None

    @field
    def modified(self) -> str | None:
        return self.data.get("lastUpdated") or None

    @field
    def access_type(self) -> str:
        return "closed" if self.data.get("isPrivate") else "open"

    @field
    def license(self) -> str | None:
        return kaggle_license(text(self.data, "licenseName"))

    @field
    def version(self) -> str | None:
        number = as_int(self.data.get("currentVersionNumber"))
        return str(number) if number else None

    @field
    @memo
    def files(self) -> list[FileEntry]:
        ref = str(self.data["ref"])
        return [
            FileEntry(name=str(f["name"]), size=as_int(nullable(f, "totalBytes")),
                      url=file_download_url(self.download_base, ref, str(f["name"])),
                      checksum=None, mimetype=None, access="open")
            for f in self.dataset_files
            if isinstance(f, dict) and f.get("name")
        ]

    @field
    def extra(self) -> dict[str, Any]:
        return {
            "checksums": NO_CHECKSUMS,
            "version_order": as_int(self.data.get("currentVersionNumber")) or 0,
            "kaggle_id": as_int(self.data.get("id")),
            "total_bytes": as_int(nullable(self.data, "totalBytes")),
            "bundle_url": f"{self.download_base}/datasets/download/{self.data['ref']}",
            "usability_rating": self.data.get("usabilityRating"),
            "download_count": as_int(self.data.get("downloadCount")) or 0,
            "vote_count": as_int(self.data.get("voteCount")) or 0,
            "license_name": text(self.data, "licenseName"),
            "owner_ref": text(self.data, "ownerRef"),
        }


@attrs.define
class KaggleListPage(JsonArrayPage):
    """``GET {api}/datasets/list?search=&page=``: a bare array of ``ApiDataset`` (20 per page)."""

    def problem(self, entry: Any) -> str | None:
        ref = entry.get("ref") if isinstance(entry, dict) else None
        ok = isinstance(ref, str) and ref.count("/") == 1 and all(ref.split("/"))
        return None if ok else "no owner/slug ref"


@attrs.define
class KaggleFilesPage(WebPage):
    """``GET {api}/datasets/list/{owner}/{slug}``: ``{"datasetFiles": [...], "errorMessage"?, "nextPageToken"?}``."""

    @memo
    def _data(self) -> dict[str, Any]:
        data = json_body(self.response)
        files = data.get("datasetFiles", [])
        if not isinstance(files, list) or not all(isinstance(f, dict) and f.get("name") for f in files):
            raise MalformedPage(str(self.response.url), self.response.status, "no datasetFiles list", self.response.body)
        return data

    def files(self) -> list[dict[str, Any]]:
        return self._data().get("datasetFiles") or []

    @property
    def error(self) -> str | None:
        return self._data().get("errorMessage") or None

    @property
    def next_page_token(self) -> str | None:
        return self._data().get("nextPageToken") or None

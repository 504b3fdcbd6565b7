"""GitHub REST API: a repository (``GET /repos/{owner}/{repo}``) and its latest release
(``GET /repos/{owner}/{repo}/releases/latest``) -> a DatasetRecord whose files are the
release's assets (archives are then inspected by Range like any other record's).

``data``: the repository object, plus ``release`` (the release object, or None when the
repository has none). GitHub gives sizes but no checksums for assets; the source tree itself
is not a file of the record.
"""

from __future__ import annotations

from typing import Any

import attrs
from web_poet import field

from envision_spiders.doi import find_dois
from envision_spiders.items import FileEntry
from envision_spiders.pages.base import RecordExtractor, memo, strings
from envision_spiders.pages.licenses import license_id

SOURCE = "github"


@attrs.define
class GitHubRepository(RecordExtractor):
    source_name = SOURCE
    id_key = "full_name"

    def _release(self) -> dict[str, Any]:
        release = self.data.get("release")
        return release if isinstance(release, dict) else {}

    @field
    def kind(self) -> str:
        return "software"

    @field
    def related_dois(self) -> list[str]:
        """DOIs the description or release notes cite (a paper's or the dataset's: not the record's own)."""
        return find_dois(f"{self.data.get('description') or ''} {self._release().get('body') or ''}")

    @field
    def url(self) -> str | None:
        return self.data.get("html_url")

    @field
    def api_url(self) -> str | None:
        return self.data.get("url")

    @field
    def title(self) -> str:
        return str(self.data.get("full_name") or "")

    @field
    def description(self) -> str:
        return " ".join(strings([self.data.get("description"), self._release().get("body")]))

    @field
    def keywords(self) -> list[str]:
        return strings(self.data.get("topics"))

    @field
    def creators(self) -> list[str]:
        return strings([(self.data.get("owner") or {}).get("login")])

    @field
    def publication_date(self) -> str | None:
        return (self._release().get("published_at") or self.data.get("created_at") or "")[:10] or None

    @field
    def modified(self) -> str | None:
        return self.data.get("pushed_at") or self.data.get("updated_at")

    @field
    def access_type(self) -> str | None:
        return "restricted" if self.data.get("private") else "open"

    @field
    def license(self) -> str | None:
        lic = self.data.get("license") or {}
        spdx = lic.get("spdx_id") if isinstance(lic, dict) else None
        return license_id(spdx) if spdx and spdx != "NOASSERTION" else None

    @field
    def version(self) -> str | None:
        return self._release().get("tag_name")

    @field
    @memo
    def files(self) -> list[FileEntry]:
        entries = []
        for asset in self._release().get("assets") or []:
            if isinstance(asset, dict) and asset.get("name") and asset.get("browser_download_url"):
                size = asset.get("size")
                entries.append(FileEntry(name=asset["name"], size=size if isinstance(size, int) else None,
                                         url=asset["browser_download_url"], checksum=None,
                                         mimetype=asset.get("content_type"), access="open"))
        return entries

    @field
    def extra(self) -> dict[str, Any]:
        return {"stars": self.data.get("stargazers_count"), "release": self._release().get("tag_name"),
                "archived": bool(self.data.get("archived"))}

"""One record of a source we crawl, read by key: which API request, and which of the source
spider's own hooks its answer goes to, so the record is the one that spider emits.

A ``Lookup`` names the source spider (loaded by name, run as a helper of the ``url``
spider: its settings, token, request building and page objects), the request for one record
(``path`` under the spider's API root, formatted with the key; ``body`` for a JSON POST) and
where the answer goes: ``callback`` (a spider callback taking the page object, e.g.
Figshare's ``parse_detail``), or ``entries(response)`` (the answer as the entries the
spider's ``hook`` — ``on_hits`` of the paging spiders, ``on_entries`` of the links-paging
ones — takes from a search page). ``entries`` raises ``MalformedPage``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from envision_spiders.pages.base import json_body
from envision_spiders.pages.nei import INCLUDE_FIELDS, NeiSearchPage
from envision_spiders.pages.zenodo import ZenodoRecord


async def _whole(response: Any) -> list[Any]:
    return [json_body(response)]


async def _data(response: Any) -> list[Any]:
    data = json_body(response).get("data")
    return [data] if isinstance(data, dict) else []


async def _zenodo(response: Any) -> list[Any]:
    return [await ZenodoRecord(json_body(response)).to_item()]


async def _nei(response: Any) -> list[Any]:
    return NeiSearchPage(response=response).rows()[0]


def _nei_body(key: str) -> dict[str, Any]:
    return {"criteria": {"appl_ids": [int(key)]}, "include_fields": INCLUDE_FIELDS, "offset": 0, "limit": 50}


@dataclass(frozen=True)
class Lookup:
    spider: str
    path: str  # under the API root; {key} is the record's key, URL-quoted
    hook: str = ""  # the spider's hook for entries: "on_hits" or "on_entries"
    entries: Callable[[Any], Awaitable[list[Any]]] | None = None
    callback: str = ""  # or: the spider callback the answer goes to
    body: Callable[[str], dict[str, Any]] | None = None  # a JSON POST
    prepare: bool = False  # run the spider's prepare() once first (OSF: licence names)
    safe: str = ""  # characters of the key left unquoted (Kaggle's owner/slug)

    def url(self, api_url: str, key: str) -> str:
        return api_url + self.path.format(key=quote(key, safe=self.safe))


LOOKUPS: dict[str, Lookup] = {
    "zenodo": Lookup("zenodo", "/records/{key}", "on_hits", _zenodo),
    "figshare": Lookup("figshare", "/articles/{key}", callback="parse_detail"),
    "dryad": Lookup("dryad", "/datasets/doi%3A{key}", "on_entries", _whole),
    "osf": Lookup("osf", "/nodes/{key}/?embed=contributors", "on_entries", _data, prepare=True),
    "kaggle": Lookup("kaggle", "/datasets/view/{key}", "on_hits", _whole, safe="/"),
    "nei": Lookup("nei", "/projects/search", "on_hits", _nei, body=_nei_body),
    "datacite": Lookup("datacite", "/dois/{key}", "on_entries", _data),
}

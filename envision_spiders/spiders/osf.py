"""OSF: public nodes whose title or description contains a shared term, and their file trees.

``/v2/search/`` is gone (2026-07), so each term is a filter:
``{OSF_API_URL}/nodes/?filter[title,description]=<term>&filter[public]=true`` (substring,
case-insensitive), JSON:API ``links.next`` paging at ``page[size]`` 100, sorted by
``OSF_SORT`` (``date_created``: OSF's default ``-modified`` reorders nodes edited while a slow
crawl pages, skipping or repeating some), with contributors and identifiers (the DOI, when
one was minted) embedded. Licence names come
from one ``/licenses/`` listing first. Each node's storage (``OSF_PROVIDERS``) is walked folder
by folder; the record is emitted once its whole tree is read. The root listing carries the
node's ``date_modified``, so an unchanged node costs only its share of a search page.

Politeness: 100 requests/hour anonymously (``OSF_REQUESTS_PER_HOUR``): use ``OSF_TOKEN``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from scrapy.http import Response

from envision_spiders.bases.file_listing import FileBatch, FileListing, FileListingSpider
from envision_spiders.bases.links_paging import LinksPagingSpider
from envision_spiders.bases.spider import SpiderConfig, politeness, setting
from envision_spiders.pages.osf import OsfFilesPage, OsfNodesPage, OsfRecord, read_licenses


@dataclass(frozen=True)
class OsfConfig(SpiderConfig):
    page_size: int = setting("OSF_PAGE_SIZE")
    filter_fields: str = setting("OSF_FILTER_FIELDS")
    providers: tuple[str, ...] = setting("OSF_PROVIDERS")
    sort: str = setting("OSF_SORT")
    doi_prefix: str = setting("OSF_DOI_PREFIX")


class OsfSpider(FileListingSpider, LinksPagingSpider):
    name = "osf"
    api_url_setting = "OSF_API_URL"
    listing_page = OsfNodesPage
    files_page = OsfFilesPage
    config_class = OsfConfig
    token_variable = "OSF_TOKEN"
    rate_settings = ("OSF_REQUESTS_PER_HOUR", "OSF_REQUESTS_PER_HOUR_TOKEN")
    file_rate_settings = ("OSF_FILE_REQUESTS_PER_HOUR", "OSF_FILE_REQUESTS_PER_HOUR_TOKEN")
    custom_settings = politeness()
    entry_id, page_size_param = "id", "page[size]"
    licenses: dict[str, dict[str, Any]] = {}  # licence id -> {name, url}: one listing at start

    async def prepare(self) -> None:
        pages = await self.read_side_listing(self.sized(f"{self.api_url}/licenses/"), read_licenses,
                                             "envision/licenses/unavailable")
        self.licenses = {key: value for page in pages for key, value in page.items()}

    def first_listings(self) -> Iterator[str]:
        for term in self.terms:
            params = [(f"filter[{self.config.filter_fields}]", term), ("filter[public]", "true"),
                      ("page[size]", self.config.page_size), ("sort", self.config.sort),
                      ("embed", "contributors"), ("embed", "identifiers")]
            if self.since:
                params.append(("filter[date_modified][gte]", self.since.isoformat()))
            yield f"{self.api_url}/nodes/?{urlencode(params)}"

    async def on_entries(self, response: Response, entries: list[dict[str, Any]]) -> AsyncIterator[Any]:
        for node in self.take(entries):
            node_id = str(node["id"])
            ident = {"source": "osf", "source_id": node_id, "modified": (node.get("attributes") or {}).get("date_modified")}
            urls = [self.sized(f"{self.api_url}/nodes/{quote(node_id)}/files/{quote(p)}/") for p in self.config.providers]
            async for out in self.list_files(node_id, node, urls, {"envision_record": ident}):
                yield out

    def read_files(self, response: Response, page: OsfFilesPage) -> FileBatch:
        files, problems, more = page.listing()
        return FileBatch(files, problems, [self.sized(url) for url in more])

    async def files_record(self, listing: FileListing) -> Any:
        return await OsfRecord(listing.subject, file_data=listing.files, licenses=self.licenses,
                               doi_prefix=self.config.doi_prefix, files_complete=listing.complete).to_item()

"""Dryad: ``{DRYAD_API_URL}/search`` per group of shared terms, then
the files of each dataset's latest version (``_links."stash:version".href`` + ``/files``),
following HAL ``_links.next`` on both listings. Dryad's Solr (edismax, ``mm=2<-1 5<-2 6<90%``)
lets an unquoted term of 3-5 words match any n-1 of them, so a term of several words is a quoted
phrase, and terms are OR-ed in groups of at most DRYAD_QUERY_MAX_LENGTH characters
(``queries.SOLR_PHRASES``); a dataset met through two groups is taken once.

Search hits carry the full dataset metadata, so a dataset costs one files request (more for
over 100 files); that request carries ``meta["envision_record"]`` with the dataset's
``lastModificationDate``, so an unchanged dataset costs nothing but its share of a search page.

Auth (optional): ``DRYAD_TOKEN`` (a bearer token), or ``DRYAD_CLIENT_ID`` +
``DRYAD_CLIENT_SECRET`` for the documented OAuth2 client-credentials flow (a token valid 10 h,
fetched at start through Scrapy). A 401 on a request that carried the token (expired or
invalid: Dryad then refuses even public metadata) drops the token and retries anonymously.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

from scrapy.http import Response

from envision_spiders.bases.file_listing import FileBatch, FileListing, FileListingSpider
from envision_spiders.bases.links_paging import LinksPagingSpider
from envision_spiders.bases.spider import SpiderConfig, politeness, setting
from envision_spiders.pages.dryad import DryadFilesPage, DryadRecord, DryadSearchPage, href
from envision_spiders.queries import SOLR_PHRASES


@dataclass(frozen=True)
class DryadConfig(SpiderConfig):
    page_size: int = setting("DRYAD_PAGE_SIZE")  # per_page of searches and file listings
    query_max_length: int = setting("DRYAD_QUERY_MAX_LENGTH")  # characters of q per term group


class DryadSpider(FileListingSpider, LinksPagingSpider):
    name = "dryad"
    api_url_setting = "DRYAD_API_URL"
    listing_page = DryadSearchPage
    files_page = DryadFilesPage
    config_class = DryadConfig
    token_variable = "DRYAD_TOKEN"
    rate_settings = ("DRYAD_REQUESTS_PER_HOUR", "DRYAD_REQUESTS_PER_HOUR_TOKEN")
    file_rate_settings = ("DRYAD_FILE_REQUESTS_PER_HOUR", "DRYAD_FILE_REQUESTS_PER_HOUR_TOKEN")
    custom_settings = politeness()
    entry_id = "identifier"

    def first_listings(self) -> Iterator[str]:
        for group in self.query_groups(SOLR_PHRASES):
            params = {"q": SOLR_PHRASES(group), "per_page": self.config.page_size}
            if self.since:
                params["modifiedSince"] = f"{self.since.isoformat()}T00:00:00Z"
            yield f"{self.api_url}/search?{urlencode(params)}"

    async def on_entries(self, response: Response, entries: list[dict[str, Any]]) -> AsyncIterator[Any]:
        for dataset in self.take(entries):
            version = href(dataset, "stash:version")  # none: nothing to list, the metadata is still a record
            query = urlencode({"per_page": self.config.page_size})
            urls = [urljoin(response.url, version).rstrip("/") + f"/files?{query}"] if version else []
            key = DryadRecord(dataset).source_id
            ident = {"source": "dryad", "source_id": key, "modified": dataset.get("lastModificationDate")}
            async for out in self.list_files(key, (dataset, response.url), urls, {"envision_record": ident}):
                yield out

    def read_files(self, response: Response, page: DryadFilesPage) -> FileBatch:
        files, problems = page.entries()
        next_link = page.next_link
        return FileBatch(files, problems, [urljoin(response.url, next_link)] if next_link else [])

    async def files_record(self, listing: FileListing) -> Any:
        dataset, base = listing.subject
        return await DryadRecord(dataset, file_data=listing.files, base_url=base,
                                 files_complete=listing.complete).to_item()

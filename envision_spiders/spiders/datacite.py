"""DataCite: ``{DATACITE_API_URL}/dois`` over the shared terms, datasets only, cursor paging.

Cursor paging (``page[cursor]=1``, then the cursor of ``links.next``) has no depth limit,
unlike page numbers (silently clamped at 10,000 records). DataCite rebuilds ``links.next``
from a whitelist that drops ``mailto`` (and ``sort``, ``subject``...), so the next URL is
rebuilt here: our own parameters plus the cursor copied out of ``links.next``. Terms are
packed by the length of the final URL (with room for a cursor) against ``URLLENGTH_LIMIT``.
Records are metadata only; dedup keeps the repository's own record canonical
(``ENVISION_AGGREGATOR_SOURCES``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from scrapy.http import Response

from envision_spiders.bases.links_paging import LinksPagingSpider
from envision_spiders.bases.spider import SpiderConfig, politeness, setting
from envision_spiders.pages.datacite import DataCiteListPage, DataCiteRecord
from envision_spiders.queries import QuerySyntax

CURSOR = "page[cursor]"
# Room kept in each URL for the cursor of later pages (base64 of sort values: a timestamp and
# a DOI, about 60-120 characters seen) [A]: packing measures the URL with a cursor this long.
CURSOR_ROOM = 256


@dataclass(frozen=True)
class DataCiteConfig(SpiderConfig):
    fields: tuple[str, ...] = setting("DATACITE_QUERY_FIELDS")  # searched fields ([] = all)
    query_max_length: int = setting("DATACITE_QUERY_MAX_LENGTH")
    resource_types: tuple[str, ...] = setting("DATACITE_RESOURCE_TYPES")
    page_size: int = setting("DATACITE_PAGE_SIZE")
    contact_email: str = setting("ENVISION_CONTACT_EMAIL")


class DataCiteSpider(LinksPagingSpider):
    name = "datacite"
    api_url_setting = "DATACITE_API_URL"
    listing_page = DataCiteListPage
    config_class = DataCiteConfig
    page_param = None  # cursor paging: a lost page cannot be skipped
    cursor_param = CURSOR  # DataCite drops mailto (and sort...) from links.next: copy the cursor only
    entry_id = "id"
    rate_settings = ("DATACITE_REQUESTS_PER_HOUR", "DATACITE_REQUESTS_PER_HOUR")
    # DataCite's firewall has answered bursts with 403 + an HTML body (awselb/2.0): back off
    custom_settings = {**politeness(per_domain=2), "ENVISION_BACKOFF_HTTP_CODES": [403, 429, 503]}

    def first_listings(self) -> Iterator[str]:
        config = self.config
        if "@" not in self.crawler.settings.get("USER_AGENT", ""):  # set by ContactAddon after from_crawler
            self.logger.warning("USER_AGENT has no contact email: DataCite halves the rate of unidentified clients")
        syntax = QuerySyntax(fields=config.fields)
        for group in self.query_groups(syntax, lambda terms: self.search_url(syntax(terms), "x" * CURSOR_ROOM)):
            yield self.search_url(syntax(group))

    def search_url(self, group: str, cursor: str = "1") -> str:
        config = self.config
        query = f"({group})"
        if self.since:
            query += f" AND updated:[{self.since.isoformat()} TO *]"
        params = {"query": query, "resource-type-id": ",".join(config.resource_types), "page[size]": config.page_size,
                  CURSOR: cursor, "disable-facets": "true", "mailto": config.contact_email}
        return f"{self.api_url}/dois?{urlencode({k: v for k, v in params.items() if v})}"

    async def on_entries(self, response: Response, entries: list[dict[str, Any]]) -> AsyncIterator[Any]:
        records = [await DataCiteRecord(entry, api_root=self.api_url).to_item() for entry in entries]
        for record in self.take(records):
            yield record

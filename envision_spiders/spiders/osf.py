"""OSF: public nodes whose title or description contains a shared term, and their file trees.

``/v2/search/`` is gone (2026-07), so each term is a filter:
``{OSF_API_URL}/nodes/?filter[title,description]=<term>&filter[public]=true`` (substring,
case-insensitive), JSON:API ``links.next`` paging at ``page[size]`` 100. Licence names come
from one ``/licenses/`` listing at start. Each node's storage (``OSF_PROVIDERS``) is walked
folder by folder (listings are not recursive); the record is emitted once its whole tree is
read. The root listing carries ``meta["envision_record"]`` with the node's
``date_modified``, so an unchanged node costs nothing but its share of a search page.

Politeness: 100 requests/hour anonymously (``OSF_REQUESTS_PER_HOUR``): use ``OSF_TOKEN``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import scrapy
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from twisted.python.failure import Failure

from envision_spiders.http.credentials import get_secret
from envision_spiders.pages.base import MalformedPage
from envision_spiders.pages.osf import OsfFilesPage, OsfNodesPage, OsfRecord, related_href
from envision_spiders.spiders.links_paging import LinksPagingSpider

TREE_META = "osf_node"
NODE_META = "osf_node_data"  # on the first listing request of each storage provider only


class OsfSpider(LinksPagingSpider):
    name = "osf"
    api_url_setting = "OSF_API_URL"
    token_variable = "OSF_TOKEN"
    rate_settings = ("OSF_REQUESTS_PER_HOUR", "OSF_REQUESTS_PER_HOUR_TOKEN")
    custom_settings = {"DOWNLOAD_DELAY_JITTER": 0, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.licenses: dict[str, dict[str, Any]] = {}
        self._trees: dict[str, dict[str, Any]] = {}  # node id -> walk in progress

    async def start(self) -> AsyncIterator[Any]:
        self.set_token(get_secret("OSF_TOKEN"))
        self.licenses = await self.load_licenses()
        async for request in super().start():
            yield request

    def page_size(self) -> int:
        return self.settings.getint("OSF_PAGE_SIZE")

    async def load_licenses(self) -> dict[str, dict[str, Any]]:
        """Licence id -> {name, url}: one listing instead of one request per node."""
        url: str | None = f"{self.api_url}/licenses/?page%5Bsize%5D={self.page_size()}"
        found: dict[str, dict[str, Any]] = {}
        while url:
            request = scrapy.Request(url, callback=NO_CALLBACK, dont_filter=True, headers=self.auth_headers(),
                                     meta={"handle_httpstatus_all": True})
            response = await self.crawler.engine.download_async(request)
            try:
                body = json.loads(response.body)
                data = body["data"] if response.status == 200 else None
            except (ValueError, KeyError, TypeError):
                data = None
            if not isinstance(data, list):
                self.crawler.stats.inc_value("envision/osf/licenses_unavailable")
                self.logger.error("OSF licences unavailable (HTTP %d from %s): records get no licence",
                                  response.status, url)
                break
            for lic in data:
                if isinstance(lic, dict) and isinstance(lic.get("attributes"), dict):
                    found[str(lic.get("id"))] = lic["attributes"]
            url = (body.get("links") or {}).get("next")
        return found

    def first_listings(self) -> Iterator[str]:
        fields = self.settings.get("OSF_FILTER_FIELDS")
        for term in self.terms:
            params = {f"filter[{fields}]": term, "filter[public]": "true", "page[size]": self.page_size(),
                      "embed": "contributors"}
            if self.since:
                params["filter[date_modified][gte]"] = self.since.isoformat()
            yield f"{self.api_url}/nodes/?{urlencode(params)}"

    def entry_key(self, entry: dict[str, Any]) -> str | None:
        return str(entry.get("id") or "") or None

    async def parse_listing(self, response: Response, page: OsfNodesPage) -> AsyncIterator[Any]:
        async for out in self.follow_listing(response, page):
            yield out

    async def on_entries(self, response: Response, entries: list[dict[str, Any]]) -> AsyncIterator[Any]:
        providers = self.settings.getlist("OSF_PROVIDERS")
        for node in self.take(entries):
            node_id = str(node["id"])
            if not providers:
                yield await self.node_record({"node": node, "files": [], "complete": True})
                continue
            ident = {"source": "osf", "source_id": node_id, "modified": (node.get("attributes") or {}).get("date_modified")}
            # the tree is opened by its first listing: requests IncrementalMiddleware drops leave nothing behind
            meta = {TREE_META: node_id, NODE_META: node, "envision_record": ident}
            for provider in providers:
                url = f"{self.api_url}/nodes/{quote(node_id)}/files/{quote(provider)}/?page%5Bsize%5D={self.page_size()}"
                yield self.api_request(url, self.parse_files, meta=meta)

    async def parse_files(self, response: Response, page: OsfFilesPage) -> AsyncIterator[Any]:
        node_id = response.meta[TREE_META]
        tree = self._trees.get(node_id)
        if tree is None:
            providers = self.settings.getlist("OSF_PROVIDERS")
            tree = self._trees[node_id] = {
                "node": response.meta[NODE_META], "files": [], "pending": len(providers), "complete": True,
            }
        try:
            entries, problems = page.entries()
            next_link = page.next_link
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
                return
            entries, problems, next_link = [], [str(exc)], None
        if problems:
            tree["complete"] = False
            self.crawler.stats.inc_value("envision/osf/unreadable_files", len(problems))
        meta = {TREE_META: node_id}
        for entry in entries:
            kind = entry["attributes"].get("kind")
            if kind == "file":
                tree["files"].append(entry)
            elif kind == "folder":
                folder = related_href(entry, "files")
                if folder:
                    tree["pending"] += 1
                    yield self.api_request(self.sized(urljoin(response.url, folder)), self.parse_files, meta=meta)
        if next_link:
            tree["pending"] += 1
            yield self.api_request(urljoin(response.url, next_link), self.parse_files, meta=meta)
        record = await self.branch_done(node_id)
        if record is not None:
            yield record

    def sized(self, url: str) -> str:
        return url if "page%5Bsize%5D" in url or "page[size]" in url else (
            url + ("&" if "?" in url else "?") + f"page%5Bsize%5D={self.page_size()}")

    async def branch_done(self, node_id: str) -> Any:
        tree = self._trees[node_id]
        tree["pending"] -= 1
        if tree["pending"] > 0:
            return None
        del self._trees[node_id]
        return await self.node_record(tree)

    async def node_record(self, tree: dict[str, Any]) -> Any:
        if not tree["complete"]:
            self.crawler.stats.inc_value("envision/osf/files_incomplete")
        return await OsfRecord(tree["node"], file_data=tree["files"], licenses=self.licenses,
                               doi_prefix=self.settings.get("OSF_DOI_PREFIX"),
                               files_complete=tree["complete"]).to_item()

    def request_failed(self, request: scrapy.Request, failure: Failure) -> Iterable[Any]:
        super().request_failed(request, failure)
        node_id = request.meta.get(TREE_META)
        if node_id not in self._trees:
            return []
        self._trees[node_id]["complete"] = False

        async def finish() -> AsyncIterator[Any]:  # the rest of the tree still makes a record
            record = await self.branch_done(node_id)
            if record is not None:
                yield record

        return finish()

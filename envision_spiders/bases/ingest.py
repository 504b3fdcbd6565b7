"""The base of the ``url`` spider: one input at a time, read by whoever answers it. Its contract:

A concrete spider (``spiders/url.py``) reads its inputs (``self.inputs``, validated before the
crawl) and, in ``start()``, calls ``self.expect(text)`` then yields from
``self.requests_for(target)`` for each input's ``ingest.route`` target (or
``self.no_record(text, "invalid", why)``). The base then:

* reads a record of a source we crawl through that source's own spider, created once as a
  helper on this crawler (``helper(source)``: its settings, token, request building, page
  objects; ``ingest.lookups`` says which request and which of its hooks take the answer);
* reads another DOI from DataCite (``datacite`` helper), following DataCite's landing URL to a
  crawled source's record; a DOI DataCite does not know from Crossref's landing page
  (``CROSSREF_API_URL``), else through ``ENVISION_DOI_RESOLVER_URL``;
* reads a GitHub repository and its latest release from ``GITHUB_API_URL`` (``pages.github``);
* asks any other URL with ``HEAD`` (``GET`` of one byte when HEAD is refused): an address that
  lands on a crawled source's record is read from its API, a login page is refused, a web page
  is read by ``PortalDatasetPage`` (plain HTTP), anything else becomes a one-file record from
  its headers (``pages.remote_file``);
* keeps a ``Ledger``: each record carries its input in ``extra["ingest_input"]``
  (``IngestTrailMiddleware``), each input without a record one logged line and
  ``envision/ingest/no_record/<reason>``; the crawl's last lines list every input.

Settings read once: the API URL settings of ``ingest.route.API_URL_SETTINGS`` (their hosts are
the sources' hosts too), ``ENVISION_DOI_RESOLVER_URL``, ``CROSSREF_API_URL``, ``GITHUB_API_URL``.
Stats: ``envision/ingest/inputs``, ``records``, ``routed/<source>``, ``no_record/<reason>``, ``missing``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spiderloader import get_spider_loader
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from envision_spiders.bases.spider import EnvisionSpider, SpiderArgumentError
from envision_spiders.http.ranges import (
    META_RANGE,
    RangeError,
    RangeNotSatisfiable,
    install_range_guard,
    range_answer,
    range_request,
)
from envision_spiders.ingest.ledger import INPUT_KEY, INPUT_META, Ledger
from envision_spiders.ingest.lookups import LOOKUPS
from envision_spiders.ingest.route import (
    API_URL_SETTINGS,
    InputError,
    Target,
    is_login_redirect,
    route,
    source_hosts,
)
from envision_spiders.items import DatasetRecord
from envision_spiders.pages.base import MalformedPage, json_body
from envision_spiders.pages.github import GitHubRepository
from envision_spiders.pages.portal import PortalDatasetPage
from envision_spiders.pages.portal_presets import source_for_url
from envision_spiders.pages.remote_file import content_length, is_html, remote_file_record

TARGET_META = "envision_ingest_target"
GITHUB_META = "envision_github_repository"
HEAD_REFUSED = (403, 405, 501)  # servers (presigned URLs, some CDNs) that answer GET but not HEAD
PAGE_MAXSIZE = 1 << 20  # a server ignoring Range may send a page (or file) this big whole; more is stopped
WEB_HEADERS = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Encoding": "identity"}


class IngestSpider(EnvisionSpider):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hosts: dict[str, tuple[str, ...]] = {}
        self.resolver = ""
        self.github_api = ""
        self.crossref = ""
        self.helpers: dict[str, EnvisionSpider | str] = {}  # source -> its spider, or why it cannot run
        self.prepared: set[str] = set()
        self.ledger = Ledger()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> IngestSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.hosts = source_hosts({source: settings.get(name) for source, name in API_URL_SETTINGS.items()})
        spider.resolver = str(settings.get("ENVISION_DOI_RESOLVER_URL")).rstrip("/")
        spider.github_api = str(settings.get("GITHUB_API_URL")).rstrip("/")
        spider.crossref = str(settings.get("CROSSREF_API_URL") or "").rstrip("/")
        install_range_guard(crawler)  # a server ignoring the one-byte Range is stopped on its headers
        crawler.signals.connect(spider._item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(spider._item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(spider._summarise, signal=signals.spider_closed)
        return spider

    def expect(self, text: str) -> None:
        """An input enters the ledger (in input order)."""
        self.ledger.expect(text)
        self.crawler.stats.inc_value("envision/ingest/inputs")

    async def requests_for(self, target: Target) -> AsyncIterator[scrapy.Request]:
        routed = target.source if target.kind == "record" else target.kind
        self.crawler.stats.inc_value(f"envision/ingest/routed/{routed}")
        if target.kind == "github":
            yield scrapy.Request(f"{self.github_api}/repos/{target.key}", callback=self.parse_repository,
                                 errback=self.failed, dont_filter=True,
                                 meta={INPUT_META: target.text, TARGET_META: target})
            return
        if target.kind == "web":
            yield self.web_request(target, target.key)
            return
        helper = await self.helper(target.source or "")
        if isinstance(helper, str):
            self.no_record(target.text, "unavailable", helper)
            return
        lookup = LOOKUPS[target.source or ""]
        callback = getattr(helper, lookup.callback) if lookup.callback else self.parse_entries
        yield helper.api_request(lookup.url(helper.api_url, target.key), callback,
                                 data=lookup.body(target.key) if lookup.body else None, errback=self.failed,
                                 dont_filter=True, meta={INPUT_META: target.text, TARGET_META: target})

    async def helper(self, source: str) -> EnvisionSpider | str:
        """The source's own spider, created once on this crawler (its token fetched), or why not."""
        if source not in self.helpers:
            spidercls = get_spider_loader(self.crawler.settings).load(LOOKUPS[source].spider)
            try:
                helper = spidercls.from_crawler(self.crawler)
            except SpiderArgumentError as exc:
                self.helpers[source] = f"{source}: {exc}"
            else:
                self.helpers[source] = helper
                await helper.fetch_token()
        return self.helpers[source]

    def web_request(self, target: Target, url: str, method: str = "HEAD", **meta: Any) -> scrapy.Request:
        return scrapy.Request(url, method=method, callback=self.parse_head, errback=self.failed, dont_filter=True,
                              headers=WEB_HEADERS, meta={INPUT_META: target.text, TARGET_META: target,
                                                         "handle_httpstatus_list": list(HEAD_REFUSED), **meta})

    # --- answers ------------------------------------------------------------------------
    async def parse_entries(self, response: Response) -> AsyncIterator[Any]:
        target: Target = response.meta[TARGET_META]
        lookup, helper = LOOKUPS[target.source or ""], self.helpers[target.source or ""]
        assert not isinstance(helper, str)
        try:
            entries = await lookup.entries(response) if lookup.entries else []
        except MalformedPage as exc:
            self.no_record(target.text, "malformed", exc.problem)
            return
        if not entries:
            self.no_record(target.text, "not_found", f"no record in the answer of {response.url}")
            return
        repository = self.repository_of(target, entries[0]) if target.source == "datacite" else None
        if repository is not None:
            async for request in self.requests_for(repository):
                yield request
            return
        if lookup.prepare and target.source not in self.prepared:
            self.prepared.add(target.source or "")
            await helper.prepare()  # type: ignore[attr-defined]
        emitted = 0
        async for out in getattr(helper, lookup.hook)(response, entries):
            emitted += 1
            yield out
        if helper.deferred():  # NEI: rows become a grant at once (all of the project's rows are here)
            for record in helper.take(await helper.drain_deferred()):
                emitted += 1
                yield record
        if not emitted:
            self.no_record(target.text, "filtered", f"the {target.source} spider keeps nothing of {response.url}")

    def repository_of(self, target: Target, entry: dict[str, Any]) -> Target | None:
        """The record of a source we crawl that DataCite's landing URL names, if any."""
        url = (entry.get("attributes") or {}).get("url")
        try:
            found = route(url, self.hosts) if isinstance(url, str) else None
        except InputError:
            return None
        if found is None or found.kind != "record":
            return None
        self.logger.info("Input %s: DataCite names %s, read from %s", target.text, url, found.source)
        return found._replace(text=target.text, doi=target.doi)

    async def parse_crossref(self, response: Response) -> AsyncIterator[Any]:
        """A Crossref DOI: its landing page (``resource.primary.URL``), read from a crawled
        source's API when it is one of its records, else like any other page."""
        target: Target = response.meta[TARGET_META]
        try:
            work = json_body(response).get("message") or {}
        except MalformedPage as exc:
            self.no_record(target.text, "malformed", exc.problem)
            return
        landing = ((work.get("resource") or {}).get("primary") or {}).get("URL") or work.get("URL")
        if not isinstance(landing, str) or not landing.startswith(("http://", "https://")):
            self.no_record(target.text, "not_found", f"Crossref gives no landing page for {target.key}")
            return
        web = target._replace(kind="web", source=None, key=landing)
        found = self.record_at(web, landing)
        if found is not None:
            async for request in self.requests_for(found):
                yield request
        else:
            yield self.web_request(web, landing)

    async def parse_repository(self, response: Response) -> AsyncIterator[Any]:
        """A GitHub repository; then its latest release (none: a 404, the record has no files)."""
        target: Target = response.meta[TARGET_META]
        try:
            repository = json_body(response)
        except MalformedPage as exc:
            self.no_record(target.text, "malformed", exc.problem)
            return
        yield scrapy.Request(f"{self.github_api}/repos/{target.key}/releases/latest", callback=self.parse_release,
                             errback=self.failed, dont_filter=True,
                             meta={INPUT_META: target.text, TARGET_META: target, GITHUB_META: repository,
                                   "handle_httpstatus_list": [404]})

    async def parse_release(self, response: Response) -> AsyncIterator[Any]:
        try:
            release = json_body(response) if response.status == 200 else None
        except MalformedPage as exc:
            self.logger.warning("Latest release of %s unreadable: %s", response.url, exc)
            release = None
        yield await GitHubRepository({**response.meta[GITHUB_META], "release": release}).to_item()

    async def parse_head(self, response: Response) -> AsyncIterator[Any]:
        target: Target = response.meta[TARGET_META]
        if response.status in HEAD_REFUSED:  # one byte of the body instead (GET: errors go to the errback)
            yield range_request(response.url, [(0, 1)], accept_whole=PAGE_MAXSIZE,
                                meta={INPUT_META: target.text, TARGET_META: target}).replace(
                callback=self.parse_head, errback=self.failed)
            return
        landed = self.record_at(target, response.url) if response.url != target.key else None
        if landed is not None:
            async for request in self.requests_for(landed):
                yield request
            return
        if is_login_redirect(target.key, response.url):
            self.no_record(target.text, "login", f"redirected to a login page {response.url}")
            return
        if is_html(response.headers):
            yield scrapy.Request(response.url, callback=self.parse_page, errback=self.failed, dont_filter=True,
                                 headers=WEB_HEADERS, meta={INPUT_META: target.text, TARGET_META: target,
                                                            "page_params": {"source": source_for_url(response.url)}})
            return
        yield await remote_file_record(response.url, response.headers, self.file_size(response), doi=target.doi)

    def file_size(self, response: Response) -> int | None:
        """``Content-Length`` of a HEAD; the total size a ranged answer gives (else its headers')."""
        if META_RANGE not in response.meta:
            return content_length(response.headers)
        try:
            return range_answer(response, self.crawler.stats).total
        except RangeNotSatisfiable as exc:
            return exc.total
        except RangeError:  # a whole body, stopped on its headers
            return content_length(response.headers)

    def record_at(self, target: Target, url: str) -> Target | None:
        """When a web input's address (after redirects, or a DOI's landing page) is a record page
        of a source we crawl (or a GitHub repository): that source's target, read from its API."""
        if target.kind != "web":
            return None
        try:
            found = route(url, self.hosts)
        except InputError:
            return None
        if found.kind not in ("record", "github"):
            return None
        self.logger.info("Input %s: %s is a %s record, read from its API", target.text, url, found.source)
        return found._replace(text=target.text, doi=target.doi or found.doi)

    async def parse_page(self, response: Response, page: PortalDatasetPage) -> AsyncIterator[Any]:
        target: Target = response.meta[TARGET_META]
        if not page.has_record:
            self.no_record(target.text, "no_dataset", f"nothing to record on {response.url}")
            return
        record = await page.to_item()
        record.doi = record.doi or target.doi
        yield record

    def failed(self, failure: Failure) -> list[scrapy.Request]:
        request = failure.request  # type: ignore[attr-defined]
        target: Target = request.meta[TARGET_META]
        if failure.check(HttpError):
            status = failure.value.response.status
            if target.kind == "doi" and status == 404 and target.source == "datacite" and self.crossref:
                self.logger.info("Input %s: not in DataCite, asking Crossref", target.text)
                return [scrapy.Request(f"{self.crossref}/works/{quote(target.key, safe='/')}",
                                       callback=self.parse_crossref, errback=self.failed, dont_filter=True,
                                       meta={INPUT_META: target.text, TARGET_META: target._replace(source="crossref")})]
            if target.kind == "doi" and status == 404 and self.resolver:
                self.logger.info("Input %s: not in DataCite nor Crossref, resolving it at %s", target.text, self.resolver)
                url = f"{self.resolver}/{target.key}"
                return [self.web_request(target._replace(kind="web", source=None, key=url), url)]
            self.no_record(target.text, "http_error", f"HTTP {status} from {request.url}")
        else:
            self.no_record(target.text, "unreachable", f"{request.url}: {failure.getErrorMessage()}")
        return []

    # --- the ledger -----------------------------------------------------------------------
    def no_record(self, text: str, reason: str, detail: str) -> None:
        self.crawler.stats.inc_value(f"envision/ingest/no_record/{reason}")
        self.logger.warning("Input %s gives no record (%s): %s", text, reason, detail)
        self.ledger.failed(text, reason, detail)

    def _input_of(self, item: Any) -> str | None:
        return item.extra.get(INPUT_KEY) if isinstance(item, DatasetRecord) else None

    def _item_scraped(self, item: Any) -> None:
        text = self._input_of(item)
        if text is not None and self.ledger.recorded(text, f"{item.source}:{item.source_id}"):
            self.crawler.stats.inc_value("envision/ingest/records")

    def _item_dropped(self, item: Any, exception: BaseException) -> None:
        text = self._input_of(item)
        if text is not None:
            self.ledger.failed(text, "dropped", str(exception))

    def _summarise(self, reason: str) -> None:
        self.crawler.stats.set_value("envision/ingest/missing", self.ledger.missing)
        for line in self.ledger.summary():
            self.logger.info("Input %s", line)

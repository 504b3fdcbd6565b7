"""Detail -> paged file listing -> record: the files of a dataset come from listing requests.

For sources where a dataset is known (a search hit, a detail page) before its files are:
Figshare ``/articles/{id}/files``, Kaggle ``/datasets/list/{ref}``, Dryad's version
``/files``, OSF's file trees (one listing per folder). The base keeps, per record, the files
read so far and the listing requests still in flight; it emits the record when the last one is
done. When a listing page stays malformed after its retries, lists entries it cannot read, or a
listing request fails for good, the record is still emitted, with what was read, marked
incomplete (logged, counted): the metadata is good without its full file list.

Mix it in before the paging base (``class DryadSpider(FileListingSpider, LinksPagingSpider)``).
A concrete spider:

``detail_page`` and ``detail_listing(detail) -> (key, urls) | None`` (optional)
    For sources whose search hits are not the whole record (Figshare): the detail's page
    object class (offering ``detail()``, raising ``MalformedPage``, and ``to_item()``). The
    base gives the spider the callback ``parse_detail`` (request details with it); a malformed
    detail is fetched again, then given up (logged, counted). The hook says which listing the
    detail needs (its key and first URLs), or None when the detail is the whole record.
``self.list_files(key, subject, urls, meta=None)``
    An async generator starting the listing of one record: ``key`` names it (the source id),
    ``subject`` is what the record is built from (the detail), ``urls`` its first listing
    page(s) (OSF: one per storage provider; none: the record is emitted at once, without
    files), ``meta`` goes on those first requests only (e.g. ``envision_record`` for
    ``IncrementalMiddleware``). Nothing is kept until the first listing answers, so a
    request the incremental crawl drops leaves nothing behind.
``files_page``
    The listing's page object class. The base gives the spider the callback
    ``parse_files(response, page: <files_page>)`` (scrapy-poet injects by annotation), which
    runs ``follow_files``.
``read_files(response, page) -> FileBatch`` (hook)
    The files of one listing page, a description of each entry it could not read, and the
    absolute URLs of further listing requests (next page, sub-folders). Raises
    ``MalformedPage`` when the page is not the documented shape.
``async files_record(listing) -> DatasetRecord`` (hook)
    The record from ``listing.subject``, ``listing.files`` and ``listing.complete`` (each
    source marks incompleteness its own way).

Requests are built with ``self.api_request`` (token only to the API's origin) and fail into
``request_failed`` (after the paging base's own handling, e.g. a rejected token).
Stats: ``envision/files/listings`` (records whose files are listed), ``envision/files/unreadable``
(entries), ``envision/files/incomplete`` (records emitted with part of their files).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from envision_spiders.bases.spider import EnvisionSpider, declare_callbacks
from envision_spiders.items import DatasetRecord
from envision_spiders.pages.base import MalformedPage

FILES_META = "envision_files"


class FileBatch(NamedTuple):
    files: list[Any]
    problems: list[str]
    more: list[str]  # absolute URLs of further listing requests


@dataclass
class FileListing:
    """One record's listing in progress."""

    key: str
    subject: Any
    pending: int
    files: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


class FileListingSpider(EnvisionSpider):
    files_page: type | None = None
    detail_page: type | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declare_callbacks(cls, ("files_page", "parse_files", "follow_files"),
                          ("detail_page", "parse_detail", "follow_detail"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listings: dict[str, FileListing] = {}

    # --- hooks --------------------------------------------------------------------------------
    def read_files(self, response: Response, page: Any) -> FileBatch:
        raise NotImplementedError

    async def files_record(self, listing: FileListing) -> DatasetRecord:
        raise NotImplementedError

    def detail_listing(self, detail: Any) -> tuple[str, list[str]] | None:
        raise NotImplementedError

    async def follow_detail(self, response: Response, page: Any) -> AsyncIterator[Any]:
        try:
            detail = page.detail()
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
            return
        listing = self.detail_listing(detail)
        if listing is None:
            yield await page.to_item()
            return
        async for out in self.list_files(listing[0], detail, listing[1]):
            yield out

    # --- requests -----------------------------------------------------------------------------
    async def list_files(self, key: str, subject: Any, urls: list[str],
                         meta: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        if not urls:
            yield await self.files_record(FileListing(key, subject, pending=0))
            return
        self.crawler.stats.inc_value("envision/files/listings")
        first = {"key": key, "subject": subject, "roots": len(urls)}
        for url in urls:
            yield self._files_request(url, {**(meta or {}), FILES_META: first})

    def _files_request(self, url: str, meta: dict[str, Any]) -> scrapy.Request:
        return self.api_request(url, self.parse_files, meta=meta, errback=self.on_request_error)

    def _listing(self, meta: dict[str, Any]) -> FileListing | None:
        """The listing a request belongs to, opened by its first request's answer (or failure)."""
        ctx = meta.get(FILES_META)
        if ctx is None:
            return None
        listing = self._listings.get(ctx["key"])
        if listing is None and "subject" in ctx:
            listing = self._listings[ctx["key"]] = FileListing(ctx["key"], ctx["subject"], pending=ctx["roots"])
        return listing

    # --- answers ------------------------------------------------------------------------------
    async def follow_files(self, response: Response, page: Any) -> AsyncIterator[Any]:
        listing = self._listing(response.meta)
        if listing is None:  # pragma: no cover - a listing answer after its record was emitted
            return
        try:
            files, problems, more = self.read_files(response, page)
        except MalformedPage as exc:
            retry = self.retry_malformed(response, exc)
            if retry is not None:
                yield retry
                return
            files, problems, more = [], [f"file listing unreadable: {exc.problem}"], []
        for problem in problems:
            self.crawler.stats.inc_value("envision/files/unreadable")
            self.logger.warning("Files of %s: %s (%s)", listing.key, problem, response.url)
        listing.files.extend(files)
        listing.problems.extend(problems)
        for url in more:
            listing.pending += 1
            yield self._files_request(url, {FILES_META: {"key": listing.key}})
        record = await self._branch_done(listing)
        if record is not None:
            yield record

    def request_failed(self, request: scrapy.Request, failure: Failure) -> Iterable[Any]:
        out = super().request_failed(request, failure)
        listing = self._listing(request.meta)
        if listing is None:
            return out
        listing.problems.append(f"file listing failed: {failure.getErrorMessage()}")

        async def finish() -> AsyncIterator[Any]:  # the rest of the listing still makes a record
            record = await self._branch_done(listing)
            if record is not None:
                yield record

        return finish()

    async def _branch_done(self, listing: FileListing) -> DatasetRecord | None:
        listing.pending -= 1
        if listing.pending > 0:
            return None
        del self._listings[listing.key]
        if not listing.complete:
            self.crawler.stats.inc_value("envision/files/incomplete")
            self.logger.warning("Record %s: files incomplete: %s", listing.key, "; ".join(listing.problems))
        return await self.files_record(listing)

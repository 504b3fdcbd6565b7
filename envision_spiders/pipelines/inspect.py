"""Archive inspection: list ZIP/TAR contents and read image headers with HTTP Range requests.

For each archive among a record's ``files`` the pipeline runs the format's driver
(``inspection/drivers.py``) over a :class:`~envision_spiders.http.ranges.RangeReader` (ranged reads
through Scrapy's downloader under a request and byte budget) and stores the report
(``inspection/report.py``) in ``archive_contents``; the portal counts (``file_types``,
``file_names``, ``file_count``, ``img_count``...) then include the entries. Records that already
carry a complete listing of the same file (same checksum, or same size when there is no
checksum) are not inspected again.

Settings (``ENVISION_INSPECT_*``, defaults in ``settings.py``) are read once into an
:class:`~envision_spiders.inspection.config.InspectConfig`. Stats: ``envision/inspect/...``.
A source with a file rate of its own sends its file requests to its own downloader slot
(``http/slots.py``: they do not wait behind its search requests' delay); a source with one
overall rate (``shared_rate``) sends them to the slot its API requests use (one budget).
Overridable hooks: :meth:`ArchiveInspectionPipeline.archives_of` (which files to inspect),
:meth:`ArchiveInspectionPipeline.request_meta` (per-record request meta: the download slot) and
:meth:`ArchiveInspectionPipeline.request_headers` (per-file headers: by default the record's source
token from ``ENVISION_FILE_AUTH``, the same one gated downloads send, only to the origin of the
source's API root; Scrapy's RedirectMiddleware drops it on a redirect to another origin). A
file whose ``access`` is ``token`` is inspected only when its source has a token.
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any
from urllib.parse import unquote, urlsplit

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import DeferredSemaphore

from envision_spiders.http.credentials import ApiToken, client_credentials_of, file_tokens
from envision_spiders.http.ranges import (
    BudgetExhausted,
    FetchFailed,
    RangeNotSatisfiable,
    RangeNotSupported,
    RangeReader,
    install_range_guard,
)
from envision_spiders.http.slots import SLOT_META, budget_slot_of, configured_budget_slots
from envision_spiders.inspection.config import InspectConfig
from envision_spiders.inspection.drivers import inspect_archive
from envision_spiders.inspection.errors import ArchiveError
from envision_spiders.inspection.kinds import archive_format, summarise
from envision_spiders.inspection.report import new_report, reusable

logger = logging.getLogger(__name__)


def _file_format(file: dict[str, Any]) -> str | None:
    fmt = archive_format(str(file.get("name") or ""))
    if fmt is None and file.get("url"):
        fmt = archive_format(posixpath.basename(unquote(urlsplit(str(file["url"])).path)))
    return fmt


class ArchiveInspectionPipeline:
    """Item pipeline (priority 300): fills ``archive_contents`` and the portal counts."""

    def __init__(self, crawler: Crawler, config: InspectConfig | None = None) -> None:
        self.crawler = crawler
        self.config = config or InspectConfig.from_settings(crawler.settings)
        self.stats = crawler.stats
        self._slots = DeferredSemaphore(self.config.concurrency)
        self._no_multirange: set[str] = set()  # hosts that answered a multi-range request with 200
        self.tokens = file_tokens(crawler.settings)  # source -> ApiToken (never logged)
        # sources whose spider gets its token for client credentials (Dryad): their files use it
        self.minted_by_spider = set(client_credentials_of(crawler.settings)) - set(self.tokens)
        # the budget slots configured (http/slots.py): a source's file rate, or its one overall rate
        self.budget_slots = configured_budget_slots(crawler.settings)
        install_range_guard(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveInspectionPipeline:
        return cls(crawler, InspectConfig.from_settings(crawler.settings))  # every setting read and checked once

    # --- overridable interface --------------------------------------------------------------
    def archives_of(self, item: Any, files: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """``(file, format)`` for the files of ``item`` to inspect, in order."""
        out = []
        for file in files:
            fmt = _file_format(file)
            if fmt is not None:
                out.append((file, fmt))
        return out

    def request_headers(self, item: Any, file: dict[str, Any]) -> dict[str, str]:
        """Extra headers for the requests of one file: the source's token where it belongs."""
        token = self.token_for(str(ItemAdapter(item).get("source") or ""))
        return token.headers_for(str(file.get("url") or "")) if token else {}

    def token_for(self, source: str) -> ApiToken | None:
        """The source's file token: set in the environment, or the one its spider got for the
        client credentials (the crawl's spider; it asked before its first request)."""
        token = self.tokens.get(source)
        if token is None and source in self.minted_by_spider:
            spider = self.crawler.spider
            token = getattr(spider, "token", None) if getattr(spider, "name", None) == source else None
        return token

    def request_meta(self, item: Any) -> dict[str, Any]:
        """Meta of a file's requests: the source's file slot when it has one (``http/slots.py``),
        else its shared slot (one budget with its API requests), else Scrapy's per-host slot."""
        slot = budget_slot_of(str(ItemAdapter(item).get("source") or ""), self.budget_slots)
        return {SLOT_META: slot} if slot else {}

    # --- processing ---------------------------------------------------------------------------
    async def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        files = [dict(f) for f in adapter.get("files") or []]
        archives = self.archives_of(item, files)
        if not archives:
            return item
        previous = {(c.get("name"), c.get("url")): c for c in adapter.get("archive_contents") or []}
        contents: list[dict[str, Any]] = []
        for index, (file, fmt) in enumerate(archives):
            prior = previous.get((file.get("name") or "", file.get("url")))
            if reusable(prior, file):
                assert prior is not None
                contents.append(prior)
                self.stats.inc_value("envision/inspect/reused")
                continue
            report = new_report(file, fmt)
            if index >= self.config.max_archives:
                self._skip(report, f"more than ENVISION_INSPECT_MAX_ARCHIVES={self.config.max_archives} archives")
            elif not file.get("url"):
                self._skip(report, "no download URL")
            elif file.get("access") == "token" and self.token_for(str(adapter.get("source") or "")) is None:
                self._skip(report, f"access is 'token': no token for {adapter.get('source')} (ENVISION_FILE_AUTH)")
            elif file.get("access") not in (None, "open", "token"):
                self._skip(report, f"access is {file.get('access')!r}")
            else:
                await maybe_deferred_to_future(self._slots.acquire())
                try:
                    await self.inspect_file(item, file, report)
                finally:
                    self._slots.release()
            contents.append(report)
        adapter["archive_contents"] = contents
        summary = summarise(files, contents, name_limit=self.config.max_file_names)
        for key, value in summary.items():
            if key in adapter.field_names():
                adapter[key] = value
        return item

    def _skip(self, report: dict[str, Any], reason: str) -> None:
        report["status"], report["error"] = "skipped", reason
        self.stats.inc_value("envision/inspect/skipped")

    async def inspect_file(self, item: Any, file: dict[str, Any], report: dict[str, Any]) -> None:
        url = str(file["url"])
        host = urlsplit(url).hostname or ""
        reader = RangeReader(
            self.crawler,
            url,
            size=file.get("size") if isinstance(file.get("size"), int) else None,
            headers=self.request_headers(item, file),
            max_requests=self.config.max_requests,
            max_bytes=self.config.max_bytes,
            multirange=self.config.multirange and host not in self._no_multirange,
            keep_bytes=self.config.tail_bytes * 2,
            meta=self.request_meta(item),
        )
        try:
            await inspect_archive(reader, self.config, report)
        except RangeNotSupported as exc:
            report["status"], report["error"] = "range_unsupported", str(exc)
            self.stats.inc_value("envision/inspect/range_unsupported")
        except RangeNotSatisfiable as exc:
            report["status"] = "error"
            report["error"] = "empty file" if exc.total == 0 else str(exc)
        except BudgetExhausted as exc:
            report["status"] = "partial" if report["entries_listed"] else "error"
            report["error"] = str(exc)
        except (ArchiveError, FetchFailed) as exc:
            report["status"] = "partial" if report["entries_listed"] else "error"
            report["error"] = str(exc)[:500]
        except Exception as exc:  # a reader bug must not lose the record
            # attributed to the spider: a line naming none marks every crawler in the process (crawlall)
            logger.exception("archive inspection of %s failed", url, extra={"spider": self.crawler.spider})
            report["status"], report["error"] = "error", f"internal error: {type(exc).__name__}"
            self.stats.inc_value("envision/inspect/internal_errors")
        if reader.multirange_refused:
            self._no_multirange.add(host)
            if reader.redirected_to:
                self._no_multirange.add(urlsplit(reader.redirected_to).hostname or "")
            self.stats.inc_value("envision/inspect/multirange_refused")
        if reader.size is not None:
            report["archive_size"] = reader.size
            if reader.reported_size is not None and reader.reported_size != reader.size:
                report["size_mismatch"] = True
                self.stats.inc_value("envision/inspect/size_mismatch")
        report["requests"], report["bytes"] = reader.requests, reader.bytes
        self._count(report)

    def _count(self, report: dict[str, Any]) -> None:
        fmt, status = report["format"], report["status"]
        inc = self.stats.inc_value
        inc("envision/inspect/archives")
        inc(f"envision/inspect/{fmt}/archives")
        inc(f"envision/inspect/status/{status}")
        inc(f"envision/inspect/{fmt}/requests", report["requests"])
        inc(f"envision/inspect/{fmt}/bytes", report["bytes"])
        inc("envision/inspect/entries", report["entries_listed"])
        inc("envision/inspect/images_sniffed", sum(1 for i in report["images"] if i.get("format")))
        if status == "error":
            inc("envision/inspect/errors")
            inc(f"envision/inspect/{fmt}/errors")
        if report.get("time_budget_exceeded"):
            inc("envision/inspect/time_budget")
        log = logger.info if status in ("complete", "partial") else logger.warning
        log(
            "inspected %s (%s): %s, %s/%s entries, %d requests, %d bytes%s",
            report["name"],
            report["format"],
            status,
            report["entries_listed"],
            report["entries_total"] if report["entries_total"] is not None else "?",
            report["requests"],
            report["bytes"],
            f" ({report['error']})" if report["error"] else "",
            extra={"spider": self.crawler.spider},
        )

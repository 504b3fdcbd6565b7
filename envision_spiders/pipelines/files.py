"""Gated downloads: a FilesPipeline that fetches the files of EYE_IMAGING records, any size,
in bounded memory, verified against the repository's checksums, resumable after a crash.

Only Scrapy's documented FilesPipeline interface is overridden:

``get_media_requests``
    applies the gate (``ENVISION_DOWNLOAD_THRESHOLD``, label, open access, byte limits), locks
    the record (``downloads/lock.py``: its folder's flock and its ``download`` lease in the
    shared state; a record another download or node holds is skipped, logged and counted as
    ``envision/download/records/locked``), writes the record's
    ``manifest.json`` with status ``pending`` and returns one request per file.
``file_path``
    ``{source}/{source_id}/<the file's own relative name, sanitised>`` below ``FILES_STORE``
    (a local folder, or ``s3://bucket/prefix``: then ``downloads/objects.py`` writes verified
    objects and multipart uploads, and the manifest sits next to them in the bucket).
``media_to_download``
    skips files already present and verified; otherwise fetches the file itself, through
    ``crawler.engine.download_async`` (whole body up to ``ENVISION_DOWNLOAD_CHUNK_THRESHOLD``,
    fixed-size ranges above it: see ``downloads/fetch.py``) and returns its FileInfo. The
    stock whole-body path of FilesPipeline is therefore never taken: it buffers any size in
    memory and cannot bound concurrency per host.
``file_downloaded``
    persists a whole-body response: ``.part``, hashes, verification, rename.
``item_completed``
    writes the final manifest (``complete`` / ``failed: ...``), counts outcomes and releases
    the record's lock.

A record another download holds is skipped, or with ENVISION_DOWNLOAD_TAKEOVER_WAIT waited for
(``downloads/takeover.py``): ``scrapy download``'s spider offers it again, and at the end of a
crawl this pipeline does (``spider_idle``), until its lease is free and it is taken over.

One writer per record: the lock is held from reading the previous manifest to writing the final
one, so no other process (a second crawl, ``scrapy download``) writes the record's ``.part``
files, sidecars or manifest meanwhile. That exclusive access is what makes the hashes computed
while bytes stream in (``downloads/fetch.py``) the hashes of the file on disk.

The item itself is not changed (the record schema has no download fields): the manifest is
the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline
from scrapy.pipelines.media import FileInfo, FileInfoOrError, MediaPipeline
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import Deferred

from envision_spiders.downloads.config import DownloadConfig
from envision_spiders.downloads.fetch import (
    DownloadFailed,
    FileFetcher,
    HostLimiter,
    describe_error,
    result_fields,
)
from envision_spiders.downloads.gate import MultiHasher, file_gate, held_for_review, parse_checksum, record_gate
from envision_spiders.downloads.lock import FolderBusy, RecordLock
from envision_spiders.downloads.manifest import (
    COMPLETE,
    MANIFEST_NAME,
    PENDING,
    file_entry,
    load_manifest,
    new_manifest,
    previous_files,
    record_status,
    utc_now,
    write_manifest,
)
from envision_spiders.downloads.objects import MultipartDownload, S3Files
from envision_spiders.downloads.paths import record_dir_name, unique_names
from envision_spiders.downloads.takeover import takeover_for_crawler
from envision_spiders.http.credentials import ApiToken, client_credentials_of, client_credentials_token
from envision_spiders.http.slots import SLOT_META, budget_slot_of, configured_budget_slots
from envision_spiders.items import record_owner
from envision_spiders.state.db import Owner, state_for_crawler
from envision_spiders.state.leases import LeaseKeeper, lease_keeper_for_crawler
from envision_spiders.state.objects import S3Location, client_for_crawler, is_s3_url

logger = logging.getLogger(__name__)

META_KEY = "envision_file"
RESULT_KEYS = ("md5", "sha256", "bytes", "verification", "mode", "completed_at")


def default_files_store(settings: Any) -> str:
    """``FILES_STORE`` when the user set it, else ``{ENVISION_DATA_DIR}/downloads``."""
    return settings.get("FILES_STORE") or os.path.join(settings.get("ENVISION_DATA_DIR") or "data", "downloads")


class GatedFilesPipeline(FilesPipeline):
    MEDIA_NAME = "file"

    def __init__(self, store_uri: str, *, crawler: Crawler, config: DownloadConfig | None = None) -> None:
        config = config or DownloadConfig.from_settings(crawler.settings)
        self.objects: S3Files | None = None
        if is_s3_url(store_uri):
            self.objects = S3Files(client_for_crawler(crawler), S3Location.parse(store_uri))
            # the record locks stay on this machine's disk (one writer per record here; across
            # machines, the shared state's leases); Scrapy's own store is never used for writing,
            # so it gets that local folder instead of a second S3 client
            self.root = Path(crawler.settings.get("ENVISION_DATA_DIR") or "data") / "download-locks"
        elif "://" in store_uri and not store_uri.startswith("file://"):
            raise NotConfigured(f"FILES_STORE must be a local path or s3://bucket/prefix, not {store_uri}")
        else:
            self.root = Path(store_uri.removeprefix("file://"))
        super().__init__(str(self.root) if self.objects else store_uri, crawler=crawler)
        self.config = config
        self.budget_slots = configured_budget_slots(crawler.settings)
        self.fetcher = FileFetcher(crawler, config.fetch, HostLimiter(config.concurrency_per_host, config.concurrency))
        self.multipart = MultipartDownload(self.fetcher, self.objects) if self.objects else None
        self.reserved_bytes = 0
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        self.takeover = takeover_for_crawler(crawler)  # records held elsewhere, waited for and taken over
        self._revisits: set[Deferred[Any]] = set()  # held records offered again at the end of a crawl
        if self.takeover.enabled:
            crawler.signals.connect(self._revisit_held, signal=signals.spider_idle)
        self._results: dict[str, dict[str, Any]] = {}  # file path -> outcome, until item_completed
        # sources that issue tokens for client credentials (Dryad), with no token set: one is
        # asked for when the first record of the source arrives (a task, so records arriving
        # meanwhile wait for the same answer)
        self._credentials = {source: spec for source, spec in client_credentials_of(crawler.settings).items()
                             if source not in config.auth}
        self._token_requests: dict[str, asyncio.Future[ApiToken | None]] = {}
        self._accepted: set[Owner] | None = None  # records a curator accepted, read once (accepted_records)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> GatedFilesPipeline:
        config = DownloadConfig.from_settings(crawler.settings)  # every setting read and checked once
        cls._update_stores(crawler.settings)
        store = default_files_store(crawler.settings)
        if not is_s3_url(store):
            # Scrapy's FSFilesStore checks, then creates: two processes starting at once (scrapy
            # download --processes, two nodes on one disk) would race into FileExistsError
            Path(store.split("://", 1)[-1]).mkdir(parents=True, exist_ok=True)
        return cls(store, crawler=crawler, config=config)

    # --- stats -----------------------------------------------------------------------------
    def _count(self, key: str, value: int = 1) -> None:
        self.crawler.stats.inc_value(f"envision/download/{key}", value)

    # --- the gate --------------------------------------------------------------------------
    async def process_item(self, item: Any) -> Any:
        source = str(ItemAdapter(item).get("source") or "")
        if source in self._credentials:
            await self._client_credentials_token(source)
        return await super().process_item(item)

    async def _client_credentials_token(self, source: str) -> None:
        if source not in self._token_requests:
            root, spec = self._credentials[source]
            self._token_requests[source] = asyncio.ensure_future(
                client_credentials_token(self.crawler, root, spec, logger))
        token = await self._token_requests[source]
        if token is not None and source not in self.config.auth:
            self.config = dataclasses.replace(self.config, auth={**self.config.auth, source: token})

    def get_media_requests(self, item: Any, info: MediaPipeline.SpiderInfo) -> list[Request]:
        adapter = ItemAdapter(item)
        reason = record_gate(item, self.config.threshold, self.config.eye_evidence_required)
        if held_for_review(reason) and record_owner(item) in self.accepted_records():
            reason = None  # a curator accepted it (scrapy download --record): the eye-evidence rule is met
            self._count("records/accepted")
            logger.info("downloading %s:%s: accepted by a curator after review", adapter.get("source"),
                        adapter.get("source_id"))
        if reason:
            self._count("records/not_gated")
            if held_for_review(reason):  # confident: a person should see it (scrapy report lists them)
                self._count("records/needs_review")
                logger.info("not downloading %s:%s (%r): %s", adapter.get("source"), adapter.get("source_id"),
                            str(adapter.get("title") or "")[:80], reason)
            else:
                logger.debug("not downloading %s:%s: %s", adapter.get("source"), adapter.get("source_id"), reason)
            return []
        source, source_id = str(adapter["source"]), str(adapter["source_id"])
        if not self.takeover.is_revisit(f"{source}:{source_id}"):  # a revisit was counted the first time
            self._count("records/gated")
        record_dir = record_dir_name(source, source_id)
        lock = self._lock(source, source_id, self.root / record_dir, item)
        if lock is None:
            return []
        try:
            requests = self._plan(adapter, source, source_id, record_dir, lock)
        except BaseException:
            lock.release()
            raise
        if not requests:
            lock.release()
        return requests

    def accepted_records(self) -> set[Owner]:
        """The records a curator accepted after review (the state's ``accepted_for_download``),
        read once, when the first record is held for review: most crawls never need them."""
        if self._accepted is None:
            self._accepted = state_for_crawler(self.crawler).accepted_for_download()
        return self._accepted

    @property
    def leases(self) -> LeaseKeeper:
        """This crawl's leases (opened with the state on the first gated record)."""
        return lease_keeper_for_crawler(self.crawler)

    def _lock(self, source: str, source_id: str, folder: Path, item: Any) -> RecordLock | None:
        """The record's lock (folder + lease), or None (logged, counted) when this record is not
        ours to write. A record another download holds waits for its takeover
        (downloads/takeover.py) when ENVISION_DOWNLOAD_TAKEOVER_WAIT allows it."""
        key = f"{source}:{source_id}"
        try:
            lock = RecordLock.acquire(folder, self.leases, key)
        except FolderBusy as exc:
            if not self.takeover.enabled:
                self._count("records/locked")
                logger.warning("not downloading %s: %s; its manifest is left to that download", key, exc)
            elif self.takeover.defer(key, item, lambda: self._manifest_complete(record_dir_name(source, source_id))):
                self._count("records/locked")
                logger.info("not downloading %s now: %s", key, exc)
            return None
        except OSError as exc:
            self.takeover.dropped(key)
            self._count("records/lock_failed")
            logger.error("not downloading %s: cannot lock %s: %s", key, folder, describe_error(exc))
            return None
        self.takeover.taken(key)
        return lock

    def _revisit_held(self) -> None:
        """At the end of a crawl (the engine is idle): offer the records another download held
        to this pipeline again, as ``scrapy download`` does from its spider; keep the spider open
        while any is waited for or being downloaded. The engine asks every few seconds (its
        heartbeat), which is how often the records are looked at here. In ``scrapy download``
        the spider's own loop has emptied the list before the engine is ever idle."""
        if not self.takeover.waiting and not self._revisits:
            return
        for item in self.takeover.due():
            adapter = ItemAdapter(item)
            key = f"{adapter.get('source')}:{adapter.get('source_id')}"
            revisit = deferred_from_coro(self.process_item(item))
            self._revisits.add(revisit)
            revisit.addErrback(lambda failure, key=key: logger.error("taking over %s failed: %s", key, failure.value))
            revisit.addBoth(self._revisit_ended, revisit, key)
        raise DontCloseSpider

    def _revisit_ended(self, _: Any, revisit: Deferred[Any], key: str) -> None:
        self._revisits.discard(revisit)
        self.takeover.settled(key)

    def _manifest_complete(self, record_dir: str) -> bool:
        return (self._load_manifest(record_dir) or {}).get("status") == COMPLETE

    def _plan(
        self, adapter: ItemAdapter, source: str, source_id: str, record_dir: str, lock: RecordLock
    ) -> list[Request]:
        """Under the record's lock: the pending manifest and one request per file to fetch
        (none when the record is skipped by a limit; its manifest says why). A record with
        requests keeps ``lock`` until item_completed."""
        manifest_path = self._manifest_location(record_dir)
        previous = previous_files(self._load_manifest(record_dir))
        entries = [dict(f) for f in adapter.get("files") or [] if isinstance(f, dict) and f.get("name")]
        safe_names = unique_names([e["name"] for e in entries])
        manifest_files: list[dict[str, Any]] = []
        selected: list[tuple[dict[str, Any], str]] = []
        for entry, safe in zip(entries, safe_names):
            path = f"{record_dir}/{safe}"
            why_not = file_gate(entry, has_token=source in self.config.auth)
            manifest_files.append(file_entry(entry["name"], path, entry, f"skipped: {why_not}" if why_not else PENDING))
            if not why_not:
                selected.append((entry, path))
        started = utc_now()
        to_fetch = 0
        for entry, path in selected:
            before = previous.get(entry["name"])
            if self._present(path, entry, before):  # keep its verified result should this run die
                assert before is not None
                by_name = next(f for f in manifest_files if f["path"] == path)
                by_name.update({k: before.get(k) for k in RESULT_KEYS}, status=COMPLETE)
            else:
                to_fetch += int(entry.get("size") or 0)
        total = sum(int(e.get("size") or 0) for e, _ in selected)
        skip = None
        if not selected:
            skip = "no open file to download"
        elif self.config.max_record_bytes and total > self.config.max_record_bytes:
            skip = f"record is {total} bytes, above ENVISION_DOWNLOAD_MAX_RECORD_BYTES ({self.config.max_record_bytes})"
            self._count("records/over_record_limit")
        elif self.config.max_total_bytes and self.reserved_bytes + to_fetch > self.config.max_total_bytes:
            skip = f"crawl byte budget ENVISION_DOWNLOAD_MAX_TOTAL_BYTES ({self.config.max_total_bytes}) exhausted"
            self._count("records/over_total_limit")
        if skip:
            for f in manifest_files:
                if f["status"] == PENDING:
                    f["status"] = f"skipped: {skip}"
            self._write_manifest(record_dir, new_manifest(adapter.asdict(), manifest_files, started, f"skipped: {skip}"))
            logger.info("not downloading %s:%s: %s", source, source_id, skip)
            return []
        self.reserved_bytes += to_fetch
        self._count("bytes_planned", to_fetch)  # the progress line's "files done / planned"
        self._write_manifest(record_dir, new_manifest(adapter.asdict(), manifest_files, started, PENDING))
        self._records[(source, source_id)] = {
            "record_dir": record_dir,
            "manifest_path": manifest_path,
            "files": manifest_files,
            "started": started,
            "selected": [p for _, p in selected],
            "lock": lock,
        }
        token = self.config.auth.get(source)
        # the source's budget (its file rate, or its one rate for every request), as inspection's
        budget_slot = budget_slot_of(source, self.budget_slots)
        requests = []
        for entry, path in selected:
            headers = {"Accept": "*/*", "Accept-Encoding": "identity", **(token.headers_for(entry["url"]) if token else {})}
            meta = {META_KEY: {"path": path, "entry": entry, "previous": previous.get(entry["name"])},
                    **({SLOT_META: budget_slot} if budget_slot else {})}
            requests.append(Request(entry["url"], headers=headers, meta=meta, callback=NO_CALLBACK, dont_filter=True))
        return requests

    def file_path(
        self,
        request: Request,
        response: Response | None = None,
        info: MediaPipeline.SpiderInfo | None = None,
        *,
        item: Any = None,
    ) -> str:
        return request.meta[META_KEY]["path"]

    # --- where manifests live ------------------------------------------------------------
    def _manifest_location(self, record_dir: str) -> str:
        if self.objects:
            return self.objects.url(f"{record_dir}/{MANIFEST_NAME}")
        return str(self.root / record_dir / MANIFEST_NAME)

    def _load_manifest(self, record_dir: str) -> dict[str, Any] | None:
        if self.objects:
            return self.objects.load_manifest(record_dir)
        return load_manifest(self.root / record_dir / MANIFEST_NAME)

    def _write_manifest(self, record_dir: str, manifest: dict[str, Any]) -> None:
        if self.objects:
            self.objects.write_manifest(record_dir, manifest)
        else:
            write_manifest(self.root / record_dir / MANIFEST_NAME, manifest, self.config.fsync)

    # --- skip what is there ---------------------------------------------------------------
    def _present(self, path: str, entry: dict[str, Any], previous: dict[str, Any] | None) -> bool:
        """The file is stored (on disk, or an object: its HEAD), complete in the last manifest,
        for the same repository file."""
        if not previous or previous.get("status") != COMPLETE:
            return False
        if previous.get("repository_checksum") != entry.get("checksum") or previous.get("url") != entry.get("url"):
            return False
        if self.objects:
            size = self.objects.size(path)
            if size is None:
                return False
        else:
            try:
                size = (self.root / path).stat().st_size
            except OSError:
                return False
        return size == previous.get("bytes") and (entry.get("size") in (None, size))

    async def _reverified(self, dest: Path, entry: dict[str, Any], previous: dict[str, Any]) -> bool:
        repository = parse_checksum(entry.get("checksum"))
        if self.objects:
            path = str(dest.relative_to(self.root))
            digests = await asyncio.to_thread(self.objects.rehash, path, repository)
            return digests.get("sha256") == previous.get("sha256")

        def rehash() -> dict[str, str]:
            hasher = MultiHasher(repository)
            with open(dest, "rb") as fh:
                while block := fh.read(1 << 20):
                    hasher.update(block)
            return hasher.hexdigests()

        digests = await asyncio.to_thread(rehash)
        return digests.get("sha256") == previous.get("sha256")

    # --- download ------------------------------------------------------------------------
    async def media_to_download(
        self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> FileInfo:
        meta = request.meta[META_KEY]
        path, entry, previous = meta["path"], meta["entry"], meta["previous"]
        dest = self.root / path
        present = await asyncio.to_thread(self._present, path, entry, previous) if self.objects else self._present(path, entry, previous)
        if present and (not self.config.reverify or await self._reverified(dest, entry, previous)):
            self._count("files/already_present")
            self.inc_stats("uptodate")
            self._results[path] = {
                **{k: previous.get(k) for k in RESULT_KEYS},
                "status": COMPLETE,
            }
            return {"url": request.url, "path": path, "checksum": previous.get("sha256"), "status": "uptodate"}
        size = entry.get("size") if isinstance(entry.get("size"), int) else None
        repository = parse_checksum(entry.get("checksum"))
        try:
            self._check_lease(item)
            if size is not None and size <= self.fetcher.config.chunk_threshold:
                response = await self.fetcher.fetch_whole_response(request, size)
                await self.file_downloaded(response, request, info, item=item)
                result = self._results[path]
            elif self.multipart:
                fetched = await self.multipart.fetch(request, path, size, repository)
                result = {**result_fields(fetched), "mode": fetched.mode}
            else:
                fetched = await self.fetcher.fetch_ranged(request, dest, size, repository)
                result = {**result_fields(fetched), "mode": fetched.mode}
            result.update(status=COMPLETE, completed_at=utc_now())
            status = "downloaded"
            self._count("files/complete")
            self._count("bytes_written", result["bytes"])
        except Exception as exc:  # HTTP errors, mismatches, network errors after retries, disk full
            status = "failed"
            reason = str(exc) if isinstance(exc, DownloadFailed) else describe_error(exc)
            result = {"status": f"failed: {reason}"}
            self._count("files/failed")
            logger.warning("download failed: %s -> %s: %s", request.url, path, reason)
        self._results[path] = result
        self.inc_stats(status)
        return {"url": request.url, "path": path, "checksum": result.get("sha256"), "status": status}

    def _check_lease(self, item: Any) -> None:
        """A record whose lease was taken over (it expired: this process stalled longer than
        ENVISION_LEASE_SECONDS) is another holder's now: its files not started yet are left to it."""
        if item is None:
            return
        adapter = ItemAdapter(item)
        planned = self._records.get((str(adapter.get("source")), str(adapter.get("source_id"))))
        if planned is not None and not planned["lock"].held:
            raise DownloadFailed("the record's download lease was taken over by another holder")

    async def file_downloaded(
        self, response: Response, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> str:
        meta = request.meta[META_KEY]
        entry = meta["entry"]
        size = entry.get("size") if isinstance(entry.get("size"), int) else None
        if self.objects:
            try:
                fetched = await asyncio.to_thread(
                    self.objects.put_verified, meta["path"], response.body, parse_checksum(entry.get("checksum")), size, "whole"
                )
            except DownloadFailed:
                self.crawler.stats.inc_value("envision/download/checksum_mismatch")
                raise
        else:
            fetched = await self.fetcher.persist_body(
                response.body, self.root / meta["path"], parse_checksum(entry.get("checksum")), size, "whole"
            )
        self._results[meta["path"]] = {**result_fields(fetched), "mode": fetched.mode}
        return fetched.digests["sha256"]

    # --- manifest ------------------------------------------------------------------------
    def item_completed(self, results: list[FileInfoOrError], item: Any, info: MediaPipeline.SpiderInfo) -> Any:
        adapter = ItemAdapter(item)
        key = (str(adapter.get("source")), str(adapter.get("source_id")))
        state = self._records.pop(key, None)
        if state is None:  # not gated, skipped by a limit, or locked by another download
            return item
        try:
            self._complete_record(state, results, adapter, key)
        finally:
            state["lock"].release()
        return item

    def _complete_record(
        self, state: dict[str, Any], results: list[FileInfoOrError], adapter: ItemAdapter, key: tuple[str, str]
    ) -> None:
        by_path = {f["path"]: f for f in state["files"]}
        for path, (ok, value) in zip(state["selected"], results):
            if ok:
                by_path[path].update(self._result_for(path, value))
            else:
                by_path[path]["status"] = f"failed: {describe_error(value.value)}"
        status = record_status([by_path[p] for p in state["selected"]])
        manifest = new_manifest(adapter.asdict(), state["files"], state["started"], status)
        self._write_manifest(state["record_dir"], manifest)
        self._count("records/complete" if status == COMPLETE else "records/failed")
        log = logger.info if status == COMPLETE else logger.warning
        log("download %s:%s %s -> %s", key[0], key[1], status, state["manifest_path"])

    def close_spider(self) -> None:
        """Release the locks of records whose download never completed (a crawl stopped mid-way):
        their manifests stay ``pending`` and the next run resumes them."""
        for state in self._records.values():
            state["lock"].release()
        self._records.clear()

    def _result_for(self, path: str, value: FileInfo) -> dict[str, Any]:
        """The outcome media_to_download recorded. When Scrapy answered from its per-crawl cache
        (another record lists the same URL), the verified file is hard-linked into this record."""
        if value.get("path") == path:
            return self._results.pop(path, {"status": "failed: no result recorded"})
        if self.objects:
            return self._copied_for(path, value)
        other = self.root / value["path"]
        if value.get("status") == "failed" or not other.is_file():
            return {"status": f"failed: same URL as {value['path']}, which failed"}
        dest = self.root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        try:
            os.link(other, dest)
        except OSError:
            shutil.copyfile(other, dest)
        self._count("files/linked_duplicate_url")
        return {
            "sha256": value.get("checksum"),
            "bytes": dest.stat().st_size,
            "verification": f"same URL as {value['path']}, verified there",
            "mode": "linked",
            "status": COMPLETE,
            "completed_at": utc_now(),
        }

    def _copied_for(self, path: str, value: FileInfo) -> dict[str, Any]:
        """The object-store twin of the hard link: a server-side copy of the verified object."""
        assert self.objects is not None
        if value.get("status") == "failed" or self.objects.size(value["path"]) is None:
            return {"status": f"failed: same URL as {value['path']}, which failed"}
        size = self.objects.copy(value["path"], path)
        self._count("files/linked_duplicate_url")
        return {
            "sha256": value.get("checksum"),
            "bytes": size,
            "verification": f"same URL as {value['path']}, verified there",
            "mode": "copied",
            "status": COMPLETE,
            "completed_at": utc_now(),
        }

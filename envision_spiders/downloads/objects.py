"""Gated downloads into an S3-compatible object store (``FILES_STORE = s3://bucket/prefix``).

What enters: the pipeline's verified whole bodies, and ranged downloads driven through
``FileFetcher`` (the same Range path, limits and counters as local files). What leaves: objects
``{prefix}/{source}/{source_id}/<name>`` and the record's ``manifest.json`` next to them, never
an unverified object under a final key. Who calls it: ``pipelines/files.py`` when FILES_STORE is
an ``s3://`` URL, with the crawl's one client (``state.objects.client_for_crawler``).

* A whole body (small file, or a server that ignores Range) is hashed and verified in memory
  (it already is in memory: the downloader buffered it), then written with one PUT carrying its
  ``Content-MD5`` (the store rejects a body damaged on the way) and our sha256 as metadata.
* A ranged file is a multipart upload: each ranged chunk becomes one part (parts of at least
  5 MiB, S3's minimum except for the last, and at most 10,000 parts per file). Chunks are hashed
  in file order as they arrive, as for local files; memory holds at most the chunks in flight
  (``ENVISION_DOWNLOAD_RANGES_IN_FLIGHT``) and those waiting to be hashed, never the file.
  ``CompleteMultipartUpload`` runs only after size and checksum verify; a mismatch aborts the
  upload, so nothing appears under the final key.
* Resume: the upload's journal ``<key>.part.json`` (an object next to the file: URL, size,
  part size, validator, upload id) is written when the upload begins; the finished parts are
  recovered from the store itself with ListParts, so a part uploaded just before a crash counts
  even if nothing else was written after it. The journal lives in the object store, not the state
  DB, so that it travels with the upload: any node holding the record can resume it, with or
  without a shared state database. An unfinished upload cannot be read back, and the file's
  md5/sha256 must be computed over every byte in order, so a resumed download fetches the
  finished parts' ranges again to hash them; each is checked against the part's ETag (its MD5)
  and not uploaded again. What resume saves is the upload, not the origin's bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from typing import Any

from scrapy import Request

from envision_spiders.downloads.chunks import plan_chunks
from envision_spiders.downloads.fetch import (
    ChangedMidway,
    DownloadFailed,
    Fetched,
    FileFetcher,
    FileProgress,
    exact_body,
    read_chunk,
)
from envision_spiders.downloads.gate import Checksum, MultiHasher, verify
from envision_spiders.downloads.manifest import MANIFEST_NAME, utc_now
from envision_spiders.downloads.paths import SIDECAR_SUFFIX
from envision_spiders.state.objects import S3Location, is_missing
from envision_spiders.state.store import record_bytes

logger = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PARTS = 10_000
JOURNAL_VERSION = 1


def part_size(chunk_size: int, size: int | None) -> int:
    """The chunk size of a file going to S3: at least 5 MiB, and large enough for 10,000 parts
    to hold ``size`` bytes (rounded up to whole MiB)."""
    chunk = max(chunk_size, MIN_PART_SIZE)
    if size and -(-size // chunk) > MAX_PARTS:
        mib = 1024 * 1024
        smallest = -(-size // MAX_PARTS)  # ceil
        chunk = -(-smallest // mib) * mib
    return chunk


def _etag_md5(etag: str | None) -> str:
    return (etag or "").strip('"').lower()


class S3Files:
    """The download objects of one FILES_STORE URL, over a shared botocore client. Every call
    blocks: the pipeline runs them in threads (``asyncio.to_thread``)."""

    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location
        self.bucket = location.bucket

    def key(self, path: str) -> str:
        return self.location.key(path)

    def url(self, path: str) -> str:
        return self.location.url(path)

    # --- small JSON objects: manifests and upload journals --------------------------------
    def load_json(self, path: str) -> dict[str, Any] | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(path))["Body"]
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        with body:
            try:
                data = json.loads(body.read())
            except ValueError:
                return None
        return data if isinstance(data, dict) else None

    def put_json(self, path: str, obj: Any) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.key(path), Body=record_bytes(obj), ContentType="application/json"
        )

    def delete(self, path: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(path))

    def load_manifest(self, record_dir: str) -> dict[str, Any] | None:
        return self.load_json(f"{record_dir}/{MANIFEST_NAME}")

    def write_manifest(self, record_dir: str, manifest: dict[str, Any]) -> None:
        manifest["updated_at"] = utc_now()
        self.put_json(f"{record_dir}/{MANIFEST_NAME}", manifest)

    # --- files ----------------------------------------------------------------------------
    def size(self, path: str) -> int | None:
        """The object's size from a HEAD, None when there is none."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(path))
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    def rehash(self, path: str, repository: Checksum | None) -> dict[str, str]:
        """The stored object's digests, streamed in 1 MiB blocks (ENVISION_DOWNLOAD_REVERIFY)."""
        hasher = MultiHasher(repository)
        body = self.client.get_object(Bucket=self.bucket, Key=self.key(path))["Body"]
        with body:
            while block := body.read(1 << 20):
                hasher.update(block)
        return hasher.hexdigests()

    def put_verified(
        self, path: str, body: bytes, repository: Checksum | None, expected_size: int | None, mode: str
    ) -> Fetched:
        """Hash and verify ``body``; only a verified body is written, with one PUT."""
        hasher = MultiHasher(repository)
        hasher.update(body)
        digests = hasher.hexdigests()
        ok, verification = verify(digests, len(body), repository, expected_size)
        if not ok:
            raise DownloadFailed(verification)
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(path),
            Body=body,
            ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode(),
            Metadata={"sha256": digests["sha256"]},
        )
        return Fetched(len(body), digests, verification, len(body), mode)

    def copy(self, source_path: str, path: str) -> int:
        """A server-side copy (a second record listing the same URL); returns the size."""
        self.client.copy_object(
            Bucket=self.bucket, Key=self.key(path), CopySource={"Bucket": self.bucket, "Key": self.key(source_path)}
        )
        return self.size(path) or 0


class MultipartDownload:
    """Ranged downloads into multipart uploads; shares the crawl's FileFetcher (limits, stats)."""

    def __init__(self, fetcher: FileFetcher, files: S3Files) -> None:
        self.fetcher = fetcher
        self.files = files
        self.stats = fetcher.stats

    async def fetch(self, base: Request, path: str, size: int | None, repository: Checksum | None) -> Fetched:
        journal_path = path + SIDECAR_SUFFIX
        for attempt in (1, 2):
            try:
                return await self._attempt(base, path, journal_path, size, repository)
            except ChangedMidway as exc:
                self.stats.inc_value("envision/download/changed_midway")
                await self._abandon(journal_path)
                logger.warning("%s changed on the server during the download (%s); attempt %d", base.url, exc, attempt)
        raise DownloadFailed("the file changed on the server during the download, twice")

    async def _abandon(self, journal_path: str) -> None:
        """Abort the journal's upload and drop the journal: its parts are of no use."""
        journal = await asyncio.to_thread(self.files.load_json, journal_path)
        if journal and journal.get("upload_id"):
            await asyncio.to_thread(self._abort, str(journal["key"]), str(journal["upload_id"]))
        await asyncio.to_thread(self.files.delete, journal_path)

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.files.client.abort_multipart_upload(Bucket=self.files.bucket, Key=key, UploadId=upload_id)
        except Exception as exc:
            if not is_missing(exc):
                raise
            return  # gone already
        self.stats.inc_value("envision/download/uploads_aborted")

    def _uploaded_parts(self, key: str, upload_id: str) -> dict[int, str] | None:
        """Part number -> MD5 (ETag) of the parts the store holds; None when the upload is gone."""
        parts: dict[int, str] = {}
        try:
            pages = self.files.client.get_paginator("list_parts").paginate(
                Bucket=self.files.bucket, Key=key, UploadId=upload_id
            )
            for page in pages:
                for part in page.get("Parts") or []:
                    parts[int(part["PartNumber"])] = _etag_md5(part.get("ETag"))
        except Exception as exc:
            if is_missing(exc):
                return None
            raise
        return parts

    async def _attempt(
        self, base: Request, path: str, journal_path: str, size: int | None, repository: Checksum | None
    ) -> Fetched:
        config = self.fetcher.config
        key = self.files.key(path)
        journal = await asyncio.to_thread(self.files.load_json, journal_path)
        uploaded: dict[int, str] | None = None
        if (
            journal
            and journal.get("version") == JOURNAL_VERSION
            and journal.get("url") == base.url
            and journal.get("key") == key
            and (size is None or journal.get("size") == size)
        ):
            uploaded = await asyncio.to_thread(self._uploaded_parts, key, str(journal["upload_id"]))
        first_body: bytes | None = None
        if uploaded is not None:
            assert journal is not None
            size, chunk, upload_id = int(journal["size"]), int(journal["part_size"]), str(journal["upload_id"])
            validator = dict(journal.get("validator") or {})
            mode = "ranged-resumed"
            self.stats.inc_value("envision/download/resumed")
            self.stats.inc_value("envision/download/parts_at_resume", len(uploaded))
        else:
            uploaded = {}
            if journal:
                await self._abandon(journal_path)
            mode = "ranged"
            chunk = part_size(config.chunk_size, size)
            probe, validator = await self.fetcher.probe(base, size, chunk)
            if probe.whole:  # the server ignores Range: the whole body fitted under the cap
                self.stats.inc_value("envision/download/range_ignored")
                return await asyncio.to_thread(
                    self.files.put_verified, path, probe.parts[0][1], repository, size, "whole-fallback"
                )
            first_body = exact_body(probe, 0, None, size)
            assert probe.total is not None
            size = probe.total
            if part_size(config.chunk_size, size) != chunk:  # a file of unknown size needs larger parts
                chunk, first_body = part_size(config.chunk_size, size), None
            created = await asyncio.to_thread(
                self.files.client.create_multipart_upload, Bucket=self.files.bucket, Key=key
            )
            upload_id = created["UploadId"]
            journal = {
                "version": JOURNAL_VERSION, "url": base.url, "key": key, "size": size, "part_size": chunk,
                "validator": validator, "upload_id": upload_id, "started_at": utc_now(),
            }
            await asyncio.to_thread(self.files.put_json, journal_path, journal)
        assert size is not None
        chunks = plan_chunks(size, chunk)
        reader = self.fetcher.reader(base, validator)
        etags: dict[int, str] = {}
        fetched = 0

        async def upload(i: int, body: bytes) -> None:
            number = i + 1
            md5 = hashlib.md5(body).hexdigest()
            if uploaded.get(number) == md5:  # in the store already (before the crash): same bytes
                etags[number] = md5
                self.stats.inc_value("envision/download/parts_reused")
                return
            answer = await asyncio.to_thread(
                self.files.client.upload_part, Bucket=self.files.bucket, Key=key, UploadId=upload_id,
                PartNumber=number, Body=body, ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode(),
            )
            etags[number] = _etag_md5(answer.get("ETag")) or md5
            self.stats.inc_value("envision/download/parts_uploaded")

        async def fetch_chunk(i: int) -> bytes:
            start, end = chunks[i]
            body = await read_chunk(reader, start, end, size)
            await upload(i, body)
            self.stats.inc_value("envision/download/chunks")
            return body

        hasher = MultiHasher(repository)
        meter = FileProgress(base.url, size, config.progress_interval)
        tasks: dict[int, asyncio.Task[bytes]] = {}
        next_start = 0
        try:
            if first_body is not None:
                await upload(0, first_body)
                fetched += len(first_body)
                next_start = 1
            for i, (_start, end) in enumerate(chunks):
                while next_start < len(chunks) and len(tasks) < config.ranges_in_flight:
                    tasks[next_start] = asyncio.ensure_future(fetch_chunk(next_start))
                    next_start += 1
                if i == 0 and first_body is not None:
                    data, first_body = first_body, None
                else:
                    data = await tasks.pop(i)
                    fetched += len(data)
                await asyncio.gather(*(asyncio.to_thread(update) for update in hasher.updaters(data)))
                del data
                meter.update(end)
        finally:
            for task in tasks.values():
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks.values(), return_exceptions=True)
        meter.finished()
        self.stats.inc_value("envision/download/ranged_files")
        digests = hasher.hexdigests()
        ok, verification = verify(digests, hasher.size, repository, size)
        if not ok:
            # never completed: the final key never holds these bytes
            self.stats.inc_value("envision/download/checksum_mismatch")
            await asyncio.to_thread(self._abort, key, upload_id)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.files.delete, journal_path)
            raise DownloadFailed(verification)
        parts = [{"PartNumber": n, "ETag": f'"{etags[n]}"'} for n in sorted(etags)]
        await asyncio.to_thread(
            self.files.client.complete_multipart_upload,
            Bucket=self.files.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts},
        )
        self.stats.inc_value("envision/download/uploads_completed")
        await asyncio.to_thread(self.files.delete, journal_path)
        return Fetched(size, digests, verification, fetched, mode)


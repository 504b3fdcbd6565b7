"""The per-record JSON store: ``metadata/{source}/{source_id}.json``, atomic writes.

Where: ``ENVISION_STORE_URL``; empty (the default) is files under ``ENVISION_DATA_DIR``
(:class:`LocalRecords`, replaced atomically with ``os.replace``), ``s3://bucket/prefix`` is
objects in an S3-compatible store (:class:`S3Records`; one PUT per record, and a PUT is atomic:
a reader sees the old object or the new one; the PUTs of one state transaction are sent together,
concurrently, before it commits: :meth:`S3Records.puts_together`). Both speak the same small interface (put, get,
exists, iterate), so the writer below and the readers (``stored_records``) do not care which.

``RecordStore`` is the only writer of those files during a crawl: the store pipeline writes a
record through it, and dedup asks it to mark a record superseded or to give the canonical
record a DOI it lacked. Both go through the state
DB's write lock (``StateDB.immediate``), so the decision (who owns a DOI) and the file that
reflects it change together: a stale rewrite can never land over a newer record, whichever
crawl or process holds the other end. Reading (``load_record``, ``iter_stored_records``,
``stored_records``) needs no lock: files and objects are replaced atomically.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import json
import os
import re
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from envision_spiders.jsoncodec import discard_staged, json_line, stage_bytes, write_json_atomic
from envision_spiders.state.db import Owner, StateDB, format_owner
from envision_spiders.state.objects import S3Config, S3Location, client_for_crawler, is_missing, is_s3_url, make_client

METADATA_DIR = "metadata"


def record_name(source: str, source_id: str) -> str:
    """``metadata/{source}/{id}.json``, relative: the record's file below the data directory
    and its key below the store URL's prefix."""
    # ids such as Dryad's DOIs hold "/" and ":": quote them into one safe file name
    safe_id = quote(str(source_id), safe="-_.")
    if safe_id in {"", ".", ".."}:
        raise ValueError(f"unusable record id {source_id!r}")
    return f"{METADATA_DIR}/{quote(source, safe='-_')}/{safe_id}.json"


def record_path(data_dir: str | Path, source: str, source_id: str) -> Path:
    return Path(data_dir) / record_name(source, source_id)


def record_bytes(obj: Any) -> bytes:
    """A stored record's file: one line of JSON, keys sorted (``jsoncodec.json_line``)."""
    return json_line(obj, sort_keys=True)


def stage_all(files: list[tuple[str, bytes]], fsync: bool) -> list[str | BaseException]:
    """:func:`stage_bytes` for each (path, data), one after the other: each one's temp file, or
    the exception that stopped it."""
    staged: list[str | BaseException] = []
    for path, data in files:
        try:
            staged.append(stage_bytes(path, data, fsync))
        except Exception as exc:
            staged.append(exc)
    return staged


def load_syncfs() -> Callable[[int], None] | None:
    """Linux's syncfs(2) (every file of one file system on the disk), where it reports write-back
    errors: kernel 5.8 and later (earlier kernels return 0 whatever failed). None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    found = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if found is None or (int(found[1]), int(found[2])) < (5, 8):
        return None
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int

    def sync_filesystem(fd: int) -> None:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs: {os.strerror(errno)}")

    return sync_filesystem


class FileStager:
    """Puts record files on the disk (temp files beside their paths, :func:`stage_bytes`) in worker
    threads for the coroutines of one event loop, so the loop never waits on the disk. The files
    asked for during one turn of the loop (a search page's records reach the store together)
    are handed over together: one hand-off per chunk instead of one per file
    (``asyncio.to_thread`` cost ~25 µs of CPU a file, on the reactor thread mostly). Two barriers:

    - ``"file"``: the turn's files in at most ``threads`` chunks, each written and fsync'd one
      file after another; the fsyncs of the chunks overlap.
    - ``"filesystem"``: the turn's files written by one thread, then put on the disk by one
      ``syncfs`` of their file system. A hundred fsyncs cost the crawl ~0.1 ms of CPU each (the
      threads' system calls and GIL hand-offs); one syncfs costs about one. Its price: it also
      waits for whatever else is dirty on that file system (another process writing gigabytes
      there delays the acknowledgement of a page's records, never the loop). Without a syncfs
      that reports write-back errors (:func:`load_syncfs`) the barrier is ``"file"``.

    A file that cannot be written fails alone. A failed fsync fails its file; a failed syncfs
    fails every file of its turn (which of them missed the disk is not known), and their temp
    files are removed.
    """

    BARRIERS = ("file", "filesystem")

    def __init__(self, threads: int = 8, fsync: bool = True, barrier: str = "file",
                 syncfs: Callable[[int], None] | None = None) -> None:
        if barrier not in self.BARRIERS:
            raise ValueError(f"fsync barrier must be one of {self.BARRIERS}, not {barrier!r}")
        self.threads = max(1, threads)
        self.fsync = fsync
        self._syncfs = (syncfs or load_syncfs()) if fsync and barrier == "filesystem" else None
        self.barrier = "filesystem" if self._syncfs is not None else "file"
        self._executor: ThreadPoolExecutor | None = None
        self._queue: list[tuple[str, bytes, asyncio.Future[str]]] = []
        self._flush_at_end_of_turn: asyncio.Handle | None = None
        # "filesystem": a directory held open on each file system written to, opened before its
        # first file is written there (syncfs reports the write-back errors since its open)
        self._device_of_folder: dict[str, int] = {}
        self._barrier_fds: dict[int, int] = {}
        self._devices_this_turn: set[int] = set()

    async def stage(self, path: str, data: bytes) -> str:
        """The temp file beside ``path`` holding ``data``, on the disk (``os.replace`` commits it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        if self._syncfs is not None:
            self._devices_this_turn.add(self._device(path))
        self._queue.append((path, data, future))
        if self._flush_at_end_of_turn is None:
            self._flush_at_end_of_turn = loop.call_soon(self._flush, loop)
        return await future

    def _device(self, path: str) -> int:
        folder = os.path.dirname(path) or "."
        device = self._device_of_folder.get(folder)
        if device is None:
            os.makedirs(folder, exist_ok=True)
            device = os.stat(folder).st_dev
            if device not in self._barrier_fds:
                self._barrier_fds[device] = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._device_of_folder[folder] = device
        return device

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_at_end_of_turn = None
        batch, self._queue = self._queue, []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="envision-stage")
        if self._syncfs is not None:
            fds = [self._barrier_fds[device] for device in sorted(self._devices_this_turn)]
            self._devices_this_turn = set()
            work = [(batch, functools.partial(stage_all_synced, fds=fds, syncfs=self._syncfs))]
        else:
            size = -(-len(batch) // self.threads)
            work = [
                (batch[start:start + size], functools.partial(stage_all, fsync=self.fsync))
                for start in range(0, len(batch), size)
            ]
        for chunk, staging in work:
            done = self._executor.submit(staging, [(path, data) for path, data, _ in chunk])
            done.add_done_callback(lambda done, chunk=chunk: loop.call_soon_threadsafe(self._settle, chunk, done))

    @staticmethod
    def _settle(chunk: list[tuple[str, bytes, asyncio.Future[str]]], done: Future[list[str | BaseException]]) -> None:
        error = done.exception()
        outcomes = done.result() if error is None else [error] * len(chunk)
        for (_, _, future), outcome in zip(chunk, outcomes, strict=True):
            if future.cancelled():  # nobody will rename it into place
                if isinstance(outcome, str):
                    discard_staged(outcome)
            elif isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def close(self) -> None:
        """Let the threads go once the files handed over are on the disk."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        for fd in self._barrier_fds.values():
            os.close(fd)
        self._barrier_fds.clear()
        self._device_of_folder.clear()


def stage_all_synced(
    files: list[tuple[str, bytes]], fds: list[int], syncfs: Callable[[int], None]
) -> list[str | BaseException]:
    """:func:`stage_all` without fsync, then one ``syncfs`` of each file system (``fds``: a
    directory on each): the temp files on the disk, or, when a syncfs failed, its error for
    every file (their temp files removed)."""
    staged = stage_all(files, fsync=False)
    try:
        for fd in fds:
            syncfs(fd)
    except OSError as exc:
        for tmp in staged:
            if isinstance(tmp, str):
                discard_staged(tmp)
        return [exc] * len(staged)
    return staged


def load_record(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def iter_stored_records(
    data_dir: str | Path, sources: list[str] | None = None
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every stored record as (path, record), sources in name order, files in name order."""
    for path in iter_stored_paths(data_dir, sources):
        yield path, load_record(path)


def iter_stored_paths(data_dir: str | Path, sources: list[str] | None = None) -> Iterator[Path]:
    """The stored record files (not read), in :func:`iter_stored_records`' order."""
    root = Path(data_dir) / METADATA_DIR
    if not root.is_dir():
        return
    for source_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if sources and source_dir.name not in sources:
            continue
        yield from sorted(source_dir.glob("*.json"))


def feed_delivery_tracked(settings: Any) -> bool:
    """Whether stored records are owed to a feed: ENVISION_FEED_DELIVERY on and a feed configured
    (``ENVISION_FEEDS`` count too: a crawl merges them into ``FEEDS``, a command such as
    ``scrapy classify`` sees them apart)."""
    return settings.getbool("ENVISION_FEED_DELIVERY") and bool(
        settings.getdict("FEEDS") or settings.getdict("ENVISION_FEEDS"))


@dataclass(frozen=True)
class StoredObject:
    """One stored record as a listing sees it, not read yet: ``name`` relative to the store's root
    (``metadata/{source}/{id}.json`` in both backends), a ``stamp`` that changes when the content
    may have (a file's mtime in ns; an object's ETag as a number), its size, and how to read it
    (FileNotFoundError when it went away meanwhile)."""

    name: str
    stamp: int
    size: int
    read: Callable[[], bytes]


class RecordBackend(Protocol):
    """Where stored records live. ``get`` raises FileNotFoundError for a record not stored."""

    def put(self, owner: Owner, record: dict[str, Any]) -> None: ...
    def get(self, owner: Owner) -> dict[str, Any]: ...
    def exists(self, owner: Owner) -> bool: ...
    def iter_records(self, sources: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def listing(self, sources: list[str] | None = None) -> Iterator[StoredObject]: ...
    def sources(self) -> list[str]: ...  # the sources with a folder (prefix) of records, in name order
    # the writes made inside are sent when it ends (before the state transaction around it commits)
    def puts_together(self) -> AbstractContextManager[None]: ...


class PutsFailed(Exception):
    """Writes held by :meth:`S3Records.puts_together` that the object store refused: ``errors``
    maps each key to its error (the other writes of the block were sent)."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        key, error = next(iter(errors.items()))
        super().__init__(f"{len(errors)} object write(s) failed, first {key}: {error.__class__.__name__}: {error}")


class LocalRecords:
    """Files under the data directory, each replaced atomically (the default)."""

    def __init__(self, data_dir: str | Path, fsync: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.fsync = fsync
        self._root = os.fspath(data_dir)

    def path(self, owner: Owner) -> Path:
        return record_path(self.data_dir, *owner)

    def file(self, owner: Owner) -> str:
        """:meth:`path` as a string, made without pathlib (the crawl's one write a record)."""
        return f"{self._root}/{record_name(*owner)}"

    def put(self, owner: Owner, record: dict[str, Any]) -> None:
        write_json_atomic(self.file(owner), record, fsync=self.fsync)

    def get(self, owner: Owner) -> dict[str, Any]:
        return load_record(self.path(owner))

    def exists(self, owner: Owner) -> bool:
        return self.path(owner).exists()

    def puts_together(self) -> AbstractContextManager[None]:
        # a file is written in place at once: without fsync that is cheaper than any hand-off,
        # with fsync the store pipeline stages it ahead (FileStager)
        return nullcontext()

    def iter_records(self, sources: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        for path, record in iter_stored_records(self.data_dir, sources):
            yield str(path), record

    def sources(self) -> list[str]:
        root = self.data_dir / METADATA_DIR
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    def listing(self, sources: list[str] | None = None) -> Iterator[StoredObject]:
        for path in iter_stored_paths(self.data_dir, sources):
            try:
                stat = path.stat()
            except FileNotFoundError:  # replaced or removed under us
                continue
            yield StoredObject(path.relative_to(self.data_dir).as_posix(), stat.st_mtime_ns, stat.st_size,
                               path.read_bytes)


class S3Records:
    """Objects ``{prefix}/metadata/{source}/{id}.json`` in a bucket: one PUT per write (atomic),
    listed with ListObjectsV2 in key order (the local store's name order).

    A PUT takes 20-100 ms against a real object store, and the crawl writes records inside the
    state transaction on the reactor thread: one after the other, a page of 100 records would hold
    the reactor (every other request of the crawl) for seconds. Inside :meth:`puts_together` (the
    crawl's group commit holds it over each transaction) writes are held, read back by ``get`` and
    ``exists``, and sent together from ``put_threads`` threads when the block ends, so a batch
    costs about one PUT's latency."""

    def __init__(self, client: Any, location: S3Location, put_threads: int = 10) -> None:
        self.client = client
        self.location = location
        self.put_threads = max(1, put_threads)
        self._listed: dict[str, set[str]] = {}  # source -> keys seen by one listing (exists())
        self._held: dict[str, bytes] | None = None  # key -> body, inside puts_together
        self._pool: ThreadPoolExecutor | None = None

    def key(self, owner: Owner) -> str:
        return self.location.key(record_name(*owner))

    def put(self, owner: Owner, record: dict[str, Any]) -> None:
        body = record_bytes(record)
        if self._held is not None:
            self._held[self.key(owner)] = body  # the last write of a key in the block wins
            return
        self._put_key(self.key(owner), body)

    def _put_key(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.location.bucket, Key=key, Body=body, ContentType="application/json")

    @contextmanager
    def puts_together(self) -> Iterator[None]:
        """Hold the writes made in the block; when it ends without an error send them all,
        concurrently, and return once every one is stored (PutsFailed if any was refused, after
        all were tried). A block that raises sends nothing. Nested blocks join the outer one."""
        if self._held is not None:
            yield
            return
        self._held = {}
        try:
            yield
            held = self._held
        finally:
            self._held = None
        self._send(held)

    def _send(self, held: dict[str, bytes]) -> None:
        if len(held) <= 1 or self.put_threads == 1:
            errors: dict[str, BaseException] = {}
            for key, body in held.items():
                try:
                    self._put_key(key, body)
                except Exception as exc:
                    errors[key] = exc
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.put_threads, thread_name_prefix="envision-s3-put")
            sent = {key: self._pool.submit(self._put_key, key, body) for key, body in held.items()}
            errors = {}
            for key, future in sent.items():
                error = future.exception()  # waits for that write
                if error is not None:
                    errors[key] = error
        if errors:
            raise PutsFailed(errors)

    def get(self, owner: Owner) -> dict[str, Any]:
        key = self.key(owner)
        if self._held and key in self._held:
            return json.loads(self._held[key])
        return self._get_key(key)

    def _get_key(self, key: str) -> dict[str, Any]:
        return json.loads(self._read_key(key))

    def exists(self, owner: Owner) -> bool:
        """Whether ``owner`` is stored. The incremental check asks this of every unchanged record:
        the first call per source lists that source's keys once (1,000 a request), later calls
        answer from that snapshot, and only keys missing from it cost a HEAD."""
        key = self.key(owner)
        if self._held and key in self._held:
            return True
        source = owner[0]
        if source not in self._listed:
            prefix = self.location.key(record_name(source, "x")).rsplit("/", 1)[0] + "/"
            self._listed[source] = {o["Key"] for page in self._list(prefix) for o in page.get("Contents") or []}
        if key in self._listed[source]:
            return True
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=key)
        except Exception as exc:
            if is_missing(exc):
                return False
            raise
        return True

    def _list(self, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.location.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def iter_records(self, sources: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        for key in self._record_keys(sources):
            yield f"s3://{self.location.bucket}/{key['Key']}", self._get_key(key["Key"])

    def listing(self, sources: list[str] | None = None) -> Iterator[StoredObject]:
        base = self.location.key(METADATA_DIR)[: -len(METADATA_DIR)]  # the prefix, with its "/"
        for obj in self._record_keys(sources):
            yield StoredObject(obj["Key"][len(base):], _etag_stamp(obj.get("ETag")), int(obj.get("Size") or 0),
                               functools.partial(self._read_key, obj["Key"]))

    def sources(self) -> list[str]:
        root = self.location.key(METADATA_DIR) + "/"
        return sorted(p["Prefix"][len(root):].rstrip("/")
                      for page in self._list(root, "/") for p in page.get("CommonPrefixes") or [])

    def _record_keys(self, sources: list[str] | None) -> Iterator[dict[str, Any]]:
        """The listed objects of the record keys, sources in name order, keys in name order."""
        root = self.location.key(METADATA_DIR) + "/"
        for source in self.sources():
            if sources and source not in sources:
                continue
            for page in self._list(f"{root}{source}/", "/"):
                for obj in page.get("Contents") or []:
                    if obj["Key"].endswith(".json"):
                        yield obj

    def _read_key(self, key: str) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
        except Exception as exc:
            if is_missing(exc):
                raise FileNotFoundError(f"s3://{self.location.bucket}/{key}") from None
            raise
        with body:
            return body.read()


def _etag_stamp(etag: str | None) -> int:
    """An object's ETag as a catalog stamp (an integer that changes with the content)."""
    digits = "".join(c for c in (etag or "") if c in "0123456789abcdefABCDEF")
    return int(digits[:15], 16) if digits else 0


def open_records(config: StoreConfig, client: Any = None) -> RecordBackend:
    """The backend of ``config.store_url`` (``client``: the crawl's shared S3 client, else one
    is made from ``config.s3``)."""
    if not config.store_url:
        return LocalRecords(config.data_dir, config.fsync)
    s3 = config.s3 or S3Config()
    # as many writing threads as the client keeps connections: more would wait for one
    return S3Records(client or make_client(s3), S3Location.parse(config.store_url), s3.pool_connections)


_backends: weakref.WeakKeyDictionary[Any, tuple[StoreConfig, RecordBackend]] = weakref.WeakKeyDictionary()


def records_for_crawler(crawler: Any, config: StoreConfig | None = None) -> RecordBackend:
    """The record backend of a crawl, one for all its components (the writes the group commit
    holds are read back by every pipeline); with S3, over the crawl's one client
    (``client_for_crawler``)."""
    config = config or StoreConfig.from_settings(crawler.settings)
    known = _backends.get(crawler)
    if known is not None and known[0] == config:
        return known[1]
    backend = open_records(config, client_for_crawler(crawler) if config.store_url else None)
    _backends[crawler] = (config, backend)
    return backend


def stored_records(settings: Any, sources: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every stored record as (where, record) from the store ``settings`` name (ENVISION_STORE_URL,
    else the files under ENVISION_DATA_DIR), sources in name order, records in name order."""
    return open_records(StoreConfig.from_settings(settings)).iter_records(sources)


def fsync_barrier(settings: Any) -> str:
    """ENVISION_STORE_FSYNC_BARRIER, checked: how record files reach the disk with
    ENVISION_STORE_FSYNC (:class:`FileStager`)."""
    barrier = (settings.get("ENVISION_STORE_FSYNC_BARRIER") or "filesystem").strip().lower()
    if barrier not in FileStager.BARRIERS:
        raise ValueError(f"ENVISION_STORE_FSYNC_BARRIER must be one of {', '.join(FileStager.BARRIERS)}, not {barrier!r}")
    return barrier


@dataclass(frozen=True)
class StoreConfig:
    """The store's settings, read once: ENVISION_DATA_DIR, ENVISION_STORE_URL (with Scrapy's
    AWS_* settings when it is ``s3://``), ENVISION_STORE_FSYNC (with ENVISION_STORE_FSYNC_BARRIER and
    ENVISION_STORE_FSYNC_THREADS),
    and whether records written are owed to this crawl's feeds (``feed_delivery_tracked``)."""

    data_dir: Path
    fsync: bool = False
    track_delivery: bool = False
    store_url: str = ""
    s3: S3Config | None = None
    fsync_threads: int = 8
    fsync_barrier: str = "filesystem"

    @classmethod
    def from_settings(cls, settings: Any) -> StoreConfig:
        data_dir = settings.get("ENVISION_DATA_DIR")
        if not data_dir:
            raise ValueError("ENVISION_DATA_DIR is empty")
        store_url = (settings.get("ENVISION_STORE_URL") or "").strip()
        if store_url:
            if not is_s3_url(store_url):
                raise ValueError(f"ENVISION_STORE_URL must be empty or s3://bucket/prefix, not {store_url!r}")
            S3Location.parse(store_url)  # a URL without a bucket fails here, at start
        return cls(
            Path(data_dir),
            settings.getbool("ENVISION_STORE_FSYNC"),
            feed_delivery_tracked(settings),
            store_url,
            S3Config.from_settings(settings) if store_url else None,
            max(1, settings.getint("ENVISION_STORE_FSYNC_THREADS", 8)),
            fsync_barrier(settings),
        )


@dataclass
class StagedWrite:
    """A record's file written ahead of :meth:`RecordStore.write` (``tmp``, None until staged),
    with the record as written and the state's answers it was decided under."""

    record: dict[str, Any]
    adopted_doi: str | None
    canonical: Owner | None
    path: str  # where the record's file goes
    tmp: str | None = None


class RecordStore:
    """Writes stored records, each write decided and recorded under the state's write lock."""

    def __init__(self, config: StoreConfig, state: StateDB, backend: RecordBackend | None = None) -> None:
        self.config = config
        self.state = state
        self.backend = backend or open_records(config)

    def path(self, owner: Owner) -> Path:
        """The local file of ``owner`` (the default backend)."""
        return record_path(self.config.data_dir, *owner)

    @property
    def stages_files(self) -> bool:
        """Whether a write can be staged ahead (:meth:`preview`): the local files' backend."""
        return isinstance(self.backend, LocalRecords)

    def preview(self, record: dict[str, Any]) -> StagedWrite:
        """What :meth:`write` will store for ``record`` unless a claim changed meanwhile: the record
        as canonical (the dedup pipeline has just claimed its DOIs for it), with the DOI it
        adopted when it has none of its own (read without the lock). Its file can then be
        staged (:func:`stage_bytes`, off the reactor thread) and handed to :meth:`write`, which
        decides again under the lock and writes the file anew when the answers differ; only the
        local backend stages (``stages_files``)."""
        me: Owner = (record["source"], str(record["source_id"]))
        adopted = None if record.get("doi") else self.state.adopted_doi(me)
        file = self.backend.file(me)  # type: ignore[attr-defined]  # LocalRecords: the one that stages
        return StagedWrite(self._applied(dict(record), adopted, None), adopted, None, file)

    def write(
        self, record: dict[str, Any], dois: Iterable[str], modified: str | None, at: str,
        staged: StagedWrite | None = None,
    ) -> Owner | None:
        """Store ``record`` (a plain dict with ``source``/``source_id``); returns the record it is
        a copy of, or None when it is canonical. With ``track_delivery`` the record is owed to
        the feeds (``undelivered``) in the same transaction, until they close with it.

        A better record of the same dataset may have claimed its DOIs while this one waited
        in inspection or classification (another crawl, or another spider of crawlall): the
        decision and the write happen under one lock, so the superseding side either sees
        this file (and marks it) or this side sees its claim and stores a duplicate.
        ``staged``: the file already written beside its path from :meth:`preview`; it is
        renamed into place when the state still gives the same answers, else written anew.
        """
        me: Owner = (record["source"], str(record["source_id"]))
        try:
            return self._write(me, record, list(dois), modified, at, staged)
        finally:
            if staged is not None and staged.tmp is not None:
                discard_staged(staged.tmp)  # not renamed into place (lock timeout, answer changed)

    def _write(
        self, me: Owner, record: dict[str, Any], dois: list[str], modified: str | None, at: str,
        staged: StagedWrite | None,
    ) -> Owner | None:
        with self.state.immediate():
            adopted, canonical = self._decide(me, record, dois)
            self._applied(record, adopted, canonical)
            if staged is not None and staged.tmp is not None and (staged.adopted_doi, staged.canonical) == (
                adopted, canonical
            ):
                os.replace(staged.tmp, staged.path)
                staged.tmp = None
            else:
                self.backend.put(me, record)
            if canonical:
                self.state.mark_duplicate(*me, modified, canonical)
            else:
                self.state.mark_stored(*me, modified, record.get("doi"), at)
            if self.config.track_delivery:
                self.state.mark_undelivered([me], at)
        return canonical

    def _decide(self, me: Owner, record: dict[str, Any], dois: Iterable[str]) -> tuple[str | None, Owner | None]:
        # the canonical record keeps the best identifier: a DOI taken from a losing copy
        adopted = None if record.get("doi") else self.state.adopted_doi(me)
        owners = self.state.other_owners(dois, me)
        return adopted, owners[0] if owners else None

    @staticmethod
    def _applied(record: dict[str, Any], adopted: str | None, canonical: Owner | None) -> dict[str, Any]:
        if not record.get("doi"):
            record["doi"] = adopted
        if canonical:
            record["duplicate_of"] = format_owner(canonical)
        return record

    def supersede(self, loser: Owner, canonical: Owner) -> list[Owner]:
        """``loser`` (stored earlier) lost its DOIs to ``canonical``: mark it, and the records that
        were copies of it, as copies of ``canonical`` in the state and in their stored files
        (their data is kept). Returns the records whose files were rewritten.

        Runs inside the caller's state transaction when there is one (dedup holds it over
        the claim that decided this), else in its own.
        """
        with self.state.immediate():
            known = self.state.lookup(*loser)
            self.state.mark_duplicate(*loser, known["modified"] if known else None, canonical)
            rewritten = []
            for owner in [loser, *self.state.reassign_duplicates(loser, canonical)]:
                try:
                    stored = self.backend.get(owner)
                except FileNotFoundError:
                    continue
                stored["duplicate_of"] = format_owner(canonical)
                self.backend.put(owner, stored)
                rewritten.append(owner)
        return rewritten

    def adopt_doi(self, owner: Owner, doi: str, from_owner: Owner, at: str) -> bool:
        """``owner`` (canonical, no DOI of its own) takes ``doi`` from ``from_owner``, a copy that
        lost to it: recorded in the state, and written into its stored file when there is one
        (which is then owed to the feeds again, so its next crawl emits it with the DOI).
        Returns True when the DOI was adopted. Joins the caller's transaction."""
        with self.state.immediate():
            known = self.state.lookup(*owner)
            if known is not None and known["doi"]:
                return False  # it has a DOI of its own
            if not self.state.adopt_doi(owner, doi, from_owner):
                return False
            if known is None or known["duplicate_of"]:
                return True  # not stored yet: the store's write takes the adopted DOI
            try:
                stored = self.backend.get(owner)
            except FileNotFoundError:
                return True
            if stored.get("doi"):
                return False
            stored["doi"] = doi
            self.backend.put(owner, stored)
            self.state.mark_stored(*owner, known["modified"], doi, known["stored_at"] or at)
            if self.config.track_delivery:
                self.state.mark_undelivered([owner], at)
        return True

    def update(self, owner: Owner, fields: dict[str, Any], scored: dict[str, Any], at: str) -> bool:
        """Set ``fields`` in ``owner``'s stored file, computed from ``scored`` (the record as read
        earlier, e.g. by ``scrapy classify``). When a crawl replaced the file meanwhile (another
        ``scraped_at``) or marked it a copy, nothing is written and False is returned: the
        newer file stays as it is. With ``track_delivery``, a record whose ``label`` changed is
        owed to the feeds again (since ``at``): the eye-imaging feed must gain or lose it. A
        change of the probabilities alone does not re-queue it, or every retrained head would
        re-send every record."""
        with self.state.immediate():
            try:
                current = self.backend.get(owner)
            except FileNotFoundError:
                return False
            if current.get("scraped_at") != scored.get("scraped_at") or current.get("duplicate_of"):
                return False
            relabelled = "label" in fields and fields["label"] != current.get("label")
            current.update(fields)
            self.backend.put(owner, current)
            if relabelled and self.config.track_delivery:
                self.state.mark_undelivered([owner], at)
        return True

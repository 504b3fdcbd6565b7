"""The per-record JSON store: ``{data_dir}/metadata/{source}/{source_id}.json``, atomic writes.

``RecordStore`` is the only writer of those files during a crawl: the store pipeline writes a
record through it, and dedup asks it to mark a record superseded or to give the canonical
record a DOI it lacked. Both go through the state
DB's write lock (``StateDB.immediate``), so the decision (who owns a DOI) and the file that
reflects it change together: a stale rewrite can never land over a newer record, whichever
crawl or process holds the other end. Reading (``load_record``, ``iter_stored_records``) needs
no lock: files are replaced atomically.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from envision_spiders.state.db import Owner, StateDB, format_owner

METADATA_DIR = "metadata"


def record_path(data_dir: str | Path, source: str, source_id: str) -> Path:
    # ids such as Dryad's DOIs hold "/" and ":": quote them into one safe file name
    safe_id = quote(str(source_id), safe="-_.")
    if safe_id in {"", ".", ".."}:
        raise ValueError(f"unusable record id {source_id!r}")
    return Path(data_dir) / METADATA_DIR / quote(source, safe="-_") / f"{safe_id}.json"


def write_json_atomic(path: str | Path, obj: Any, fsync: bool = False) -> None:
    """Write JSON so that a reader (or a crash) sees the old file or the new one, never half."""
    path = Path(path)
    tmp = stage_text(path, json_text(obj), fsync)
    try:
        os.replace(tmp, path)
    except BaseException:
        discard_staged(tmp)
        raise


def json_text(obj: Any) -> str:
    """A stored file's text: one line of JSON, keys sorted."""
    # one dumps() call keeps json on its C encoder (indent= would not)
    return json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n"


def stage_text(path: Path, text: str, fsync: bool = False) -> Path:
    """Write ``text`` to a temp file beside ``path`` (flushed to disk with ``fsync``) and return
    its name: ``os.replace`` of it onto ``path`` is the atomic commit. Touches no shared state
    and holds the GIL only between system calls, so it may run in a worker thread."""
    # A temp name unique per process and thread: cheaper than mkstemp's random names, and
    # two writers of one record (two crawls, classify threads) never share a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fh = open(tmp, "w", encoding="utf-8")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(tmp, "w", encoding="utf-8")
    try:
        with fh:
            fh.write(text)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        discard_staged(tmp)
        raise
    return tmp


def discard_staged(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


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
    """Whether stored records are owed to a feed: ENVISION_FEED_DELIVERY on and a feed configured."""
    return settings.getbool("ENVISION_FEED_DELIVERY") and bool(settings.getdict("FEEDS"))


@dataclass(frozen=True)
class StoreConfig:
    """The store's settings, read once: ENVISION_DATA_DIR, ENVISION_STORE_FSYNC, and whether
    records written are owed to this crawl's feeds (``feed_delivery_tracked``)."""

    data_dir: Path
    fsync: bool = False
    track_delivery: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> StoreConfig:
        data_dir = settings.get("ENVISION_DATA_DIR")
        if not data_dir:
            raise ValueError("ENVISION_DATA_DIR is empty")
        return cls(Path(data_dir), settings.getbool("ENVISION_STORE_FSYNC"), feed_delivery_tracked(settings))


@dataclass
class StagedWrite:
    """A record's file written ahead of :meth:`RecordStore.write` (``tmp``, None until staged),
    with the record as written and the state's answers it was decided under."""

    record: dict[str, Any]
    adopted_doi: str | None
    canonical: Owner | None
    tmp: Path | None = None


class RecordStore:
    """Writes stored records, each write decided and recorded under the state's write lock."""

    def __init__(self, config: StoreConfig, state: StateDB) -> None:
        self.config = config
        self.state = state

    def path(self, owner: Owner) -> Path:
        return record_path(self.config.data_dir, *owner)

    def preview(self, record: dict[str, Any], dois: Iterable[str]) -> StagedWrite:
        """What :meth:`write` would store for ``record`` given the state now, read without the lock:
        ``record`` as it would be written and the answers it depends on. Its file can then be
        staged (:func:`stage_text`, off the reactor thread) and handed to :meth:`write`."""
        me: Owner = (record["source"], str(record["source_id"]))
        adopted, canonical = self._decide(me, record, dois)
        return StagedWrite(self._applied(dict(record), adopted, canonical), adopted, canonical)

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
        path = self.path(me)
        with self.state.immediate():
            adopted, canonical = self._decide(me, record, dois)
            self._applied(record, adopted, canonical)
            if staged is not None and staged.tmp is not None and (staged.adopted_doi, staged.canonical) == (
                adopted, canonical
            ):
                os.replace(staged.tmp, path)
                staged.tmp = None
            else:
                write_json_atomic(path, record, fsync=self.config.fsync)
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
                path = self.path(owner)
                if path.exists():
                    stored = load_record(path)
                    stored["duplicate_of"] = format_owner(canonical)
                    write_json_atomic(path, stored, fsync=self.config.fsync)
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
            path = self.path(owner)
            if known is None or known["duplicate_of"] or not path.exists():
                return True  # not stored yet: the store's write takes the adopted DOI
            stored = load_record(path)
            if stored.get("doi"):
                return False
            stored["doi"] = doi
            write_json_atomic(path, stored, fsync=self.config.fsync)
            self.state.mark_stored(*owner, known["modified"], doi, known["stored_at"] or at)
            if self.config.track_delivery:
                self.state.mark_undelivered([owner], at)
        return True

    def update(self, owner: Owner, fields: dict[str, Any], scored: dict[str, Any]) -> bool:
        """Set ``fields`` in ``owner``'s stored file, computed from ``scored`` (the record as read
        earlier, e.g. by ``scrapy classify``). When a crawl replaced the file meanwhile (another
        ``scraped_at``) or marked it a copy, nothing is written and False is returned: the
        newer file stays as it is."""
        path = self.path(owner)
        with self.state.immediate():
            try:
                current = load_record(path)
            except FileNotFoundError:
                return False
            if current.get("scraped_at") != scored.get("scraped_at") or current.get("duplicate_of"):
                return False
            current.update(fields)
            write_json_atomic(path, current, fsync=self.config.fsync)
        return True

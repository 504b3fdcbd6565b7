"""What ``scrapy post`` sends to the dataset portal, and how it knows what the portal already has.

Pure functions over the record store and the acknowledgement ledger (``portal_acks`` in the
state DB); the command (``commands/post.py``) does the HTTP. The payload is documented in
docs/operations.md ("The portal feed").

A record is *pending* for a portal when its content hash differs from the hash that portal
last acknowledged (new records have none). The hash covers the whole stored record except
``scraped_at`` (bookkeeping that changes when an unchanged record is stored again), so a
re-crawl that changes nothing sends nothing, while a new label, file list or description
does. A record that the portal acknowledged and that dedup later marked ``duplicate_of``
another is sent once as a *superseded* notice, so the portal can retire it.

Every batch carries a random id, its ``Idempotency-Key``, kept in the state DB
(``portal_batches``) from before it is sent until the portal acknowledges it. A re-run after a
failure or a crash sends the same unacknowledged changes again under the same key (the portal
applies them once); any other batch gets a new key, so content that changed and changed back
is never mistaken for a replay of an old batch.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envision_spiders.state.db import Owner
from envision_spiders.state.store import iter_stored_records

PAYLOAD_VERSION = 1
VOLATILE_FIELDS = frozenset({"scraped_at"})


def content_hash(obj: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``obj`` without its volatile fields."""
    stable = {k: v for k, v in obj.items() if k not in VOLATILE_FIELDS}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Change:
    kind: str  # "record" (new or changed canonical record) | "superseded" (now a duplicate)
    source: str
    source_id: str
    content_hash: str
    body: dict[str, Any]  # the record, or {"source", "source_id", "duplicate_of"}

    @property
    def key(self) -> tuple[str, str, str]:
        return self.source, self.source_id, self.content_hash


def pending_changes(
    data_dir: str | Path,
    acked: Mapping[Owner, str],
    sources: list[str] | None = None,
    stored: Iterable[tuple[Any, dict[str, Any]]] | None = None,
) -> Iterator[Change]:
    """Every change the portal has not acknowledged, in store order (source, then file name).
    ``stored``: the records to read (``state.store.stored_records``), else the files under ``data_dir``."""
    for _, record in stored if stored is not None else iter_stored_records(data_dir, sources):
        owner: Owner = (str(record["source"]), str(record["source_id"]))
        if record.get("duplicate_of"):
            if owner not in acked:  # the portal never had it: nothing to retire
                continue
            notice = {"source": owner[0], "source_id": owner[1], "duplicate_of": record["duplicate_of"]}
            digest = content_hash(notice)
            if acked[owner] != digest:
                yield Change("superseded", *owner, digest, notice)
            continue
        digest = content_hash(record)
        if acked.get(owner) != digest:
            yield Change("record", *owner, digest, record)


def batched(changes: Iterable[Change], size: int) -> Iterator[list[Change]]:
    batch: list[Change] = []
    for change in changes:
        batch.append(change)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class Batch:
    batch_id: str  # the Idempotency-Key
    changes: list[Change]
    resent: bool  # a batch sent before and never acknowledged, under its old key

    @property
    def members(self) -> list[tuple[str, str, str]]:
        return [change.key for change in self.changes]


def new_batch_id() -> str:
    """A key no batch ever had: random, so it never depends on what the batch holds."""
    return uuid.uuid4().hex


def plan_batches(
    changes: Iterable[Change], pending: list[tuple[str, list[tuple[str, str, str]]]], size: int
) -> tuple[list[Batch], list[str]]:
    """The batches to send, and the ids of pending batches that are stale (never to be reused).

    ``pending``: the unacknowledged batches (``StateDB.pending_batches``). One whose changes are
    all still pending, unchanged, is sent again first, whole, under its old key; one whose records
    changed since (or were acknowledged otherwise) is stale. The other changes go out in batches of
    ``size`` with new keys.
    """
    pool = {change.key: change for change in changes}
    batches: list[Batch] = []
    stale: list[str] = []
    for batch_id_, members in pending:
        if members and all(tuple(m) in pool for m in members):
            batches.append(Batch(batch_id_, [pool.pop(tuple(m)) for m in members], resent=True))
        else:
            stale.append(batch_id_)
    batches += [Batch(new_batch_id(), chunk, resent=False) for chunk in batched(pool.values(), size)]
    return batches, stale


def batch_payload(batch: list[Change], batch_id: str) -> dict[str, Any]:
    return {
        "version": PAYLOAD_VERSION,
        "batch_id": batch_id,
        "records": [
            {"source": c.source, "source_id": c.source_id, "content_hash": c.content_hash, "record": c.body}
            for c in batch
            if c.kind == "record"
        ],
        "superseded": [{**c.body, "content_hash": c.content_hash} for c in batch if c.kind == "superseded"],
    }


def rejected_keys(body: bytes) -> dict[Owner, str]:
    """Records a 2xx answer lists under ``rejected`` ({"source", "source_id", "error"}), by owner."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("rejected"), list):
        return {}
    rejected = {}
    for entry in data["rejected"]:
        if isinstance(entry, dict) and "source" in entry and "source_id" in entry:
            rejected[(str(entry["source"]), str(entry["source_id"]))] = str(entry.get("error") or "rejected")
    return rejected

"""Dealing stored records between the processes of ``scrapy download --processes N``.

Pure functions, no I/O but the share files: what enters is the stored records (as
``state.store.stored_records`` yields them), what leaves is N lists of owners
(``source``, ``source_id``) of about equal work, each record in exactly one. The work of a
record is guessed from what it lists: a fixed cost per file (requests, hashing, manifests:
what dominates many small files) plus its bytes. Greedy: heaviest record first, to the lightest
share (deterministic: ties go to the lower share number, records in name order).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Owner = tuple[str, str]

FILE_COST = 1.0  # one small file
BYTES_PER_FILE_COST = 4 * 1024 * 1024  # this many bytes weigh as much as one file's overhead


def record_work(record: dict[str, Any]) -> float:
    """The guessed work of downloading a record's files."""
    files = [f for f in record.get("files") or [] if isinstance(f, dict)]
    size = sum(f["size"] for f in files if isinstance(f.get("size"), int) and f["size"] > 0)
    return FILE_COST * (1 + len(files)) + size / BYTES_PER_FILE_COST


def deal_records(records: Iterable[tuple[Any, dict[str, Any]]], shares: int) -> list[list[Owner]]:
    """``shares`` lists of owners of about equal :func:`record_work` (copies left out)."""
    weighed = sorted(
        ((record_work(record), (str(record.get("source")), str(record.get("source_id"))))
         for _, record in records if not record.get("duplicate_of")),
        key=lambda item: (-item[0], item[1]),
    )
    heap = [(0.0, k) for k in range(shares)]
    dealt: list[list[Owner]] = [[] for _ in range(shares)]
    for work, owner in weighed:
        load, k = heapq.heappop(heap)
        dealt[k].append(owner)
        heapq.heappush(heap, (load + work, k))
    return dealt


def write_share(path: Path, owners: list[Owner]) -> Path:
    """One ``source<TAB>source_id`` line per record."""
    path.write_text("".join(f"{source}\t{source_id}\n" for source, source_id in owners), encoding="utf-8")
    return path


def read_share(path: str | Path) -> set[Owner]:
    owners: set[Owner] = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        source, sep, source_id = line.partition("\t")
        if sep:
            owners.add((source, source_id))
    return owners

"""Dealing stored records between the processes of ``scrapy download --processes N``.

Pure functions, no I/O but the share files and their folder: what enters is the stored records (as
``state.store.stored_records`` yields them, narrowed to the gated ones by :func:`gated_records`),
what leaves is N lists of owners
(``source``, ``source_id``) of about equal work, each record in exactly one. The work of a
record is guessed from what it lists: a fixed cost per file (requests, hashing, manifests:
what dominates many small files) plus its bytes. Greedy: heaviest record first, to the lightest
share (deterministic: ties go to the lower share number, records in name order).

How many processes (:func:`process_count`) and each one's part of the request limits
(:func:`process_limits`): N processes together keep to the limits one process would (per host,
overall, per slot; a source's rate budget by its delay), so ``--processes`` buys CPU, never
more load on a repository.

The shares folder of a run (:func:`make_shares_folder`) is named after the process that deals
them; a run killed with SIGKILL cannot remove its own, so the next run removes the folders whose
process is gone (:func:`remove_abandoned_share_folders`).

Claims (:func:`claim_order`, :func:`claim`): the shares are a first deal, not a fence. Each process
takes its records one by one, claiming each first with a file in the shares folder's
``claims/`` (created exclusively: one process wins); done with its own share, it goes on with the
records of the others that are still unclaimed, from their ends. A process slowed down by
another program on the machine so leaves its last records to the faster ones, instead of all
of them waiting for it; a record is still read and downloaded by one process only.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from envision_spiders.downloads.gate import file_gate, record_gate
from envision_spiders.http.slots import is_budget_slot

Owner = tuple[str, str]

FILE_COST = 1.0  # one small file
BYTES_PER_FILE_COST = 4 * 1024 * 1024  # this many bytes weigh as much as one file's overhead


def record_work(record: dict[str, Any]) -> float:
    """The guessed work of downloading a record's files."""
    files = [f for f in record.get("files") or [] if isinstance(f, dict)]
    size = sum(f["size"] for f in files if isinstance(f.get("size"), int) and f["size"] > 0)
    return FILE_COST * (1 + len(files)) + size / BYTES_PER_FILE_COST


# processes with ENVISION_DOWNLOAD_PROCESSES = 0 (auto): one per CPU from this many files to fetch
AUTO_MIN_FILES = 500
# the request limits a process of `scrapy download` keeps to, divided between the processes
CONCURRENCY_LIMITS = (
    "ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "ENVISION_DOWNLOAD_CONCURRENCY",
    "CONCURRENT_REQUESTS",
)


def gated_records(
    records: Iterable[tuple[Any, dict[str, Any]]], threshold: float, eye_evidence_required: bool = True,
    accepted: Collection[Owner] = frozenset(),
) -> list[dict[str, Any]]:
    """The records whose files ``scrapy download`` would fetch (copies and ungated ones left out;
    ``accepted``: records a curator accepted after review, see ``record_gate``)."""
    return [record for _, record in records
            if record_gate(record, threshold, eye_evidence_required, accepted) is None]


def count_files(records: Iterable[dict[str, Any]]) -> int:
    """Files of ``records`` that pass the file gate (tokens aside: an upper bound)."""
    return sum(1 for record in records for entry in record.get("files") or []
               if isinstance(entry, dict) and file_gate(entry, has_token=True) is None)


def process_count(requested: int, files: int, cpus: int, limits: dict[str, int], slots: dict[str, Any]) -> int:
    """Processes for ``scrapy download``: ``requested``, or with 0 (auto) one per CPU when there are
    at least AUTO_MIN_FILES files (below that start-up costs more than it saves), else one; never
    more than the smallest concurrency limit (DOWNLOAD_SLOTS' included), so that each process
    gets at least one request of each."""
    if requested == 0:
        requested = max(1, cpus) if files >= AUTO_MIN_FILES else 1
    caps = [v for v in limits.values() if v > 0]
    # a budget slot is shared out by its delay (process_limits), not its concurrency
    caps += [int(slot["concurrency"]) for name, slot in slots.items()
             if not is_budget_slot(name) and isinstance(slot, dict) and slot.get("concurrency")]
    return max(1, min([requested, *caps]))


def process_limits(limits: dict[str, int], delay: float, slots: dict[str, Any], processes: int) -> list[dict[str, Any]]:
    """Each process's settings so that together they keep to one process's limits: every
    concurrency limit divided (the parts add up to it), DOWNLOAD_DELAY and each DOWNLOAD_SLOTS
    entry's delay multiplied by ``processes``, each slot's concurrency divided (at least one
    request each for a budget slot: its documented rate is kept by the delays, which add up
    to the one budget)."""
    parts: list[dict[str, Any]] = []
    for k in range(processes):
        part: dict[str, Any] = {name: _portion(value, processes, k) for name, value in limits.items() if value > 0}
        if delay > 0:
            part["DOWNLOAD_DELAY"] = delay * processes
        if slots:
            part["DOWNLOAD_SLOTS"] = {
                name: {**slot,
                       **({"delay": slot["delay"] * processes} if slot.get("delay") else {}),
                       **({"concurrency": max(1 if is_budget_slot(name) else 0,
                                              _portion(int(slot["concurrency"]), processes, k))}
                          if slot.get("concurrency") else {})}
                for name, slot in slots.items()
            }
        parts.append(part)
    return parts


def _portion(value: int, processes: int, k: int) -> int:
    return value // processes + (1 if k < value % processes else 0)


def deal_records(records: Iterable[dict[str, Any]], shares: int) -> list[list[Owner]]:
    """``shares`` lists of owners of about equal :func:`record_work`."""
    weighed = sorted(
        ((record_work(record), (str(record.get("source")), str(record.get("source_id")))) for record in records),
        key=lambda item: (-item[0], item[1]),
    )
    heap = [(0.0, k) for k in range(shares)]
    dealt: list[list[Owner]] = [[] for _ in range(shares)]
    for work, owner in weighed:
        load, k = heapq.heappop(heap)
        dealt[k].append(owner)
        heapq.heappush(heap, (load + work, k))
    return dealt


SHARE_NAME = "share-{}.txt"  # share k of a shares folder
CLAIMS = "claims"  # the shares folder's claims, one empty file per record taken


def write_share(path: Path, owners: list[Owner]) -> Path:
    """One ``source<TAB>source_id`` line per record."""
    path.write_text("".join(f"{source}\t{source_id}\n" for source, source_id in owners), encoding="utf-8")
    return path


def read_share(path: str | Path) -> list[Owner]:
    """A share's owners in the order they were dealt (each once)."""
    owners: dict[Owner, None] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        source, sep, source_id = line.partition("\t")
        if sep:
            owners[(source, source_id)] = None
    return list(owners)


def write_shares(folder: Path, shares: list[list[Owner]]) -> list[Path]:
    """Share k as ``SHARE_NAME.format(k)`` in ``folder``, and the folder's empty claims."""
    (folder / CLAIMS).mkdir()
    return [write_share(folder / SHARE_NAME.format(k), share) for k, share in enumerate(shares)]


def claim_order(folder: Path, own: Path) -> list[tuple[str, Owner, bool]]:
    """(claim name, owner, in ``own``) of every record of the shares in ``folder``, in the order
    the process of share ``own`` takes them: its own as dealt (heaviest first), then each other
    share from its end (what that share's process would reach last), the next share first."""
    shares: list[list[Owner]] = []
    while (path := folder / SHARE_NAME.format(len(shares))).is_file():
        shares.append(read_share(path))
    mine = next((k for k in range(len(shares)) if folder / SHARE_NAME.format(k) == own), None)
    if mine is None:
        raise ValueError(f"{own} is not one of the shares in {folder}")
    others = [*range(mine + 1, len(shares)), *range(mine)]
    order = [(f"{mine}-{i}", owner, True) for i, owner in enumerate(shares[mine])]
    for k in others:
        order += [(f"{k}-{i}", shares[k][i], False) for i in reversed(range(len(shares[k])))]
    return order


def claim(folder: Path, name: str) -> bool:
    """True for the one process that creates the claim ``name`` first (``O_EXCL``: atomic on a
    local file system, which the shares folder, a temporary folder of one machine, is)."""
    try:
        os.close(os.open(folder / CLAIMS / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


SHARES_FOLDER_PREFIX = "envision-download-"


def make_shares_folder(root: str | Path | None = None) -> Path:
    """A new folder for one run's shares and claims in ``root`` (the system's temp folder),
    named ``envision-download-<pid>-<random>``; the folders of runs whose process is gone are
    removed first."""
    folder = Path(root or tempfile.gettempdir())
    remove_abandoned_share_folders(folder)
    return Path(tempfile.mkdtemp(prefix=f"{SHARES_FOLDER_PREFIX}{os.getpid()}-", dir=folder))


def remove_abandoned_share_folders(root: str | Path) -> list[Path]:
    """Remove the share folders in ``root`` whose process no longer runs (a folder without a
    process id in its name, from an older release, is left alone); returns them."""
    removed = []
    for path in Path(root).glob(f"{SHARES_FOLDER_PREFIX}*-*"):
        pid = path.name[len(SHARES_FOLDER_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not path.is_dir() or _running(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True

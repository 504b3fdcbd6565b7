"""The state shared by crawls, whatever holds it: the interface every backend implements.

What enters: calls from the pipelines, middlewares, exporters and commands that keep the
crawl's memory (``state_for_crawler`` / ``open_state`` in ``state/db.py`` pick the backend).
What leaves: answers decided atomically across processes and, on PostgreSQL, across nodes.

Tables (the same on every backend):
- ``records``: what the store holds per (source, source_id) and the repository's ``modified``
  stamp when it was stored, so an unchanged record is neither re-fetched nor re-inspected;
- ``doi_claims``: which record currently owns each normalised DOI (the dedup registry);
- ``crawl_runs``: one row per crawl (``runs.RunLedger``): when, how it ended, whether it was
  clean — the weekly schedule derives each spider's ``since`` from it;
- ``portal_acks``: per portal URL and record, the content hash the portal last acknowledged
  (``scrapy post`` sends only what is new or changed);
- ``portal_batches``: batches sent to a portal and not acknowledged yet, with their random
  ``Idempotency-Key``: a retry of the same changes reuses the key, anything else gets a new one;
- ``unclassified``: records stored while the classifier failed on them: not fresh for the
  incremental crawl until a later crawl or ``scrapy classify`` labels them;
- ``adopted_dois``: the DOI a canonical record without one of its own took from a copy that
  lost to it (OSF's node vs DataCite's record of the node's DOI): kept so every later store
  of the canonical record carries it;
- ``undelivered``: records stored (or rewritten) that no feed has yet: the feed exporter's
  buffer dies with a killed crawl, so a record counts as delivered only once the run's feeds
  closed (``exports.feeds.FeedDelivery``); until then it is not fresh for the incremental
  crawl, and the next run emits it again;
- ``leases``: work handed to one holder (``host:pid``) for a while (downloads per record):
  taken, renewed while the work runs, released; an expired one, or one whose holder is a dead
  process on the taker's own host, is taken over;
- ``accepted_downloads``: records a curator accepted for download (``scrapy download --record``)
  although the gate held them for review (downloads/gate.py): the eye-evidence rule no longer
  holds them in later gated downloads;
- ``schema_version``: the migrations applied (``MIGRATIONS`` of each backend, in order).

The SQL here is written once for both backends (``?`` placeholders; PostgreSQL translates
them). A backend supplies the connection, ``immediate()`` (one write transaction that
serialises read-decide-write across processes), the clock leases are measured by, and the
row-locking clauses leases use.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple

Owner = tuple[str, str]  # (source, source_id)

LEASE_BATCH = 500  # candidate keys per statement in take_leases (well under SQLite's variable limit)


class ClaimResult(NamedTuple):
    canonical: Owner  # the record that owns these DOIs now
    superseded: list[Owner]  # records that owned some of them before and lost


class StateBusy(Exception):
    """Another process held the state's write lock longer than the timeout (ENVISION_STATE_TIMEOUT)."""


class SchemaTooNew(Exception):
    """The state was migrated by a newer version of envision-spiders than this one."""


def format_owner(owner: Owner) -> str:
    return f"{owner[0]}:{owner[1]}"


def holder_name(node: str | None = None, pid: int | None = None) -> str:
    """This process as a lease holder: ``node:pid`` (node defaults to the host name)."""
    return f"{node or os.uname().nodename}:{os.getpid() if pid is None else pid}"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def holder_gone(current: str, taker: str) -> bool:
    """``current`` holds a lease ``taker`` wants: True when it is a process on the taker's own
    host (same node name) that is no longer running, so its lease needs no waiting out."""
    host, _, pid = current.rpartition(":")
    taker_host = taker.rpartition(":")[0]
    if not host or host != taker_host or not pid.isdigit() or current == taker:
        return False
    return not process_alive(int(pid))


class StateDB(ABC):
    """The state interface; ``SQLiteState`` (state/sqlite.py) and ``PostgresState``
    (state/postgres.py) implement it. Open one with ``state.db.open_state``."""

    # ORDER BY clause giving rows of portal_batches in insertion order
    _insertion_order = "created_at, rowid"
    # appended to the SELECT that reads one lease before deciding on it (row lock where there is one)
    _for_update = ""
    # appended to the SELECT that picks free leases among candidates (skip rows others are deciding on)
    _skip_locked = ""

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders); returns a cursor."""
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        raise NotImplementedError

    def _write_rows(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement over several rows, as one transaction (the caller's, when one is open):
        in autocommit each row's statement would commit on its own, ~15 µs apiece on SQLite."""
        rows = list(rows)
        if len(rows) > 1 and not self.in_transaction:
            with self.immediate():
                self._executemany(sql, rows)
        elif len(rows) == 1:  # the store's one row a record: execute is cheaper than executemany
            self._execute(sql, rows[0])
        elif rows:
            self._executemany(sql, rows)

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def immediate(self) -> AbstractContextManager[None]:
        """One write transaction (other processes wait): read-decide-write without interleaving.

        Nested use joins the transaction already open, so a caller can hold one lock over
        several steps (dedup: the claim and the rewrite of what it superseded).
        """

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction, a part that is undone alone when it raises (the rest of the
        transaction stays): one record's step of a group commit (state/batch.py)."""
        self._execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self._execute("ROLLBACK TO SAVEPOINT step")
            self._execute("RELEASE SAVEPOINT step")
            raise
        self._execute("RELEASE SAVEPOINT step")

    @abstractmethod
    def _lease_transaction(self) -> AbstractContextManager[None]:
        """The transaction a lease decision runs in (row locks where the backend has them)."""

    @abstractmethod
    def _now(self) -> float:
        """Seconds since the epoch by the clock every holder of this state shares."""

    def schema_version(self) -> int:
        row = self._execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    # --- freshness -------------------------------------------------------------------------
    def lookup(self, source: str, source_id: str) -> dict[str, Any] | None:
        """What the state knows of a record; ``unclassified`` is True while its label is owed,
        ``undelivered`` while no feed has what is stored."""
        row = self._execute(
            "SELECT modified, doi, duplicate_of, stored_at,"
            " EXISTS (SELECT 1 FROM unclassified u WHERE u.source=r.source AND u.source_id=r.source_id),"
            " EXISTS (SELECT 1 FROM undelivered d WHERE d.source=r.source AND d.source_id=r.source_id)"
            " FROM records r WHERE source=? AND source_id=?",
            (source, source_id),
        ).fetchone()
        if row is None:
            return None
        return dict(zip(("modified", "doi", "duplicate_of", "stored_at"), row[:4])) | {
            "unclassified": bool(row[4]), "undelivered": bool(row[5])
        }

    # --- DOIs a canonical record took from its copies (pipelines/dedup.py, state/store.py) ----
    def adopt_doi(self, owner: Owner, doi: str, from_owner: Owner) -> bool:
        """``owner`` has no DOI of its own: ``doi`` (its copy ``from_owner``'s) is its DOI from now
        on. The first adopted DOI stays; returns whether this one was recorded."""
        cursor = self._execute(
            "INSERT INTO adopted_dois (source, source_id, doi, from_owner) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, source_id) DO NOTHING",
            (*owner, doi, format_owner(from_owner)),
        )
        return cursor.rowcount > 0

    def adopted_doi(self, owner: Owner) -> str | None:
        row = self._execute(
            "SELECT doi FROM adopted_dois WHERE source=? AND source_id=?", owner
        ).fetchone()
        return row[0] if row else None

    # --- feed delivery (state/store.py writes, exports/feeds.py FeedDelivery settles) ----------
    def mark_undelivered(self, owners: Iterable[Owner], at: str) -> None:
        """What is stored for these records changed and no feed has it yet."""
        self._write_rows(
            "INSERT INTO undelivered (source, source_id, since) VALUES (?, ?, ?)"
            " ON CONFLICT (source, source_id) DO NOTHING",
            [(source, source_id, at) for source, source_id in owners],
        )

    def mark_delivered(self, owners: Iterable[Owner]) -> None:
        """A feed has these records now (or they are owed to none: dropped as copies)."""
        self._write_rows(
            "DELETE FROM undelivered WHERE source=? AND source_id=?", [(s, i) for s, i in owners]
        )

    def undelivered(self, source: str | None = None) -> set[Owner]:
        sql, args = "SELECT source, source_id FROM undelivered", ()
        if source is not None:
            sql, args = sql + " WHERE source=?", (source,)
        return {(r[0], r[1]) for r in self._execute(sql, args)}

    # --- classification owed (pipelines/classify.py, ``scrapy classify``) -------------------
    def mark_unclassified(self, owners: Iterable[Owner], reason: str, at: str) -> None:
        """These records could not be scored: whatever is stored for them is not final."""
        self._write_rows(
            "INSERT INTO unclassified (source, source_id, reason, failed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, source_id) DO UPDATE SET reason=excluded.reason, failed_at=excluded.failed_at",
            [(source, source_id, reason, at) for source, source_id in owners],
        )

    def clear_unclassified(self, owners: Iterable[Owner]) -> None:
        """These records are stored with a label now."""
        self._write_rows(
            "DELETE FROM unclassified WHERE source=? AND source_id=?", [(s, i) for s, i in owners]
        )

    def unclassified(self) -> set[Owner]:
        return {(r[0], r[1]) for r in self._execute("SELECT source, source_id FROM unclassified")}

    # --- records a curator accepted for download (``scrapy download --record``, downloads/gate.py) --
    def accept_for_download(self, owners: Iterable[Owner], at: str) -> None:
        """A person reviewed these records: the gate's eye-evidence rule does not hold them again.
        The first acceptance's time stays."""
        self._write_rows(
            "INSERT INTO accepted_downloads (source, source_id, accepted_at) VALUES (?, ?, ?)"
            " ON CONFLICT (source, source_id) DO NOTHING",
            [(source, source_id, at) for source, source_id in owners],
        )

    def accepted_for_download(self) -> set[Owner]:
        return {(r[0], r[1]) for r in self._execute("SELECT source, source_id FROM accepted_downloads")}

    def withdraw_acceptance(self, owners: Iterable[Owner]) -> list[Owner]:
        """Forget these acceptances (the gate holds the records for review again); returns the
        ones that had been accepted. Files already downloaded stay where they are."""
        with self.immediate():
            accepted = self.accepted_for_download()
            withdrawn = [owner for owner in dict.fromkeys(owners) if owner in accepted]
            self._write_rows("DELETE FROM accepted_downloads WHERE source = ? AND source_id = ?", withdrawn)
        return withdrawn

    def mark_stored(self, source: str, source_id: str, modified: str | None, doi: str | None, at: str) -> None:
        self._execute(
            "INSERT INTO records (source, source_id, modified, doi, duplicate_of, stored_at)"
            " VALUES (?, ?, ?, ?, NULL, ?)"
            " ON CONFLICT (source, source_id) DO UPDATE SET modified=excluded.modified,"
            " doi=excluded.doi, duplicate_of=NULL, stored_at=excluded.stored_at",
            (source, source_id, modified, doi, at),
        )

    def mark_duplicate(self, source: str, source_id: str, modified: str | None, duplicate_of: Owner) -> None:
        self._execute(
            "INSERT INTO records (source, source_id, modified, duplicate_of) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, source_id) DO UPDATE SET modified=excluded.modified,"
            " duplicate_of=excluded.duplicate_of",
            (source, source_id, modified, format_owner(duplicate_of)),
        )

    def reassign_duplicates(self, old: Owner, new: Owner) -> list[Owner]:
        """Records marked as copies of ``old`` become copies of ``new``; returns them."""
        old_s, new_s = format_owner(old), format_owner(new)
        rows = self._execute(
            "SELECT source, source_id FROM records WHERE duplicate_of=?", (old_s,)
        ).fetchall()
        self._execute("UPDATE records SET duplicate_of=? WHERE duplicate_of=?", (new_s, old_s))
        return [(r[0], r[1]) for r in rows if (r[0], r[1]) != new]

    def other_owners(self, dois: Iterable[str], me: Owner) -> list[Owner]:
        """Records other than ``me`` that own any of ``dois`` now, in rank-independent name order."""
        dois = sorted(set(dois))
        if not dois:
            return []
        marks = ",".join("?" * len(dois))
        # the few rows made distinct here, not by SQL: SQLite's DISTINCT opens a temporary b-tree
        # (~18 µs a call, four times the lookup itself; the store asks this of every record)
        rows = self._execute(f"SELECT source, source_id FROM doi_claims WHERE doi IN ({marks})", dois)
        return sorted({(r[0], r[1]) for r in rows} - {me})

    # --- DOI registry ----------------------------------------------------------------------
    def claim(self, dois: Iterable[str], owner: Owner, rank: Sequence[Any]) -> ClaimResult:
        """Decide, atomically across processes, which record owns ``dois``.

        The lowest rank wins, whatever the order records arrive in. The winner takes every
        DOI in play (and every DOI the losers held), so DOIs linked through any record end
        up with one owner. Inside ``immediate()`` it joins the caller's transaction.
        """
        dois = sorted(set(dois))
        my_rank = list(rank)
        if not dois:
            return ClaimResult(owner, [])
        with self.immediate():
            marks = ",".join("?" * len(dois))
            holders: dict[Owner, list[Any]] = {}
            for source, source_id, rank_json in self._execute(
                f"SELECT source, source_id, rank FROM doi_claims WHERE doi IN ({marks})", dois
            ):
                if (source, source_id) != owner:
                    holders[(source, source_id)] = json.loads(rank_json)
            candidates = [(my_rank, owner)] + [(r, o) for o, r in holders.items()]
            best_rank, best = min(candidates, key=lambda c: c[0])
            losers = [o for _, o in candidates if o != best]
            best_json = json.dumps(best_rank)
            for loser in losers:
                self._execute(
                    "UPDATE doi_claims SET source=?, source_id=?, rank=? WHERE source=? AND source_id=?",
                    (*best, best_json, *loser),
                )
            self._executemany(
                "INSERT INTO doi_claims (doi, source, source_id, rank) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (doi) DO UPDATE SET source=excluded.source,"
                " source_id=excluded.source_id, rank=excluded.rank",
                [(doi, *best, best_json) for doi in dois],
            )
        return ClaimResult(best, [o for o in losers if o != owner])

    def owner_of(self, doi: str) -> Owner | None:
        row = self._execute("SELECT source, source_id FROM doi_claims WHERE doi=?", (doi,)).fetchone()
        return (row[0], row[1]) if row else None


    # --- crawl runs (runs.RunLedger) ---------------------------------------------------------
    def start_run(self, run_id: str, spider: str, started_at: str, job: str | None = None) -> None:
        self._execute(
            "INSERT INTO crawl_runs (run_id, spider, job, started_at) VALUES (?, ?, ?, ?)",
            (run_id, spider, job, started_at),
        )

    def finish_run(
        self, run_id: str, finished_at: str, finish_reason: str, items: int, errors: int, clean: bool,
        seen: int | None = None,
    ) -> None:
        """``seen``: records the run met (scraped, dropped, or skipped as unchanged)."""
        self._execute(
            "UPDATE crawl_runs SET finished_at=?, finish_reason=?, items=?, errors=?, clean=?, seen=? WHERE run_id=?",
            (finished_at, finish_reason, items, errors, int(clean), seen, run_id),
        )

    def runs(self, spider: str | None = None) -> list[dict[str, Any]]:
        """Recorded runs, oldest first (all spiders, or one)."""
        cols = ("run_id", "spider", "job", "started_at", "finished_at", "finish_reason", "items", "errors", "seen",
                "clean")
        sql = f"SELECT {', '.join(cols)} FROM crawl_runs"
        rows = self._execute(
            sql + (" WHERE spider=? ORDER BY started_at" if spider else " ORDER BY started_at"),
            (spider,) if spider else (),
        ).fetchall()
        return [dict(zip(cols, row)) | {"clean": bool(row[-1])} for row in rows]

    def last_clean_run(self, spider: str) -> dict[str, Any] | None:
        """The latest run of ``spider`` that finished cleanly, or None."""
        clean = [run for run in self.runs(spider) if run["clean"]]
        return clean[-1] if clean else None

    # --- portal acknowledgements (``scrapy post``) --------------------------------------------
    def portal_acks(self, portal: str) -> dict[Owner, str]:
        """{(source, source_id): content hash} the portal at ``portal`` has acknowledged."""
        rows = self._execute(
            "SELECT source, source_id, content_hash FROM portal_acks WHERE portal=?", (portal,)
        )
        return {(source, source_id): digest for source, source_id, digest in rows}

    def mark_acked(
        self, portal: str, acked: Iterable[tuple[str, str, str]], at: str, batch_id: str | None = None
    ) -> None:
        """Record (source, source_id, content_hash) triples as acknowledged, in one transaction
        that also closes the pending batch ``batch_id`` (its key is spent: never sent again)."""
        with self.immediate():
            self._executemany(
                "INSERT INTO portal_acks (portal, source, source_id, content_hash, acked_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (portal, source, source_id) DO UPDATE SET"
                " content_hash=excluded.content_hash, acked_at=excluded.acked_at",
                [(portal, source, source_id, digest, at) for source, source_id, digest in acked],
            )
            if batch_id is not None:
                self._execute("DELETE FROM portal_batches WHERE portal=? AND batch_id=?", (portal, batch_id))

    def pending_batches(self, portal: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """Batches sent to ``portal`` and not acknowledged: (batch id, member triples), oldest first."""
        rows = self._execute(
            f"SELECT batch_id, members FROM portal_batches WHERE portal=? ORDER BY {self._insertion_order}", (portal,)
        )
        return [(batch_id, [tuple(m) for m in json.loads(members)]) for batch_id, members in rows]

    def open_batch(self, portal: str, batch_id: str, members: Sequence[tuple[str, str, str]], at: str) -> None:
        """Persist a batch before it is sent. A record is in one pending batch at most: older
        pending batches holding any of these records are forgotten (their keys never reused)."""
        owners = {(m[0], m[1]) for m in members}
        with self.immediate():
            for other, other_members in self.pending_batches(portal):
                if other != batch_id and any((m[0], m[1]) in owners for m in other_members):
                    self._execute("DELETE FROM portal_batches WHERE portal=? AND batch_id=?", (portal, other))
            self._execute(
                "INSERT INTO portal_batches (portal, batch_id, members, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (portal, batch_id) DO NOTHING",
                (portal, batch_id, json.dumps([list(m) for m in members]), at),
            )

    def drop_batches(self, portal: str, batch_ids: Iterable[str]) -> None:
        self._write_rows(
            "DELETE FROM portal_batches WHERE portal=? AND batch_id=?", [(portal, b) for b in batch_ids]
        )


    # --- work leases (state/leases.py LeaseKeeper; downloads per record) ---------------------
    def take_lease(self, kind: str, key: str, holder: str, seconds: float) -> bool:
        """Take (or extend) the lease on ``kind``/``key`` for ``seconds``. True when ``holder``
        has it now: it was free, already its own, expired, or held by a dead process on the
        holder's own host. A lease released as done is never taken again."""
        with self._lease_transaction():
            now = self._now()
            row = self._execute(
                "SELECT holder, expires_at, done FROM leases WHERE kind=? AND key=?" + self._for_update, (kind, key)
            ).fetchone()
            if row is None:
                cursor = self._execute(
                    "INSERT INTO leases (kind, key, holder, expires_at, done, taken_at) VALUES (?, ?, ?, ?, 0, ?)"
                    " ON CONFLICT (kind, key) DO NOTHING",
                    (kind, key, holder, now + seconds, now),
                )
                return cursor.rowcount > 0  # 0: another taker inserted it first
            current, expires_at, done = row
            if done:
                return False
            if current and current != holder and expires_at > now and not holder_gone(current, holder):
                return False
            self._execute(
                "UPDATE leases SET holder=?, expires_at=?, taken_at=? WHERE kind=? AND key=?",
                (holder, now + seconds, now, kind, key),
            )
        return True

    def renew_lease(self, kind: str, key: str, holder: str, seconds: float) -> bool:
        """Extend ``holder``'s lease to ``seconds`` from now; False when it is not ``holder``'s any
        more (taken over after it expired, or released)."""
        cursor = self._execute(
            "UPDATE leases SET expires_at=? WHERE kind=? AND key=? AND holder=? AND done=0",
            (self._now() + seconds, kind, key, holder),
        )
        return cursor.rowcount > 0

    def release_lease(self, kind: str, key: str, holder: str, done: bool = False) -> None:
        """Give the lease back (anyone may take it), or with ``done`` mark the work finished
        (nobody takes it again). A lease ``holder`` no longer has is left alone."""
        if done:
            self._execute(
                "UPDATE leases SET done=1, expires_at=? WHERE kind=? AND key=? AND holder=?",
                (self._now(), kind, key, holder),
            )
        else:
            self._execute("DELETE FROM leases WHERE kind=? AND key=? AND holder=?", (kind, key, holder))

    def take_leases(
        self, kind: str, candidates: Iterable[str], holder: str, seconds: float, limit: int
    ) -> list[str]:
        """Take up to ``limit`` leases among ``candidates`` that nobody else holds (free,
        expired, or held by a dead process on this host), in key order; keys another taker is
        deciding on at this moment are skipped, not waited for (PostgreSQL: SKIP LOCKED), so
        concurrent takers get disjoint keys."""
        keys = sorted(set(candidates))
        if not keys or limit <= 0:
            return []
        with self._lease_transaction():  # free rows first, committed, so takers only meet on rows
            self._executemany(
                "INSERT INTO leases (kind, key, holder, expires_at, done) VALUES (?, ?, '', 0, 0)"
                " ON CONFLICT (kind, key) DO NOTHING",
                [(kind, key) for key in keys],
            )
        host_prefix = holder.rpartition(":")[0] + ":"
        with self._lease_transaction():
            now = self._now()
            taken: list[str] = []
            for start in range(0, len(keys), LEASE_BATCH):
                batch = keys[start:start + LEASE_BATCH]
                marks = ",".join("?" * len(batch))
                rows = self._execute(
                    f"SELECT key FROM leases WHERE kind=? AND key IN ({marks}) AND done=0"
                    " AND (holder='' OR holder=? OR expires_at<=?) ORDER BY key LIMIT ?" + self._skip_locked,
                    (kind, *batch, holder, now, limit - len(taken)),
                ).fetchall()
                taken += [r[0] for r in rows]
                if len(taken) >= limit:
                    break
            if len(taken) < limit:  # leases of dead processes on this host: no need to wait them out
                for start in range(0, len(keys), LEASE_BATCH):
                    batch = keys[start:start + LEASE_BATCH]
                    marks = ",".join("?" * len(batch))
                    rows = self._execute(
                        f"SELECT key, holder FROM leases WHERE kind=? AND key IN ({marks}) AND done=0"
                        " AND expires_at>? AND holder<>? AND substr(holder, 1, ?)=? ORDER BY key" + self._skip_locked,
                        (kind, *batch, now, holder, len(host_prefix), host_prefix),
                    ).fetchall()
                    taken += [key for key, current in rows if holder_gone(current, holder)][: limit - len(taken)]
                    if len(taken) >= limit:
                        break
            self._executemany(
                "UPDATE leases SET holder=?, expires_at=?, taken_at=? WHERE kind=? AND key=?",
                [(holder, now + seconds, now, kind, key) for key in taken],
            )
        return sorted(taken)

    def leases(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Leases held or done (free ones left out), for a status view: kind, key, holder,
        ``expires_in`` seconds (negative: expired), done, ``held_for`` seconds."""
        now = self._now()
        sql = "SELECT kind, key, holder, expires_at, done, taken_at FROM leases WHERE holder<>''"
        args: tuple[Any, ...] = ()
        if kind is not None:
            sql, args = sql + " AND kind=?", (kind,)
        rows = self._execute(sql + " ORDER BY kind, key", args).fetchall()
        return [
            {"kind": k, "key": key, "holder": holder, "expires_in": round(expires - now, 3), "done": bool(done),
             "held_for": round(now - taken_at, 3) if taken_at is not None else None}
            for k, key, holder, expires, done, taken_at in rows
        ]

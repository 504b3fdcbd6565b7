"""The embedded state: an SQLite file under ENVISION_DATA_DIR, safe for several crawls at once.

Tables:
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
  crawl, and the next run emits it again.

Writers take ``BEGIN IMMEDIATE`` so two processes never interleave a read-decide-write;
WAL lets readers go on meanwhile. Every call is a short transaction (well under a
millisecond on local disk), so it runs on the reactor thread.
"""

from __future__ import annotations

import json
import sqlite3
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from scrapy import signals

STATE_FILE = "state.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    modified TEXT,
    doi TEXT,
    duplicate_of TEXT,
    stored_at TEXT,
    PRIMARY KEY (source, source_id)
);
CREATE TABLE IF NOT EXISTS doi_claims (
    doi TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    rank TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS doi_claims_owner ON doi_claims (source, source_id);
CREATE TABLE IF NOT EXISTS crawl_runs (
    run_id TEXT PRIMARY KEY,
    spider TEXT NOT NULL,
    job TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    finish_reason TEXT,
    items INTEGER,
    errors INTEGER,
    clean INTEGER NOT NULL DEFAULT 0,
    seen INTEGER
);
CREATE INDEX IF NOT EXISTS crawl_runs_spider ON crawl_runs (spider, clean, started_at);
CREATE TABLE IF NOT EXISTS portal_acks (
    portal TEXT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    acked_at TEXT NOT NULL,
    PRIMARY KEY (portal, source, source_id)
);
CREATE TABLE IF NOT EXISTS portal_batches (
    portal TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    members TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (portal, batch_id)
);
CREATE TABLE IF NOT EXISTS adopted_dois (
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    doi TEXT NOT NULL,
    from_owner TEXT NOT NULL,
    PRIMARY KEY (source, source_id)
);
CREATE TABLE IF NOT EXISTS undelivered (
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    since TEXT NOT NULL,
    PRIMARY KEY (source, source_id)
);
CREATE TABLE IF NOT EXISTS unclassified (
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    reason TEXT,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (source, source_id)
);
"""

Owner = tuple[str, str]  # (source, source_id)


class ClaimResult(NamedTuple):
    canonical: Owner  # the record that owns these DOIs now
    superseded: list[Owner]  # records that owned some of them before and lost


class StateDB:
    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are explicit, so BEGIN IMMEDIATE is ours to issue
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a state file was created (SQLite adds a column in place)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(crawl_runs)")}
        if "seen" not in columns:
            try:
                self._db.execute("ALTER TABLE crawl_runs ADD COLUMN seen INTEGER")
            except sqlite3.OperationalError as exc:  # another process added it meanwhile
                if "duplicate column" not in str(exc):
                    raise

    def close(self) -> None:
        self._db.close()

    # --- freshness -------------------------------------------------------------------------
    def lookup(self, source: str, source_id: str) -> dict[str, Any] | None:
        """What the state knows of a record; ``unclassified`` is True while its label is owed,
        ``undelivered`` while no feed has what is stored."""
        row = self._db.execute(
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
        cursor = self._db.execute(
            "INSERT INTO adopted_dois (source, source_id, doi, from_owner) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, source_id) DO NOTHING",
            (*owner, doi, format_owner(from_owner)),
        )
        return cursor.rowcount > 0

    def adopted_doi(self, owner: Owner) -> str | None:
        row = self._db.execute(
            "SELECT doi FROM adopted_dois WHERE source=? AND source_id=?", owner
        ).fetchone()
        return row[0] if row else None

    # --- feed delivery (state/store.py writes, exports/feeds.py FeedDelivery settles) ----------
    def mark_undelivered(self, owners: Iterable[Owner], at: str) -> None:
        """What is stored for these records changed and no feed has it yet."""
        self._db.executemany(
            "INSERT INTO undelivered (source, source_id, since) VALUES (?, ?, ?)"
            " ON CONFLICT (source, source_id) DO NOTHING",
            [(source, source_id, at) for source, source_id in owners],
        )

    def mark_delivered(self, owners: Iterable[Owner]) -> None:
        """A feed has these records now (or they are owed to none: dropped as copies)."""
        self._db.executemany(
            "DELETE FROM undelivered WHERE source=? AND source_id=?", [(s, i) for s, i in owners]
        )

    def undelivered(self, source: str | None = None) -> set[Owner]:
        sql, args = "SELECT source, source_id FROM undelivered", ()
        if source is not None:
            sql, args = sql + " WHERE source=?", (source,)
        return {(r[0], r[1]) for r in self._db.execute(sql, args)}

    # --- classification owed (pipelines/classify.py, ``scrapy classify``) -------------------
    def mark_unclassified(self, owners: Iterable[Owner], reason: str, at: str) -> None:
        """These records could not be scored: whatever is stored for them is not final."""
        self._db.executemany(
            "INSERT INTO unclassified (source, source_id, reason, failed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, source_id) DO UPDATE SET reason=excluded.reason, failed_at=excluded.failed_at",
            [(source, source_id, reason, at) for source, source_id in owners],
        )

    def clear_unclassified(self, owners: Iterable[Owner]) -> None:
        """These records are stored with a label now."""
        self._db.executemany(
            "DELETE FROM unclassified WHERE source=? AND source_id=?", [(s, i) for s, i in owners]
        )

    def unclassified(self) -> set[Owner]:
        return {(r[0], r[1]) for r in self._db.execute("SELECT source, source_id FROM unclassified")}

    def mark_stored(self, source: str, source_id: str, modified: str | None, doi: str | None, at: str) -> None:
        self._db.execute(
            "INSERT INTO records (source, source_id, modified, doi, duplicate_of, stored_at)"
            " VALUES (?, ?, ?, ?, NULL, ?)"
            " ON CONFLICT (source, source_id) DO UPDATE SET modified=excluded.modified,"
            " doi=excluded.doi, duplicate_of=NULL, stored_at=excluded.stored_at",
            (source, source_id, modified, doi, at),
        )

    def mark_duplicate(self, source: str, source_id: str, modified: str | None, duplicate_of: Owner) -> None:
        self._db.execute(
            "INSERT INTO records (source, source_id, modified, duplicate_of) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, source_id) DO UPDATE SET modified=excluded.modified,"
            " duplicate_of=excluded.duplicate_of",
            (source, source_id, modified, format_owner(duplicate_of)),
        )

    def reassign_duplicates(self, old: Owner, new: Owner) -> list[Owner]:
        """Records marked as copies of ``old`` become copies of ``new``; returns them."""
        old_s, new_s = format_owner(old), format_owner(new)
        rows = self._db.execute(
            "SELECT source, source_id FROM records WHERE duplicate_of=?", (old_s,)
        ).fetchall()
        self._db.execute("UPDATE records SET duplicate_of=? WHERE duplicate_of=?", (new_s, old_s))
        return [(r[0], r[1]) for r in rows if (r[0], r[1]) != new]

    @contextmanager
    def immediate(self) -> Iterator[None]:
        """One write transaction (other processes wait): read-decide-write without interleaving.

        Nested use joins the transaction already open, so a caller can hold one lock over
        several steps (dedup: the claim and the rewrite of what it superseded).
        """
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def other_owners(self, dois: Iterable[str], me: Owner) -> list[Owner]:
        """Records other than ``me`` that own any of ``dois`` now, in rank-independent name order."""
        dois = sorted(set(dois))
        if not dois:
            return []
        marks = ",".join("?" * len(dois))
        rows = self._db.execute(
            f"SELECT DISTINCT source, source_id FROM doi_claims WHERE doi IN ({marks})", dois
        ).fetchall()
        return sorted((r[0], r[1]) for r in rows if (r[0], r[1]) != me)

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
            for source, source_id, rank_json in self._db.execute(
                f"SELECT source, source_id, rank FROM doi_claims WHERE doi IN ({marks})", dois
            ):
                if (source, source_id) != owner:
                    holders[(source, source_id)] = json.loads(rank_json)
            candidates = [(my_rank, owner)] + [(r, o) for o, r in holders.items()]
            best_rank, best = min(candidates, key=lambda c: c[0])
            losers = [o for _, o in candidates if o != best]
            best_json = json.dumps(best_rank)
            for loser in losers:
                self._db.execute(
                    "UPDATE doi_claims SET source=?, source_id=?, rank=? WHERE source=? AND source_id=?",
                    (*best, best_json, *loser),
                )
            self._db.executemany(
                "INSERT INTO doi_claims (doi, source, source_id, rank) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (doi) DO UPDATE SET source=excluded.source,"
                " source_id=excluded.source_id, rank=excluded.rank",
                [(doi, *best, best_json) for doi in dois],
            )
        return ClaimResult(best, [o for o in losers if o != owner])

    def owner_of(self, doi: str) -> Owner | None:
        row = self._db.execute("SELECT source, source_id FROM doi_claims WHERE doi=?", (doi,)).fetchone()
        return (row[0], row[1]) if row else None


    # --- crawl runs (runs.RunLedger) ---------------------------------------------------------
    def start_run(self, run_id: str, spider: str, started_at: str, job: str | None = None) -> None:
        self._db.execute(
            "INSERT INTO crawl_runs (run_id, spider, job, started_at) VALUES (?, ?, ?, ?)",
            (run_id, spider, job, started_at),
        )

    def finish_run(
        self, run_id: str, finished_at: str, finish_reason: str, items: int, errors: int, clean: bool,
        seen: int | None = None,
    ) -> None:
        """``seen``: records the run met (scraped, dropped, or skipped as unchanged)."""
        self._db.execute(
            "UPDATE crawl_runs SET finished_at=?, finish_reason=?, items=?, errors=?, clean=?, seen=? WHERE run_id=?",
            (finished_at, finish_reason, items, errors, int(clean), seen, run_id),
        )

    def runs(self, spider: str | None = None) -> list[dict[str, Any]]:
        """Recorded runs, oldest first (all spiders, or one)."""
        cols = ("run_id", "spider", "job", "started_at", "finished_at", "finish_reason", "items", "errors", "seen",
                "clean")
        sql = f"SELECT {', '.join(cols)} FROM crawl_runs"
        rows = self._db.execute(
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
        rows = self._db.execute(
            "SELECT source, source_id, content_hash FROM portal_acks WHERE portal=?", (portal,)
        )
        return {(source, source_id): digest for source, source_id, digest in rows}

    def mark_acked(
        self, portal: str, acked: Iterable[tuple[str, str, str]], at: str, batch_id: str | None = None
    ) -> None:
        """Record (source, source_id, content_hash) triples as acknowledged, in one transaction
        that also closes the pending batch ``batch_id`` (its key is spent: never sent again)."""
        with self.immediate():
            self._db.executemany(
                "INSERT INTO portal_acks (portal, source, source_id, content_hash, acked_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (portal, source, source_id) DO UPDATE SET"
                " content_hash=excluded.content_hash, acked_at=excluded.acked_at",
                [(portal, source, source_id, digest, at) for source, source_id, digest in acked],
            )
            if batch_id is not None:
                self._db.execute("DELETE FROM portal_batches WHERE portal=? AND batch_id=?", (portal, batch_id))

    def pending_batches(self, portal: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """Batches sent to ``portal`` and not acknowledged: (batch id, member triples), oldest first."""
        rows = self._db.execute(
            "SELECT batch_id, members FROM portal_batches WHERE portal=? ORDER BY created_at, rowid", (portal,)
        )
        return [(batch_id, [tuple(m) for m in json.loads(members)]) for batch_id, members in rows]

    def open_batch(self, portal: str, batch_id: str, members: Sequence[tuple[str, str, str]], at: str) -> None:
        """Persist a batch before it is sent. A record is in one pending batch at most: older
        pending batches holding any of these records are forgotten (their keys never reused)."""
        owners = {(m[0], m[1]) for m in members}
        with self.immediate():
            for other, other_members in self.pending_batches(portal):
                if other != batch_id and any((m[0], m[1]) in owners for m in other_members):
                    self._db.execute("DELETE FROM portal_batches WHERE portal=? AND batch_id=?", (portal, other))
            self._db.execute(
                "INSERT OR IGNORE INTO portal_batches (portal, batch_id, members, created_at) VALUES (?, ?, ?, ?)",
                (portal, batch_id, json.dumps([list(m) for m in members]), at),
            )

    def drop_batches(self, portal: str, batch_ids: Iterable[str]) -> None:
        self._db.executemany(
            "DELETE FROM portal_batches WHERE portal=? AND batch_id=?", [(portal, b) for b in batch_ids]
        )


def format_owner(owner: Owner) -> str:
    return f"{owner[0]}:{owner[1]}"


_by_crawler: weakref.WeakKeyDictionary[Any, StateDB] = weakref.WeakKeyDictionary()


def state_for_crawler(crawler: Any) -> StateDB:
    """The one StateDB of a crawl, shared by the components that need it, closed with the engine."""
    state = _by_crawler.get(crawler)
    if state is None:
        data_dir = Path(crawler.settings.get("ENVISION_DATA_DIR"))
        state = StateDB(data_dir / STATE_FILE, timeout=crawler.settings.getfloat("ENVISION_STATE_TIMEOUT"))
        _by_crawler[crawler] = state
        crawler.signals.connect(state.close, signal=signals.engine_stopped, weak=False)
    return state

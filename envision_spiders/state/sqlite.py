"""The embedded state backend: one SQLite file under ENVISION_DATA_DIR (the default).

Several crawls on one machine share the file: writers take ``BEGIN IMMEDIATE`` so two processes
never interleave a read-decide-write; WAL lets readers go on meanwhile. Every call is a short
transaction (well under a millisecond on local disk), so it runs on the reactor thread.
Leases are decided inside the same write lock and measured by this machine's clock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from envision_spiders.state.base import SchemaTooNew, StateBusy, StateDB

# Version 1 is the schema of state files made before versioning (CREATE ... IF NOT EXISTS keeps
# their tables and rows; ``crawl_runs.seen`` is added where it is missing). Append, never edit.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE IF NOT EXISTS records (
            source TEXT NOT NULL, source_id TEXT NOT NULL, modified TEXT, doi TEXT, duplicate_of TEXT,
            stored_at TEXT, PRIMARY KEY (source, source_id))""",
        """CREATE TABLE IF NOT EXISTS doi_claims (
            doi TEXT PRIMARY KEY, source TEXT NOT NULL, source_id TEXT NOT NULL, rank TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS doi_claims_owner ON doi_claims (source, source_id)",
        """CREATE TABLE IF NOT EXISTS crawl_runs (
            run_id TEXT PRIMARY KEY, spider TEXT NOT NULL, job TEXT, started_at TEXT NOT NULL,
            finished_at TEXT, finish_reason TEXT, items INTEGER, errors INTEGER,
            clean INTEGER NOT NULL DEFAULT 0, seen INTEGER)""",
        "CREATE INDEX IF NOT EXISTS crawl_runs_spider ON crawl_runs (spider, clean, started_at)",
        """CREATE TABLE IF NOT EXISTS portal_acks (
            portal TEXT NOT NULL, source TEXT NOT NULL, source_id TEXT NOT NULL, content_hash TEXT NOT NULL,
            acked_at TEXT NOT NULL, PRIMARY KEY (portal, source, source_id))""",
        """CREATE TABLE IF NOT EXISTS portal_batches (
            portal TEXT NOT NULL, batch_id TEXT NOT NULL, members TEXT NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (portal, batch_id))""",
        """CREATE TABLE IF NOT EXISTS adopted_dois (
            source TEXT NOT NULL, source_id TEXT NOT NULL, doi TEXT NOT NULL, from_owner TEXT NOT NULL,
            PRIMARY KEY (source, source_id))""",
        """CREATE TABLE IF NOT EXISTS undelivered (
            source TEXT NOT NULL, source_id TEXT NOT NULL, since TEXT NOT NULL, PRIMARY KEY (source, source_id))""",
        """CREATE TABLE IF NOT EXISTS unclassified (
            source TEXT NOT NULL, source_id TEXT NOT NULL, reason TEXT, failed_at TEXT NOT NULL,
            PRIMARY KEY (source, source_id))""",
    ]),
    (2, [
        """CREATE TABLE leases (
            kind TEXT NOT NULL, key TEXT NOT NULL, holder TEXT NOT NULL, expires_at REAL NOT NULL,
            done INTEGER NOT NULL DEFAULT 0, taken_at REAL, PRIMARY KEY (kind, key))""",
        "CREATE INDEX leases_holder ON leases (holder)",
    ]),
    (3, [
        """CREATE TABLE accepted_downloads (
            source TEXT NOT NULL, source_id TEXT NOT NULL, accepted_at TEXT NOT NULL, PRIMARY KEY (source, source_id))""",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_JOINED = nullcontext()


class SQLiteState(StateDB):
    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are explicit, so BEGIN IMMEDIATE is ours to issue
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._enter_wal(timeout)
        self._db.execute("PRAGMA synchronous=NORMAL")
        # the shared SQL calls the connection directly: no wrapper on the embedded default's hot path
        self._execute = self._db.execute  # type: ignore[method-assign]
        self._executemany = self._db.executemany  # type: ignore[method-assign]
        self._migrate()

    def _enter_wal(self, timeout: float) -> None:
        """Switch the file to WAL. SQLite answers "database is locked" at once, without waiting
        on the busy timeout, when several openers of a new file switch it together: retry
        until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _version(self) -> int:
        try:
            return self.schema_version()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise

    def _migrate(self) -> None:
        """Bring the file to SCHEMA_VERSION, in one write transaction (a second process opening
        it meanwhile waits, then finds it migrated)."""
        if self._version() == SCHEMA_VERSION:
            return
        with self.immediate():
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at REAL)")
            current = self._version()
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(f"{self.path}: schema version {current}, this code knows up to {SCHEMA_VERSION}")
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    self._db.execute(statement)
                if version == 1:  # files from before ``seen`` existed
                    columns = {row[1] for row in self._db.execute("PRAGMA table_info(crawl_runs)")}
                    if "seen" not in columns:
                        self._db.execute("ALTER TABLE crawl_runs ADD COLUMN seen INTEGER")
                self._db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, time.time()))

    def close(self) -> None:
        self._db.close()

    def immediate(self) -> AbstractContextManager[None]:
        # nested use (a group commit's steps, dedup's claim) joins the open transaction: a
        # ready-made no-op context there, not a generator per call
        return _JOINED if self._db.in_transaction else self._begin_immediate()

    @contextmanager
    def _begin_immediate(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StateBusy(f"state database is locked by another process: {exc}") from exc
            raise
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def _lease_transaction(self) -> AbstractContextManager[None]:
        return self.immediate()

    def _now(self) -> float:
        return time.time()

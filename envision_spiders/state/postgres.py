"""The shared state backend: one PostgreSQL database for every node (ENVISION_STATE_URL).

What enters: a ``postgresql://`` URL (psycopg 3 connection string; the password may come from
``PGPASSWORD`` or ``~/.pgpass`` instead). What leaves: the ``StateDB`` interface, with the
guarantees of the embedded file resting on the database's own concurrency:

- ``immediate()`` is a transaction that first takes a transaction-scoped advisory lock
  (``pg_advisory_xact_lock``), one key for the whole state: like SQLite's ``BEGIN IMMEDIATE``,
  it serialises every read-decide-write (DOI claims, the canonical-record rule, the store's
  writes) across processes and nodes, and is released by the commit or rollback, also when a
  node dies (the server ends its session). Waiting is bounded by ``lock_timeout``
  (ENVISION_STATE_TIMEOUT), after which ``StateBusy`` is raised.
- Leases do not take that lock: each decision locks the lease's row (``SELECT ... FOR UPDATE``),
  and ``take_leases`` picks rows with ``FOR UPDATE SKIP LOCKED``, so concurrent takers get
  disjoint keys without waiting on each other. Lease times are the server's clock
  (``clock_timestamp()``): the nodes' clocks need not agree.
- Everything else is one autocommit statement, as on SQLite.

The schema is created and migrated on first use (``MIGRATIONS``, under an advisory lock so two
nodes starting together migrate once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors, pq

from envision_spiders.http.credentials import redact_url
from envision_spiders.state.base import SchemaTooNew, StateBusy, StateDB

logger = logging.getLogger(__name__)

# advisory lock keys (64-bit; any values other applications of the database do not use)
WRITE_LOCK = 0x656E7669_73696F6E  # "envision"
SCHEMA_LOCK = WRITE_LOCK + 1

# Same tables as the SQLite file; ``portal_batches.seq`` stands in for SQLite's rowid. Append, never edit.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE records (
            source TEXT NOT NULL, source_id TEXT NOT NULL, modified TEXT, doi TEXT, duplicate_of TEXT,
            stored_at TEXT, PRIMARY KEY (source, source_id))""",
        "CREATE INDEX records_duplicate_of ON records (duplicate_of)",
        """CREATE TABLE doi_claims (
            doi TEXT PRIMARY KEY, source TEXT NOT NULL, source_id TEXT NOT NULL, rank TEXT NOT NULL)""",
        "CREATE INDEX doi_claims_owner ON doi_claims (source, source_id)",
        """CREATE TABLE crawl_runs (
            run_id TEXT PRIMARY KEY, spider TEXT NOT NULL, job TEXT, started_at TEXT NOT NULL,
            finished_at TEXT, finish_reason TEXT, items BIGINT, errors BIGINT,
            clean INTEGER NOT NULL DEFAULT 0, seen BIGINT)""",
        "CREATE INDEX crawl_runs_spider ON crawl_runs (spider, clean, started_at)",
        """CREATE TABLE portal_acks (
            portal TEXT NOT NULL, source TEXT NOT NULL, source_id TEXT NOT NULL, content_hash TEXT NOT NULL,
            acked_at TEXT NOT NULL, PRIMARY KEY (portal, source, source_id))""",
        """CREATE TABLE portal_batches (
            portal TEXT NOT NULL, batch_id TEXT NOT NULL, members TEXT NOT NULL, created_at TEXT NOT NULL,
            seq BIGSERIAL, PRIMARY KEY (portal, batch_id))""",
        """CREATE TABLE adopted_dois (
            source TEXT NOT NULL, source_id TEXT NOT NULL, doi TEXT NOT NULL, from_owner TEXT NOT NULL,
            PRIMARY KEY (source, source_id))""",
        """CREATE TABLE undelivered (
            source TEXT NOT NULL, source_id TEXT NOT NULL, since TEXT NOT NULL, PRIMARY KEY (source, source_id))""",
        """CREATE TABLE unclassified (
            source TEXT NOT NULL, source_id TEXT NOT NULL, reason TEXT, failed_at TEXT NOT NULL,
            PRIMARY KEY (source, source_id))""",
    ]),
    (2, [
        """CREATE TABLE leases (
            kind TEXT NOT NULL, key TEXT NOT NULL, holder TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
            done INTEGER NOT NULL DEFAULT 0, taken_at DOUBLE PRECISION, PRIMARY KEY (kind, key))""",
        "CREATE INDEX leases_holder ON leases (holder)",
    ]),
    (3, [
        """CREATE TABLE accepted_downloads (
            source TEXT NOT NULL, source_id TEXT NOT NULL, accepted_at TEXT NOT NULL, PRIMARY KEY (source, source_id))""",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class PostgresState(StateDB):
    _insertion_order = "created_at, seq"
    _for_update = " FOR UPDATE"
    _skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self._closed = False
        self._conn = self._connect()
        self._queries: dict[str, str] = {}
        self._migrate()

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            self.url,
            autocommit=True,  # transactions are explicit (immediate(), leases), as on SQLite
            connect_timeout=max(1, round(self.timeout)),
            options=f"-c lock_timeout={max(1, round(self.timeout * 1000))}",
        )

    def _live(self) -> psycopg.Connection:
        """The connection, opened again when the last one broke (server restart, network): the
        call that met the break failed with it; the next ones go on. Nothing is retried."""
        if self._conn.closed and not self._closed:
            logger.warning("state database connection lost; connecting again to %s", redact_url(self.url))
            self._conn = self._connect()
        return self._conn

    def _sql(self, sql: str) -> str:
        query = self._queries.get(sql)
        if query is None:
            query = self._queries[sql] = sql.replace("?", "%s")
        return query

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._live().execute(self._sql(sql), params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        rows = list(rows)
        if len(rows) == 1:  # the common case (one record): skip executemany's pipeline set-up
            return self._execute(sql, rows[0])
        with self._live().cursor() as cursor:
            if rows:
                cursor.executemany(self._sql(sql), rows)
            return cursor

    def _version(self) -> int:
        try:
            return self.schema_version()
        except errors.UndefinedTable:
            return 0

    def _migrate(self) -> None:
        if self._version() == SCHEMA_VERSION:
            return
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at DOUBLE PRECISION)"
            )
            current = self._version()
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(f"state database: schema version {current}, this code knows up to {SCHEMA_VERSION}")
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (%s, extract(epoch FROM clock_timestamp()))",
                    (version,),
                )

    def close(self) -> None:
        self._closed = True
        self._conn.close()

    @property
    def in_transaction(self) -> bool:
        return not self._conn.closed and self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    @contextmanager
    def _transaction(self, lock: int | None) -> Iterator[None]:
        if self.in_transaction:
            yield
            return
        # BEGIN and the lock in one round trip (simple query protocol: no parameters)
        begin = f"BEGIN; SELECT pg_advisory_xact_lock({int(lock)})" if lock is not None else "BEGIN"
        try:
            self._live().execute(begin)
        except errors.LockNotAvailable as exc:
            self._rollback()
            raise StateBusy(f"state database is locked by another process: {exc}") from exc
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        if not self._conn.closed and self.in_transaction:
            self._conn.execute("ROLLBACK")

    def immediate(self) -> AbstractContextManager[None]:
        return self._transaction(WRITE_LOCK)

    def _lease_transaction(self) -> AbstractContextManager[None]:
        return self._transaction(None)

    def _now(self) -> float:
        return float(self._live().execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])

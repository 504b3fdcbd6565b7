"""The state's schema is versioned: created on first use, migrated in order, nothing lost."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from envision_spiders.state import sqlite
from envision_spiders.state.db import STATE_FILE, SchemaTooNew, open_state

# The schema of state files written before versioning existed (no schema_version, no leases);
# ``crawl_runs.seen`` is left out by the oldest files.
UNVERSIONED_SCHEMA = """
CREATE TABLE records (source TEXT NOT NULL, source_id TEXT NOT NULL, modified TEXT, doi TEXT,
    duplicate_of TEXT, stored_at TEXT, PRIMARY KEY (source, source_id));
CREATE TABLE doi_claims (doi TEXT PRIMARY KEY, source TEXT NOT NULL, source_id TEXT NOT NULL, rank TEXT NOT NULL);
CREATE INDEX doi_claims_owner ON doi_claims (source, source_id);
CREATE TABLE crawl_runs (run_id TEXT PRIMARY KEY, spider TEXT NOT NULL, job TEXT, started_at TEXT NOT NULL,
    finished_at TEXT, finish_reason TEXT, items INTEGER, errors INTEGER, clean INTEGER NOT NULL DEFAULT 0{seen});
CREATE INDEX crawl_runs_spider ON crawl_runs (spider, clean, started_at);
CREATE TABLE portal_acks (portal TEXT NOT NULL, source TEXT NOT NULL, source_id TEXT NOT NULL,
    content_hash TEXT NOT NULL, acked_at TEXT NOT NULL, PRIMARY KEY (portal, source, source_id));
CREATE TABLE portal_batches (portal TEXT NOT NULL, batch_id TEXT NOT NULL, members TEXT NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (portal, batch_id));
CREATE TABLE adopted_dois (source TEXT NOT NULL, source_id TEXT NOT NULL, doi TEXT NOT NULL,
    from_owner TEXT NOT NULL, PRIMARY KEY (source, source_id));
CREATE TABLE undelivered (source TEXT NOT NULL, source_id TEXT NOT NULL, since TEXT NOT NULL,
    PRIMARY KEY (source, source_id));
CREATE TABLE unclassified (source TEXT NOT NULL, source_id TEXT NOT NULL, reason TEXT, failed_at TEXT NOT NULL,
    PRIMARY KEY (source, source_id));
"""

ROWS = [
    ("INSERT INTO records VALUES ('zenodo', '7', 'm7', '10.1/z7', NULL, 't1')", ()),
    ("INSERT INTO records VALUES ('datacite', '10.1/z7', 'm', NULL, 'zenodo:7', NULL)", ()),
    ("INSERT INTO doi_claims VALUES ('10.1/z7', 'zenodo', '7', '[0, 1]')", ()),
    ("INSERT INTO crawl_runs (run_id, spider, started_at, finished_at, finish_reason, items, errors, clean)"
     " VALUES ('r1', 'zenodo', '2026-01-01T00:00:00+00:00', '2026-01-01T00:05:00+00:00', 'finished', 3, 0, 1)", ()),
    ("INSERT INTO portal_acks VALUES ('http://portal', 'zenodo', '7', 'h7', 't2')", ()),
    ("INSERT INTO portal_batches VALUES ('http://portal', 'b1', '[[\"zenodo\", \"8\", \"h8\"]]', 't3')", ()),
    ("INSERT INTO adopted_dois VALUES ('osf', 'abcde', '10.17605/osf.io/abcde', 'datacite:10.17605/osf.io/abcde')", ()),
    ("INSERT INTO undelivered VALUES ('zenodo', '7', 't1')", ()),
    ("INSERT INTO unclassified VALUES ('zenodo', '9', 'model failed', 't4')", ()),
]


def assert_rows_kept(state) -> None:
    assert state.lookup("zenodo", "7") == {"modified": "m7", "doi": "10.1/z7", "duplicate_of": None, "stored_at": "t1",
                                           "unclassified": False, "undelivered": True}
    assert state.lookup("datacite", "10.1/z7")["duplicate_of"] == "zenodo:7"
    assert state.owner_of("10.1/z7") == ("zenodo", "7")
    assert [(r["run_id"], r["clean"], r["items"]) for r in state.runs("zenodo")] == [("r1", True, 3)]
    assert state.portal_acks("http://portal") == {("zenodo", "7"): "h7"}
    assert state.pending_batches("http://portal") == [("b1", [("zenodo", "8", "h8")])]
    assert state.adopted_doi(("osf", "abcde")) == "10.17605/osf.io/abcde"
    assert state.undelivered() == {("zenodo", "7")} and state.unclassified() == {("zenodo", "9")}


def write_old_sqlite_file(data: Path, create_schema: Callable[[sqlite3.Connection], object]) -> None:
    """A state file in ``data`` as an older release left it: its schema, then every table's rows."""
    data.mkdir()
    old = sqlite3.connect(data / STATE_FILE)
    create_schema(old)
    for sql, args in ROWS:
        old.execute(sql, args)
    old.commit()
    old.close()


@pytest.mark.parametrize("seen", [", seen INTEGER", ""], ids=["with-seen", "before-seen"])
def test_an_unversioned_sqlite_file_migrates_and_keeps_every_row(tmp_path, seen):
    data = tmp_path / "data"
    write_old_sqlite_file(data, lambda old: old.executescript(UNVERSIONED_SCHEMA.format(seen=seen)))
    state = open_state("", data)
    try:
        assert state.schema_version() == sqlite.SCHEMA_VERSION
        assert_rows_kept(state)
        assert state.runs("zenodo")[0]["seen"] is None
        state.finish_run("r1", "t", "finished", 3, 0, True, seen=5)
        assert state.runs("zenodo")[0]["seen"] == 5
        assert state.take_lease("download", "zenodo:7", "node-a:1", 60)
    finally:
        state.close()
    versions = sqlite3.connect(data / STATE_FILE).execute("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == [v for v, _ in sqlite.MIGRATIONS]


def test_a_postgres_database_at_version_1_migrates_and_keeps_every_row(postgres_database):
    import psycopg

    from envision_spiders.state import postgres

    with psycopg.connect(postgres_database, autocommit=True) as conn:  # as the first release left it
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at DOUBLE PRECISION)")
        for statement in dict(postgres.MIGRATIONS)[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (1, 0)")
        for sql, _ in ROWS:
            conn.execute(sql.replace("INSERT INTO portal_batches VALUES (", "INSERT INTO portal_batches"
                                     " (portal, batch_id, members, created_at) VALUES ("))
    state = open_state(postgres_database, None)
    try:
        assert state.schema_version() == postgres.SCHEMA_VERSION
        assert_rows_kept(state)
        assert state.take_lease("download", "zenodo:7", "node-a:1", 60)
    finally:
        state.close()


def test_a_sqlite_file_at_version_2_migrates_to_remember_accepted_downloads(tmp_path):
    def at_version_2(old: sqlite3.Connection) -> None:  # as the release with leases left it
        old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at REAL)")
        for version, statements in sqlite.MIGRATIONS[:2]:
            for statement in statements:
                old.execute(statement)
            old.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))

    data = tmp_path / "data"
    write_old_sqlite_file(data, at_version_2)
    state = open_state("", data)
    try:
        assert state.schema_version() == sqlite.SCHEMA_VERSION >= 3
        assert_rows_kept(state)
        assert state.accepted_for_download() == set()
        state.accept_for_download([("zenodo", "7")], "t5")
        assert state.accepted_for_download() == {("zenodo", "7")}
    finally:
        state.close()


def test_a_postgres_database_at_version_2_migrates_to_remember_accepted_downloads(postgres_database):
    import psycopg

    from envision_spiders.state import postgres

    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at DOUBLE PRECISION)")
        for version, statements in postgres.MIGRATIONS[:2]:
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (%s, 0)", (version,))
    state = open_state(postgres_database, None)
    try:
        assert state.schema_version() == postgres.SCHEMA_VERSION >= 3
        state.accept_for_download([("zenodo", "7")], "t5")
        assert state.accepted_for_download() == {("zenodo", "7")}
    finally:
        state.close()


def test_a_state_from_a_newer_release_is_refused(tmp_path, state_url):
    state = open_state(state_url, tmp_path)
    state._execute("INSERT INTO schema_version (version) VALUES (?)", (999,))
    state.close()
    with pytest.raises(SchemaTooNew, match="999"):
        open_state(state_url, tmp_path)


def test_openers_of_a_new_state_at_the_same_moment_create_it_once(tmp_path, state_url):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def opener() -> None:
        try:
            barrier.wait()
            open_state(state_url, tmp_path, timeout=30).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    state = open_state(state_url, tmp_path)
    try:
        assert state._execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(sqlite.MIGRATIONS)
    finally:
        state.close()

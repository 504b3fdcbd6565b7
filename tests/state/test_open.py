"""ENVISION_STATE_URL picks the backend; a URL that cannot work stops a crawl before it starts."""

from __future__ import annotations

import pytest

from envision_spiders.http.credentials import redact_url
from envision_spiders.state.db import STATE_FILE, open_state, state_url_problem
from envision_spiders.state.sqlite import SQLiteState
from tests.conftest import run_crawl


def test_an_empty_url_is_the_sqlite_file_under_the_data_dir(tmp_path):
    state = open_state("", tmp_path / "data")
    try:
        assert isinstance(state, SQLiteState) and (tmp_path / "data" / STATE_FILE).is_file()
    finally:
        state.close()
    with pytest.raises(ValueError, match="ENVISION_DATA_DIR is empty"):
        open_state("", "")


def test_an_unknown_scheme_is_refused_without_its_password():
    problem = state_url_problem("mysql://envision:s3cret@db.example.org/envision")
    assert problem and "unsupported scheme 'mysql'" in problem and "s3cret" not in problem
    assert state_url_problem("postgresql://envision@db.example.org/envision") is None
    assert state_url_problem("") is None
    assert redact_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    with pytest.raises(ValueError, match="unsupported scheme"):
        open_state("sqlite:///tmp/x.sqlite3", None)


def test_a_crawl_with_an_unusable_state_url_stops_before_it_starts(tmp_path):
    result = run_crawl("zenodo", tmp_path, settings={
        "ENVISION_STATE_URL": "mysql://envision:s3cret@db.example.org/envision",
        "ZENODO_API_URL": "http://127.0.0.1:9/api",
    })
    assert result.returncode == 2 and "Traceback" not in result.log
    assert "ENVISION_STATE_URL: unsupported scheme 'mysql'" in result.log
    assert "s3cret" not in result.log


def test_a_lost_postgres_connection_fails_one_call_and_the_next_ones_reconnect(postgres_database, tmp_path):
    import psycopg

    state = open_state(postgres_database, None)
    try:
        state.mark_stored("zenodo", "1", "m", None, "t")
        with psycopg.connect(postgres_database, autocommit=True) as admin:  # the server ends the session
            admin.execute("SELECT pg_terminate_backend(%s)", (state._conn.info.backend_pid,))
        with pytest.raises(psycopg.OperationalError):
            state.lookup("zenodo", "1")
        assert state.lookup("zenodo", "1")["modified"] == "m"  # nothing retried, nothing lost
        with state.immediate():
            state.mark_stored("zenodo", "2", "m", None, "t")
        assert state.lookup("zenodo", "2") is not None and not state.in_transaction
    finally:
        state.close()

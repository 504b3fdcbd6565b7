"""Opening the state: ENVISION_STATE_URL picks the backend, ``state_for_crawler`` shares one per crawl.

What enters: a state URL and the data directory (or a crawler / settings holding them). What
leaves: a :class:`StateDB` — ``SQLiteState`` (state/sqlite.py, the file
``{ENVISION_DATA_DIR}/state.sqlite3``) when the URL is empty, ``PostgresState``
(state/postgres.py) for ``postgresql://`` / ``postgres://``. Who calls it: every component and
command that reads or writes the state; none opens a backend class directly. The tables and the
guarantees are described in state/base.py.
"""

from __future__ import annotations

import importlib.util
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy import signals

from envision_spiders.http.credentials import redact_url
from envision_spiders.state.base import (
    ClaimResult,
    Owner,
    SchemaTooNew,
    StateBusy,
    StateDB,
    format_owner,
    holder_name,
)
from envision_spiders.state.sqlite import SQLiteState

__all__ = [
    "STATE_FILE", "ClaimResult", "Owner", "accepted_after_review", "SchemaTooNew", "StateBusy", "StateDB", "format_owner", "holder_name",
    "open_state", "state_for_crawler", "state_from_settings", "state_url_problem",
]

STATE_FILE = "state.sqlite3"
POSTGRES_SCHEMES = ("postgresql", "postgres")


def state_url_problem(url: str | None) -> str | None:
    """Why ``url`` cannot name the state (checked before a crawl starts), or None when it can."""
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme not in POSTGRES_SCHEMES:
        return f"ENVISION_STATE_URL: unsupported scheme {scheme!r} in {redact_url(url)} (use postgresql://)"
    if importlib.util.find_spec("psycopg") is None:
        return "ENVISION_STATE_URL names PostgreSQL but psycopg is not installed (the `postgres` extra)"
    return None


def open_state(url: str | None, data_dir: str | Path | None, timeout: float = 60.0) -> StateDB:
    """The state at ``url``; empty = the SQLite file under ``data_dir``."""
    if not url:
        if not data_dir:
            raise ValueError("ENVISION_DATA_DIR is empty and ENVISION_STATE_URL is not set: no place for the state")
        return SQLiteState(Path(data_dir) / STATE_FILE, timeout=timeout)
    problem = state_url_problem(url)
    if problem:
        raise ValueError(problem)
    # psycopg is an optional extra: imported only when the URL asks for it
    from envision_spiders.state.postgres import PostgresState

    return PostgresState(url, timeout=timeout)


def state_from_settings(settings: Any) -> StateDB:
    """The state named by ENVISION_STATE_URL / ENVISION_DATA_DIR / ENVISION_STATE_TIMEOUT."""
    return open_state(
        settings.get("ENVISION_STATE_URL"),
        settings.get("ENVISION_DATA_DIR"),
        timeout=settings.getfloat("ENVISION_STATE_TIMEOUT", 60.0),
    )


def accepted_after_review(settings: Any) -> set[Owner]:
    """The held records a curator accepted (``scrapy download --record``), read once from the
    state named by the settings. A data directory without a state file (records copied from
    another machine) has none, and reading them does not create one there."""
    if not settings.get("ENVISION_STATE_URL") and not (Path(settings.get("ENVISION_DATA_DIR")) / STATE_FILE).exists():
        return set()
    state = state_from_settings(settings)
    try:
        return state.accepted_for_download()
    finally:
        state.close()


_by_crawler: weakref.WeakKeyDictionary[Any, StateDB] = weakref.WeakKeyDictionary()


def state_for_crawler(crawler: Any) -> StateDB:
    """The one StateDB of a crawl, shared by the components that need it, closed with the engine."""
    state = _by_crawler.get(crawler)
    if state is None:
        state = state_from_settings(crawler.settings)
        _by_crawler[crawler] = state
        crawler.signals.connect(state.close, signal=signals.engine_stopped, weak=False)
    return state

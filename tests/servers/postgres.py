"""A real PostgreSQL on loopback for the state tests: Debian's server binaries, run as a plain process.

``postgres_server`` (session-scoped) runs ``initdb`` into a temporary directory and starts
``postgres -k <dir> -p <free port> -c listen_addresses=127.0.0.1 -F`` (no fsync: test data is
thrown away). PostgreSQL refuses to run as root: as root (CI) both run as the ``postgres``
system user (``useradd`` creates it when missing), the directory handed over to it.
``postgres_database`` (per test) creates a fresh, empty database and returns its URL.

When the server cannot start, every test that needs it fails with the reason (never skips):
the postgres-parametrised state tests are part of what CI checks. The start is attempted once
per session; its failure is cached by pytest for the others, so a broken set-up stays fast.
Binaries: ``$ENVISION_TEST_PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin``, else ``PATH``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 20.0
SERVER_USER = "postgres"


def _bin_dir() -> Path:
    if os.environ.get("ENVISION_TEST_PG_BIN"):
        return Path(os.environ["ENVISION_TEST_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found (install Debian's `postgresql`: scripts/install.sh --test)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; ``url(database)`` names a database on it."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = _free_port()
        # as root the server runs as another user, who must reach the directory: /tmp, not $TMPDIR
        self.tmp = Path(tempfile.mkdtemp(prefix="envision-pg-", dir="/tmp" if os.geteuid() == 0 else None))
        self.data = self.tmp / "data"
        self.log = self.tmp / "server.log"
        self.proc: subprocess.Popen | None = None
        self._as: dict[str, Any] = {}
        self._names = itertools.count(1)

    def _run_as_server_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True, capture_output=True)
        user = pwd.getpwnam(SERVER_USER)
        os.chown(self.tmp, user.pw_uid, user.pw_gid)
        self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def start(self) -> None:
        self._run_as_server_user()
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        init = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            capture_output=True, text=True, env=env, cwd=self.tmp, **self._as,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr.strip()[-2000:]}")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.tmp), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-F", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.tmp, **self._as,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready after {START_TIMEOUT}s: {exc}; {self.log.read_text()[-2000:]}") from exc
                time.sleep(0.05)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown (sessions rolled back)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except Exception as exc:  # no binaries: fail with the reason
        pytest.fail(f"cannot start PostgreSQL for the state tests: {exc}", pytrace=False)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        pytest.fail(f"cannot start PostgreSQL for the state tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """The URL of a fresh database on the session's PostgreSQL."""
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request: pytest.FixtureRequest) -> str:
    """ENVISION_STATE_URL for a test that runs on both backends: "" (SQLite under the test's
    ENVISION_DATA_DIR) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("postgres_database")

"""A real nginx on loopback, as a Range-capable file server for tests (plain process, own config).

Two server blocks share one document root (``NginxServer.root``):

* ``http://127.0.0.1:<port>`` ("origin")
  - ``/files/<name>``          the file, Range and multi-range (``multipart/byteranges``) allowed
  - ``/norange/<name>``        ``max_ranges 0``: Range ignored, always 200 with the whole file
  - ``/single/<name>``         ``max_ranges 1``: one range works, a multi-range request gets 200
  - ``/slow/<name>``           the file at ``slow_rate`` bytes/s per connection (to kill a download mid-way)
  - ``/redirect/<name>``       302 to ``/files/<name>`` on the storage host (another loopback IP)
  - ``/auth/<name>``           401 without an Authorization header, else the file
* ``http://127.0.0.2:<port2>`` ("storage") - ``/files/<name>`` as above, logging whether an
  ``Authorization`` header arrived (never its value).

Every request is logged as one JSON line (``server``, ``method``, ``uri``, ``range``, ``status``,
``bytes`` = body bytes sent, ``auth`` = "yes"/"-"); read them with :meth:`NginxServer.requests`.

Use the ``nginx`` fixture (session-scoped; call ``reset_log()`` at the start of a test) or
``NginxServer`` as a context manager. Tests skip when nginx is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest

NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
STORAGE_HOST = "127.0.0.2"

_CONFIG = """
daemon off;
worker_processes 1;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    types {{ application/zip zip; application/x-tar tar; application/gzip gz tgz; }}
    sendfile on;
    gzip off;
    keepalive_timeout 30;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $http_authorization $auth_seen {{ "" "-"; default "yes"; }}
    log_format envision escape=json
        '{{"server":"$server_addr","method":"$request_method","uri":"$uri","range":"$http_range",'
        '"status":$status,"bytes":$body_bytes_sent,"auth":"$auth_seen"}}';
    access_log {tmp}/access.log envision;

    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /files/ {{ alias {root}/; }}
        location /norange/ {{ alias {root}/; max_ranges 0; }}
        location /single/ {{ alias {root}/; max_ranges 1; }}
        location /slow/ {{ alias {root}/; limit_rate {slow_rate}; }}
        location /auth/ {{
            alias {root}/;
            if ($http_authorization = "") {{ return 401; }}
        }}
        location /redirect/ {{
            rewrite ^/redirect/(.*)$ http://{storage}:{port2}/files/$1 redirect;
        }}
    }}
    server {{
        listen {storage}:{port2};
        root {root};
        location /files/ {{ alias {root}/; }}
        location /single/ {{ alias {root}/; max_ranges 1; }}
    }}
}}
"""


def find_nginx() -> str | None:
    for candidate in NGINX_CANDIDATES:
        path = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if path:
            return path
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class NginxServer:
    """One nginx process with the configuration above, under ``workdir``."""

    def __init__(self, workdir: Path, binary: str | None = None, slow_rate: str = "2m") -> None:
        self.binary = binary or find_nginx()
        if self.binary is None:
            raise RuntimeError("nginx is not installed")
        self.workdir = Path(workdir)
        self.slow_rate = slow_rate
        self.root = self.workdir / "root"
        self.tmp = self.workdir / "nginx"
        self.port = 0
        self.storage_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    # --- URLs --------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage(self) -> str:
        return f"http://{STORAGE_HOST}:{self.storage_port}"

    def url(self, name: str, location: str = "files") -> str:
        """URL of ``root/name`` under a location: files, norange, single, auth, redirect."""
        return f"{self.origin}/{location}/{name}"

    def storage_url(self, name: str) -> str:
        return f"{self.storage}/files/{name}"

    # --- files -------------------------------------------------------------------------
    def put(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self.url(name)

    # --- log ---------------------------------------------------------------------------
    @property
    def access_log(self) -> Path:
        return self.tmp / "access.log"

    def reset_log(self) -> None:
        """Forget earlier requests (nginx appends, so truncating is safe)."""
        if self.access_log.exists():
            with self.access_log.open("r+b") as fh:
                fh.truncate(0)

    def requests(self, uri_prefix: str = "") -> list[dict[str, Any]]:
        """Logged requests (oldest first), optionally only those whose URI starts with a prefix."""
        if not self.access_log.exists():
            return []
        entries = [json.loads(line) for line in self.access_log.read_text().splitlines() if line.strip()]
        return [e for e in entries if e["uri"].startswith(uri_prefix)]

    def error_log(self) -> str:
        path = self.tmp / "error.log"
        return path.read_text() if path.exists() else ""

    # --- process -----------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.storage_port = free_port(STORAGE_HOST)
        user = ""
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            user = "user root root;"  # workers must read the test's private temp dir
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            _CONFIG.format(
                user=user, tmp=self.tmp, root=self.root, port=self.port, port2=self.storage_port,
                storage=STORAGE_HOST, slow_rate=self.slow_rate,
            )
        )
        self._proc = subprocess.Popen(
            [self.binary, "-p", str(self.tmp), "-c", str(conf), "-e", str(self.tmp / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = timeout
        for host, port in (("127.0.0.1", self.port), (STORAGE_HOST, self.storage_port)):
            while True:
                try:
                    with socket.create_connection((host, port), timeout=1):
                        break
                except OSError:
                    pass
                try:
                    self._proc.wait(timeout=0.05)  # wait on nginx itself: returns if it died
                except subprocess.TimeoutExpired:
                    deadline -= 0.05
                    if deadline <= 0:
                        self.stop()
                        raise RuntimeError(f"nginx did not start: {self.error_log()}") from None
                    continue
                stderr = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"nginx exited: {stderr} {self.error_log()}")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # SIGTERM: fast shutdown of master and worker
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    """A session-wide nginx; each test should ``reset_log()`` and use its own file names."""
    if find_nginx() is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx); Range integration tests need it")
    server = NginxServer(tmp_path_factory.mktemp("nginx"))
    with server:
        yield server

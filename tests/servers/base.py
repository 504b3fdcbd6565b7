"""A tiny threaded HTTP server for fake repository APIs, with a request log and faults.

Each fake subclasses ``FakeAPI`` and registers routes; tests inject faults by route name
and request number ("the 3rd search request answers 429"), so every fault is scripted,
never random.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (a connection lost mid-request)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Call:
    route: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.monotonic)


Handler = Callable[[Call, "re.Match[str]"], Reply]

_BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def ranged_reply(call: Call, data: bytes, content_type: str = "application/octet-stream") -> Reply:
    """``data`` answered as a file server answers one byte range (206 + Content-Range; a
    suffix range; 416 past the end), or whole (200) without a Range header. Several ranges
    in one request get the whole file, as from a server that does not do multipart."""
    size = len(data)
    value = call.headers.get("Range") or call.headers.get("range") or ""
    match = _BYTE_RANGE.fullmatch(value.strip())
    if not match:
        return Reply(200, data, {"Content-Type": content_type, "Accept-Ranges": "bytes"})
    first, last = match.groups()
    if not first:
        start, end = max(0, size - int(last or 0)), size
    else:
        start, end = int(first), min(size, int(last) + 1 if last else size)
    if start >= size:
        return Reply(416, b"", {"Content-Range": f"bytes */{size}"})
    return Reply(206, data[start:end], {"Content-Type": content_type, "Content-Range": f"bytes {start}-{end - 1}/{size}"})


class FakeAPI:
    """Subclasses call ``self.route(name, method, pattern, handler)`` in ``__init__``."""

    bind_host = "127.0.0.1"  # another loopback address (127.0.0.2) makes a host of its own for Scrapy's slots

    def __init__(self) -> None:
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []
        self.calls: list[Call] = []
        self._faults: dict[str, dict[int, Reply]] = defaultdict(dict)
        self._counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._held: dict[str, threading.Event] = {}
        self._server: ThreadingHTTPServer | None = None
        self._scheme = "http"

    # --- set-up ------------------------------------------------------------------------
    def route(self, name: str, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((name, method, re.compile(pattern), handler))

    def fault(self, route: str, nth: int, reply: Reply | Callable[[], Reply]) -> None:
        """The ``nth`` (1-based) request to ``route`` gets ``reply`` instead of the real answer
        (a callable is called when that request arrives: for answers that depend on the time)."""
        self._faults[route][nth] = reply

    def hold(self, route: str) -> None:
        """Requests to ``route`` wait (at most a minute) until ``release(route)``: a crawl kept running."""
        self._held[route] = threading.Event()

    def release(self, route: str) -> None:
        held = self._held.pop(route, None)
        if held is not None:
            held.set()

    def calls_to(self, route: str) -> list[Call]:
        return [c for c in self.calls if c.route == route]

    # --- serving -----------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        for name, route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(parts.path)
            if route_method == method and match:
                call = Call(name, method, parts.path, parse_qs(parts.query), headers, body)
                with self._lock:
                    self._counts[name] += 1
                    nth = self._counts[name]
                    self.calls.append(call)
                held = self._held.get(name)
                if held is not None:
                    held.wait(60)
                reply = self._faults[name].pop(nth, None)
                if callable(reply):
                    reply = reply()
                if reply is None:
                    try:
                        reply = handler(call, match)
                    except Exception as exc:  # a bug in the fake must show up, not hang the crawl
                        reply = Reply(599, f"fake server error: {exc!r}".encode())
                call.status = 0 if reply.drop else reply.status
                return reply
        return Reply(404, b'{"message": "not found"}', {"Content-Type": "application/json"})

    def start(self, tls: ssl.SSLContext | None = None) -> str:
        """Serve on a free loopback port (HTTPS with ``tls``, a server-side context); the base URL."""
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = api.dispatch(self.command, self.path, dict(self.headers.items()), body)
                if reply.drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer((self.bind_host, 0), _Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAPI:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

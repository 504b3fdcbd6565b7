"""A Range-capable file server that stalls on cue: "answer N file requests, then hold the next
ones until the test says so". It turns "kill the download mid-file" and "start a second download
while the first one is running" into fixed interleavings instead of races against a slow server.

Serves ``/files/<name>`` like nginx does for what downloads ask: ``Range: bytes=a-b`` -> 206
with ``Content-Range``, no Range -> 200, ``If-Range`` not matching the ETag -> 200 with the whole
file; the ETag is a hash of the content, so ``put`` with new bytes changes it. Every answered
file request is logged in :attr:`served` (user agent, range, status, body bytes).

    server.stall_after(4)          # requests 1-4 are answered, the 5th and later ones wait
    server.stalled.wait(60)        # the 5th has arrived: the client finished 4 requests
    ...                            # kill the client, or start another one
    server.resume(drop=True)       # held requests: connection closed (drop=False: answered)
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

from tests.servers.base import Call, FakeAPI, Reply

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class Served:
    name: str
    user_agent: str
    range: tuple[int, int] | None  # half-open, None for a whole body
    status: int
    bytes: int


class StallingFileServer(FakeAPI):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.served: list[Served] = []
        self.stalled = threading.Event()  # a request is waiting at the stall
        self._stall_after: int | None = None
        self._stall_agent: str | None = None
        self._seen = 0
        self._resume = threading.Event()
        self._drop_held = False
        self.route("file", "GET", r"/files/(.+)", self._file)

    # --- set-up ------------------------------------------------------------------------
    def put(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return self.url(name)

    def url(self, name: str) -> str:
        return f"{self.base_url}/files/{name}"

    @staticmethod
    def etag(data: bytes) -> str:
        return '"' + hashlib.sha256(data).hexdigest()[:16] + '"'

    def stall_after(self, answered: int, user_agent: str | None = None) -> None:
        """Answer ``answered`` file requests (only those from ``user_agent`` count and stall,
        when given), then hold every later one until :meth:`resume`."""
        with self._lock:
            self._stall_after, self._stall_agent, self._seen = answered, user_agent, 0
            self._resume.clear()
            self.stalled.clear()

    def resume(self, drop: bool = False) -> None:
        """Stop stalling; held requests are answered, or (``drop``) their connection is closed
        without an answer (their client was killed)."""
        with self._lock:
            self._stall_after = None
            self._drop_held = drop
        self._resume.set()

    def served_to(self, user_agent: str) -> list[Served]:
        return [s for s in self.served if s.user_agent == user_agent]

    # --- serving -----------------------------------------------------------------------
    def _wait_if_stalled(self, agent: str) -> bool:
        """True when this request was held and must be dropped."""
        with self._lock:
            if self._stall_after is None or (self._stall_agent is not None and agent != self._stall_agent):
                return False
            self._seen += 1
            if self._seen <= self._stall_after:
                return False
        self.stalled.set()
        if not self._resume.wait(120):
            return True
        return self._drop_held

    def _file(self, call: Call, match: re.Match[str]) -> Reply:
        agent = call.headers.get("User-Agent", "")
        if self._wait_if_stalled(agent):
            return Reply(drop=True)
        name = match.group(1)
        data = self.files.get(name)
        if data is None:
            return Reply(404, b"not found")
        etag = self.etag(data)
        headers = {"ETag": etag, "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        asked = _RANGE.fullmatch(call.headers.get("Range", "").strip())
        if_range = call.headers.get("If-Range")
        if asked is None or (if_range is not None and if_range != etag):
            return self._log(name, agent, None, Reply(200, data, headers))
        start = int(asked.group(1))
        end = min(int(asked.group(2)) + 1 if asked.group(2) else len(data), len(data))
        if start >= len(data):
            return self._log(name, agent, None, Reply(416, b"", {**headers, "Content-Range": f"bytes */{len(data)}"}))
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        return self._log(name, agent, (start, end), Reply(206, data[start:end], headers))

    def _log(self, name: str, agent: str, span: tuple[int, int] | None, reply: Reply) -> Reply:
        with self._lock:
            self.served.append(Served(name, agent, span, reply.status, len(reply.body)))
        return reply

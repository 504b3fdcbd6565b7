"""A static dataset portal (``tests/fixtures/portal/site``) whose lists, pagination and JSON-LD
are written by JavaScript at load time, served with a request log (``FakeAPI``)."""

from __future__ import annotations

import mimetypes
import re
import time
from pathlib import Path

from tests.servers.base import Call, FakeAPI, Reply

SITE = Path(__file__).resolve().parent.parent / "fixtures" / "portal" / "site"


class FakePortal(FakeAPI):
    def __init__(self, root: Path = SITE) -> None:
        super().__init__()
        self.root = root.resolve()
        self.times: list[tuple[float, str]] = []  # (monotonic time, path?query) of every request
        self.route("file", "GET", r"/(?P<path>.*)", self.serve)

    def serve(self, call: Call, match: re.Match[str]) -> Reply:
        query = "&".join(f"{k}={v[0]}" for k, v in call.query.items())
        self.times.append((time.monotonic(), call.path + (f"?{query}" if query else "")))
        path = (self.root / (match["path"] or "index.html")).resolve()
        if self.root not in path.parents or not path.is_file():
            return Reply(404, b"<html><body><h1>Not found</h1></body></html>", {"Content-Type": "text/html"})
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        return Reply(200, path.read_bytes(), {"Content-Type": ctype})

    def paths(self) -> list[str]:
        return [p for _, p in self.times]

"""An in-memory file server speaking HTTP Range, as a ``download`` callable for RangeReader.

It answers the requests ``http.ranges.range_request`` builds the way nginx does (206 with
``Content-Range``, ``multipart/byteranges`` for several ranges, 416 past the end, 200 when
``If-Range`` does not match the ETag) and, like the ``headers_received`` guard in a real crawl,
hands back a 200 "stopped on its headers" (empty body, ``download_stopped`` flag) when the guard
would stop it. No network, no reactor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scrapy import Request
from scrapy.exceptions import StopDownload
from scrapy.http import Headers, Response

from envision_spiders.http.ranges import stop_ignored_range

BOUNDARY = "3d6b6a416f9b5"


@dataclass
class FakeRangeServer:
    data: bytes
    etag: str = '"v1"'
    honour_range: bool = True
    max_ranges: int = 0  # 0: any number (nginx's default); 1: a multi-range request gets 200
    requests: list[Request] = field(default_factory=list)

    async def download(self, request: Request) -> Response:
        self.requests.append(request)
        value = (request.headers.get(b"Range") or b"").decode()
        if_range = (request.headers.get(b"If-Range") or b"").decode()
        ranges = self._ranges(value)
        if not self.honour_range or not ranges or (if_range and if_range != self.etag):
            return self._whole(request)
        if self.max_ranges and len(ranges) > self.max_ranges:
            return self._whole(request)
        size = len(self.data)
        if all(start >= size for start, _ in ranges):
            return self._respond(request, 416, {"Content-Range": f"bytes */{size}"}, b"")
        ranges = [(start, min(end, size)) for start, end in ranges if start < size]
        if len(ranges) == 1:
            start, end = ranges[0]
            headers = {"Content-Range": f"bytes {start}-{end - 1}/{size}"}
            return self._respond(request, 206, headers, self.data[start:end])
        body = b""
        for start, end in ranges:
            body += (f"\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n"
                     f"Content-Range: bytes {start}-{end - 1}/{size}\r\n\r\n").encode() + self.data[start:end]
        body += f"\r\n--{BOUNDARY}--\r\n".encode()
        return self._respond(request, 206, {"Content-Type": f"multipart/byteranges; boundary={BOUNDARY}"}, body)

    def _ranges(self, value: str) -> list[tuple[int, int]]:
        if not value.startswith("bytes="):
            return []
        out = []
        for spec in value.removeprefix("bytes=").split(","):
            first, _, last = spec.partition("-")
            if not first:  # suffix
                n = int(last)
                out.append((max(0, len(self.data) - n), len(self.data)))
            else:
                out.append((int(first), int(last) + 1 if last else len(self.data)))
        return out

    def _whole(self, request: Request) -> Response:
        headers = Headers({"Content-Length": str(len(self.data)), "ETag": self.etag})
        try:
            stop_ignored_range(headers, len(self.data), request)
        except StopDownload:
            return Response(request.url, status=200, headers=headers, body=b"", flags=["download_stopped"],
                            request=request)
        return Response(request.url, status=200, headers=headers, body=self.data, request=request)

    def _respond(self, request: Request, status: int, headers: dict[str, str], body: bytes) -> Response:
        return Response(request.url, status=status, headers={**headers, "ETag": self.etag}, body=body,
                        request=request)

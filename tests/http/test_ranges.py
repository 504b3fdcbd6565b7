"""The one Range path (``http/ranges.py``): requests, the ignored-Range guard, answer validation,
stats, and RangeReader over an in-memory Range server."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.exceptions import StopDownload
from scrapy.http import Headers, Response
from scrapy.utils.test import get_crawler

from envision_spiders.http.ranges import (
    META_RANGE,
    UNLIMITED,
    FetchFailed,
    MultiRangeRefused,
    RangeChanged,
    RangeNotSatisfiable,
    RangeNotSupported,
    RangeReader,
    range_answer,
    range_request,
    stop_ignored_range,
)
from tests.http.fakes import FakeRangeServer

PACKAGE = Path(__file__).resolve().parents[2] / "envision_spiders"
DATA = bytes(range(256)) * 40  # 10,240 bytes


def answer(request: Request, status: int, body: bytes = b"", flags: list[str] | None = None, **headers: str) -> Response:
    head = {k.replace("_", "-"): v for k, v in headers.items()}
    return Response(request.url, status=status, headers=head, body=body, flags=flags, request=request)


def reader(server: FakeRangeServer, **kw: object) -> RangeReader:
    crawler = get_crawler()
    return RangeReader(crawler, "http://files.test/a.zip", download=server.download, **kw)  # type: ignore[arg-type]


# --- requests ----------------------------------------------------------------------------------


def test_range_request_headers_and_meta() -> None:
    req = range_request("http://h/f", [(0, 10), (100, 150)], headers={"Authorization": "t"})
    assert req.headers[b"Range"] == b"bytes=0-9,100-149"
    assert req.headers[b"Accept-Encoding"] == b"identity" and req.headers[b"Authorization"] == b"t"
    assert b"If-Range" not in req.headers
    assert req.dont_filter and req.meta["dont_cache"] and req.meta["handle_httpstatus_list"] == [200, 206, 416]
    asked = req.meta[META_RANGE]
    assert asked.multi and asked.expect > 60 and not asked.if_range
    assert req.meta["download_maxsize"] == asked.expect + 64 * 1024


def test_suffix_and_if_range_request() -> None:
    req = range_request("http://h/f", suffix=65536, if_range='"etag-1"', accept_whole=1 << 20)
    assert req.headers[b"Range"] == b"bytes=-65536" and req.headers[b"If-Range"] == b'"etag-1"'
    assert req.meta[META_RANGE].if_range and req.meta["download_maxsize"] == 1 << 20  # the whole body accepted
    with pytest.raises(ValueError):
        range_request("http://h/f")


def test_caller_meta_is_kept_under_the_range_keys() -> None:
    req = range_request("http://h/f", [(0, 10)], meta={"handle_httpstatus_list": [206], "download_maxsize": 1, "x": 1})
    assert req.meta["handle_httpstatus_list"] == [206] and req.meta["x"] == 1
    assert req.meta["download_maxsize"] == 10 + 64 * 1024  # the cap is the Range module's


# --- the guard ---------------------------------------------------------------------------------


def test_guard_stops_a_whole_file_answer_on_its_headers() -> None:
    req = range_request("http://h/f", [(0, 100)])
    with pytest.raises(StopDownload):
        stop_ignored_range(Headers({"Content-Length": "5000"}), 5000, req)
    with pytest.raises(StopDownload):  # unknown length: stopped too
        stop_ignored_range(Headers({}), -1, req)
    stop_ignored_range(Headers({"Content-Range": "bytes 0-99/5000"}), 100, req)
    stop_ignored_range(Headers({"Content-Type": "multipart/byteranges; boundary=x"}), 9000, req)
    stop_ignored_range(Headers({"Location": "http://other/f"}), 5000, req)
    stop_ignored_range(Headers({}), 80, req)  # the whole (small) file: what was asked for
    stop_ignored_range(Headers({}), 10**9, Request("http://h/f"))  # not a ranged request: not ours


def test_guard_lets_an_accepted_whole_body_through() -> None:
    req = range_request("http://h/f", [(0, 100)], accept_whole=4096)
    stop_ignored_range(Headers({}), 4096, req)
    stop_ignored_range(Headers({}), -1, req)  # unknown length: download_maxsize caps it
    with pytest.raises(StopDownload):
        stop_ignored_range(Headers({}), 4097, req)


# --- answers ----------------------------------------------------------------------------------


def test_206_is_validated_and_counted() -> None:
    crawler = get_crawler()
    req = range_request("http://h/f", [(10, 20)])
    got = range_answer(answer(req, 206, DATA[10:20], Content_Range="bytes 10-19/10240"), crawler.stats)
    assert got.parts == [(10, DATA[10:20])] and got.total == 10240 and not got.whole
    assert got.exact(10, 20, 10240) == DATA[10:20]
    with pytest.raises(FetchFailed, match="size mismatch"):
        got.exact(10, 20, 999)
    with pytest.raises(FetchFailed, match="asked for bytes 0-20"):
        got.exact(0, 20)
    with pytest.raises(FetchFailed, match="206 body of 5 bytes for a 10-byte range"):
        range_answer(answer(req, 206, DATA[10:15], Content_Range="bytes 10-19/10240"), crawler.stats)
    with pytest.raises(FetchFailed, match="Content-Range"):
        range_answer(answer(req, 206, DATA[10:20]), crawler.stats)
    stats = crawler.stats.get_stats()
    assert stats["envision/range/responses"] == 3 and stats["envision/range/invalid"] == 2
    assert stats["envision/range/bytes"] == 25


def test_ignored_range_416_and_errors() -> None:
    crawler = get_crawler()
    single, multi = range_request("http://h/f", [(0, 10)]), range_request("http://h/f", [(0, 10), (50, 60)])
    with pytest.raises(RangeNotSupported) as exc:
        range_answer(answer(single, 200, flags=["download_stopped"]), crawler.stats)
    assert not isinstance(exc.value, MultiRangeRefused)
    with pytest.raises(MultiRangeRefused):
        range_answer(answer(multi, 200, flags=["download_stopped"]), crawler.stats)
    whole = range_answer(answer(single, 200, b"tiny"), crawler.stats)  # a whole file smaller than asked
    assert whole.whole and whole.parts == [(0, b"tiny")] and whole.total == 4
    with pytest.raises(RangeNotSatisfiable) as not_sat:
        range_answer(answer(single, 416, Content_Range="bytes */7"), crawler.stats)
    assert not_sat.value.total == 7
    with pytest.raises(FetchFailed, match="HTTP 404"):
        range_answer(answer(single, 404, b"not found"), crawler.stats)
    stats = crawler.stats.get_stats()
    assert stats["envision/range/ignored"] == 3 and stats["envision/range/multirange_refused"] == 1
    assert stats["envision/range/not_satisfiable"] == 1 and stats["envision/range/failed"] == 1


def test_if_range_answered_with_200_means_the_file_changed() -> None:
    crawler = get_crawler()
    req = range_request("http://h/f", [(100, 200)], if_range='"v1"')
    with pytest.raises(RangeChanged):
        range_answer(answer(req, 200, flags=["download_stopped"]), crawler.stats)
    assert crawler.stats.get_value("envision/range/changed") == 1


# --- RangeReader --------------------------------------------------------------------------------


def test_reader_reads_ranges_tail_and_many() -> None:
    server = FakeRangeServer(DATA)
    r = reader(server, size=len(DATA))

    async def run() -> None:
        assert await r.read(100, 200) == DATA[100:200]
        start, tail = await r.read_tail(1000)
        assert (start, tail) == (len(DATA) - 1000, DATA[-1000:])
        parts = await r.read_many([(0, 10), (5000, 5010), (9000, 9010)])
        assert sorted(parts) == [(0, DATA[:10]), (5000, DATA[5000:5010]), (9000, DATA[9000:9010])]

    asyncio.run(run())
    assert r.requests == 3 and [q.headers[b"Range"] for q in server.requests][-1] == b"bytes=0-9,5000-5009,9000-9009"


def test_reader_learns_the_size_from_416_and_suffix_ranges() -> None:
    server = FakeRangeServer(DATA)
    wrong = reader(server, size=len(DATA) + 5000)
    start, tail = asyncio.run(wrong.read_tail(2000))
    assert wrong.size == len(DATA) and (start, tail) == (len(DATA) - 2000, DATA[-2000:])
    unknown = reader(server)
    start, tail = asyncio.run(unknown.read_tail(2000))
    assert unknown.size == len(DATA) and tail == DATA[-2000:]


def test_reader_stops_on_a_server_ignoring_range() -> None:
    r = reader(FakeRangeServer(DATA, honour_range=False), size=len(DATA))
    with pytest.raises(RangeNotSupported):
        asyncio.run(r.read(0, 100))
    assert r.bytes == 0 and r.requests == 1


def test_reader_falls_back_to_single_ranges_when_multirange_is_refused() -> None:
    server = FakeRangeServer(DATA, max_ranges=1)
    r = reader(server, size=len(DATA))
    parts = asyncio.run(r.read_many([(0, 10), (5000, 5010)]))
    assert sorted(parts) == [(0, DATA[:10]), (5000, DATA[5000:5010])]
    assert r.multirange_refused and r.requests == 3


def test_reader_with_if_range_reports_a_changed_file() -> None:
    server = FakeRangeServer(DATA, etag='"v2"')
    r = reader(server, if_range='"v1"', max_requests=UNLIMITED, max_bytes=UNLIMITED, sticky_redirects=False)
    with pytest.raises(RangeChanged):
        asyncio.run(r.fetch([(0, 100)]))
    ok = reader(server, if_range='"v2"')
    got = asyncio.run(ok.fetch([(0, 100)]))
    assert got.exact(0, 100, len(DATA)) == DATA[:100] and got.headers[b"ETag"] == b'"v2"'


def test_reader_accepts_a_whole_body_only_when_asked_to() -> None:
    server = FakeRangeServer(DATA, honour_range=False)
    got = asyncio.run(reader(server).fetch([(0, 100)], accept_whole=len(DATA)))
    assert got.whole and got.parts == [(0, DATA)]
    with pytest.raises(RangeNotSupported):
        asyncio.run(reader(server).fetch([(0, 100)], accept_whole=len(DATA) - 1))


# --- one path ---------------------------------------------------------------------------------


def test_range_headers_are_built_in_one_module_and_http_knows_no_archives() -> None:
    builders, importers = set(), set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE).as_posix()
        if re.search(r"""["']bytes=""", text):
            builders.add(rel)
        if "byteranges import" in text:
            importers.add(rel)
        if rel.startswith("http/"):
            assert "envision_spiders.inspection" not in text, rel
    assert builders == {"http/byteranges.py"} and importers == {"http/ranges.py"}


def test_reads_after_a_redirect_to_another_origin_leave_the_callers_budget_slot() -> None:
    """The caller's slot (a repository's file rate) is for the URL it gave: once a read was
    redirected to an object store, the next reads of that store go to the store's own slot."""
    server = FakeRangeServer(DATA)
    sent: list[Request] = []

    async def redirecting(request: Request) -> Response:
        sent.append(request)
        if request.url.startswith("http://files.test/"):  # the repository's download route: a 302
            hop = request.replace(url="https://store.test/a.zip?sig=1")
            hop.meta["redirect_urls"] = [request.url]
            response = await server.download(hop)
            return response.replace(url=hop.url, request=hop)
        return await server.download(request)

    r = RangeReader(get_crawler(), "http://files.test/a.zip", download=redirecting, meta={"download_slot": "dryad:files"})
    asyncio.run(r.read(0, 10))
    asyncio.run(r.read(100, 110))
    assert sent[0].meta["download_slot"] == "dryad:files"
    assert sent[1].url.startswith("https://store.test/") and sent[1].meta["download_slot"] == "store.test:object-store"

from __future__ import annotations

import asyncio
from email.utils import formatdate

import pytest
from scrapy import Request
from scrapy.http import Response

from envision_spiders.http.backoff import retry_after_seconds
from envision_spiders.middlewares.backoff import BackoffMiddleware
from tests.conftest import project_crawler

NOW = 1_800_000_000.0


def response(status: int = 429, **headers: str) -> Response:
    return Response("https://api.example.org/x", status=status, headers=headers)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": "garbage"}, None),
        ({"X-RateLimit-Reset": str(int(NOW + 12))}, 12.0),  # epoch seconds (Zenodo)
        ({"X-RateLimit-Reset": "5"}, 5.0),  # seconds from now
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert retry_after_seconds(response(**headers), now=NOW) == pytest.approx(expected) if expected else (
        retry_after_seconds(response(**headers), now=NOW) is None
    )


def make_middleware(**settings):
    crawler = project_crawler(**settings)
    return BackoffMiddleware.from_crawler(crawler), crawler


def test_429_returns_a_retry_with_a_counted_attempt():
    mw, crawler = make_middleware()
    request = Request("https://api.example.org/x")
    retry = mw.process_response(request, response(429, **{"Retry-After": "2"}))
    assert isinstance(retry, Request) and retry.dont_filter
    assert retry.meta["envision_backoff_attempt"] == 1
    assert crawler.stats.get_value("envision/backoff/429") == 1


def test_other_statuses_pass_through():
    mw, _ = make_middleware()
    ok = response(200)
    assert mw.process_response(Request("https://api.example.org/x"), ok) is ok


def test_gives_up_after_max_retries():
    mw, crawler = make_middleware(ENVISION_BACKOFF_MAX_RETRIES=2)
    request = Request("https://api.example.org/x", meta={"envision_backoff_attempt": 2})
    limited = response(503)
    assert mw.process_response(request, limited) is limited
    assert crawler.stats.get_value("envision/backoff/gave_up/503") == 1


def test_dont_retry_meta_is_respected():
    mw, _ = make_middleware()
    limited = response(429)
    assert mw.process_response(Request("https://api.example.org/x", meta={"dont_retry": True}), limited) is limited


def test_processes_sharing_a_pause_folder_pause_a_host_together(tmp_path, monkeypatch):
    # scrapy download --processes N: a 429 one process gets holds the others' requests to that host too
    first, _ = make_middleware(ENVISION_BACKOFF_SHARED_DIR=str(tmp_path))
    second, crawler = make_middleware(ENVISION_BACKOFF_SHARED_DIR=str(tmp_path))
    alone, _ = make_middleware()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("envision_spiders.middlewares.backoff.asyncio.sleep", sleep)
    first.process_response(Request("https://files.example.org/a"), response(429, **{"Retry-After": "30"}))
    asyncio.run(second.process_request(Request("https://files.example.org/b")))
    asyncio.run(second.process_request(Request("https://other.example.org/b")))  # another host: no wait
    asyncio.run(alone.process_request(Request("https://files.example.org/c")))  # not sharing: no wait
    assert len(waits) == 1 and 29 < waits[0] <= 30
    assert crawler.stats.get_value("envision/backoff/waits") == 1
    first.process_response(Request("https://files.example.org/d"), response(429, **{"Retry-After": "5"}))
    asyncio.run(second.process_request(Request("https://files.example.org/e")))
    assert waits[-1] > 28  # a shorter pause never shortens the one in force

"""The one backoff policy (http/backoff.py) used by the crawl middleware and the service client."""

from __future__ import annotations

import pytest
from scrapy.http import Response

from envision_spiders.http.backoff import BackoffPolicy
from tests.conftest import project_crawler

NOW = 1_800_000_000.0


def answer(**headers: str) -> Response:
    return Response("https://api.example.org/x", status=429, headers=headers)


def test_the_servers_wait_wins_over_the_exponential_one():
    assert BackoffPolicy(base_delay=10).next(3, answer(**{"Retry-After": "2"}), now=NOW) == (2.0, None)


@pytest.mark.parametrize("attempt", [0, 1, 2, 3])
def test_without_a_server_figure_the_wait_doubles_per_attempt_with_jitter(attempt):
    delay, give_up = BackoffPolicy(base_delay=1.0, max_delay=100).next(attempt, None)
    assert give_up is None and 0.8 * 2**attempt <= delay <= 1.2 * 2**attempt


def test_no_retry_after_the_last_attempt():
    assert BackoffPolicy(times=2).next(2, None).give_up == "too many attempts"


def test_a_service_client_caps_a_long_wait():
    assert BackoffPolicy(max_delay=30).next(0, answer(**{"Retry-After": "3600"}), now=NOW) == (30.0, None)


def test_a_crawl_gives_up_on_a_long_wait():
    policy = BackoffPolicy(max_delay=30, longer_wait="give_up")
    assert policy.next(0, answer(**{"Retry-After": "3600"}), now=NOW) == (3600.0, "server asks for 3600s")
    delay, give_up = BackoffPolicy(times=10, base_delay=1, max_delay=30, longer_wait="give_up").next(6, None)
    assert delay > 30 and give_up and "exceeds 30s" in give_up


def test_the_crawl_policy_comes_from_the_backoff_settings():
    crawler = project_crawler(ENVISION_BACKOFF_MAX_RETRIES=2, ENVISION_BACKOFF_BASE_DELAY=0.5,
                              ENVISION_BACKOFF_MAX_DELAY=9)
    assert BackoffPolicy.from_settings(crawler.settings) == BackoffPolicy(2, 0.5, 9.0, "give_up")


def test_negative_figures_are_refused():
    with pytest.raises(ValueError):
        BackoffPolicy(times=-1)

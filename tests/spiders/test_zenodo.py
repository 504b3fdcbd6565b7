"""End to end: the real ``scrapy crawl zenodo`` against a local fake Zenodo API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from envision_spiders.schema import record_errors
from tests.conftest import PROJECT_ROOT, run_crawl, scrapy_command, scrapy_env
from tests.servers.base import Reply
from tests.servers.zenodo import FakeZenodo


@pytest.fixture
def fake():
    server = FakeZenodo(n_records=60)
    server.start()
    yield server
    server.stop()


def api(server: FakeZenodo) -> dict[str, str]:
    return {"ZENODO_API_URL": f"{server.base_url}/api"}


def stored(tmp_path: Path) -> dict[str, dict]:
    folder = tmp_path / "data" / "metadata" / "zenodo"
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")} if folder.exists() else {}


def test_crawl_yields_every_record_once_schema_valid_and_stored(fake, crawl, tmp_path):
    result = crawl("zenodo", settings=api(fake))
    assert result.returncode == 0, result.log
    ids = [item["source_id"] for item in result.items]
    assert len(ids) == 60 and len(set(ids)) == 60
    for item in result.items:
        assert record_errors(item) == [], item["source_id"]
    assert set(stored(tmp_path)) == set(ids)
    assert result.stats["envision/store/written"] == 60
    assert result.stats["envision/dedup/canonical"] == 60
    # 60 hits at 25 per page: three pages, then stop (no request past the last page)
    assert len(fake.calls_to("search")) == 3
    assert result.stats["downloader/response_status_count/200"] == 3


def test_search_sends_grouped_and_queries_with_json_accept(fake, crawl):
    result = crawl("zenodo", settings=api(fake), args={"max_records": 5})
    assert result.returncode == 0, result.log
    call = fake.calls_to("search")[0]
    q = call.query["q"][0]
    assert '("optical" AND "coherence" AND "tomography")' in q
    assert ' OR ("glaucoma")' in q
    assert "resource_type.type:(dataset)" in q
    assert call.query["size"] == ["25"]
    assert call.headers["Accept"] == "application/json"
    assert "mailto:" in call.headers["User-Agent"]
    assert "Authorization" not in call.headers


def test_token_raises_page_size_and_is_never_logged(fake, crawl):
    result = crawl("zenodo", settings=api(fake), env={"ZENODO_ACCESS_TOKEN": fake.token})
    assert result.returncode == 0, result.log
    calls = fake.calls_to("search")
    assert calls[0].query["size"] == ["100"] and len(calls) == 1
    assert calls[0].headers["Authorization"] == f"Bearer {fake.token}"
    assert fake.token not in result.log
    assert all(fake.token not in json.dumps(item) for item in result.items)


def test_max_records_and_query_arguments(fake, crawl):
    result = crawl("zenodo", settings=api(fake), args={"max_records": 30, "query": "fundus photography"})
    assert result.returncode == 0, result.log
    assert len(result.items) == 30
    assert len(fake.calls_to("search")) == 2
    assert fake.calls_to("search")[0].query["q"][0].startswith('(("fundus" AND "photography"))')


def test_since_filters_on_updated(fake, crawl):
    result = crawl("zenodo", settings=api(fake), args={"since": "2015-06-01"})
    assert result.returncode == 0, result.log
    assert "updated:[2015-06-01 TO *]" in fake.calls_to("search")[0].query["q"][0]
    assert result.items and all(item["modified"][:10] >= "2015-06-01" for item in result.items)


@pytest.mark.parametrize("args, message", [({"since": "yesterday"}, "since='yesterday'"), ({"max_records": "0"}, "at least 1")])
def test_bad_arguments_fail_at_start_with_a_clear_error(fake, crawl, args, message):
    result = crawl("zenodo", settings=api(fake), args=args)
    assert result.returncode == 2 and "Traceback" not in result.log
    assert message in result.log
    assert fake.calls_to("search") == []


def test_result_window_is_split_by_publication_date(crawl, tmp_path):
    server = FakeZenodo(n_records=130, window=50)
    with server:
        result = crawl("zenodo", settings={**api(server), "ZENODO_RESULT_WINDOW": 50})
    assert result.returncode == 0, result.log
    assert len({i["source_id"] for i in result.items}) == 130 == len(result.items)
    assert result.stats["envision/paging/splits"] >= 2
    statuses = [c.status for c in server.calls_to("search")]
    assert 400 not in statuses  # never paged past the window
    assert any("publication_date:[" in c.query["q"][0] for c in server.calls_to("search"))


def test_rate_limit_429_is_retried_after_retry_after(fake, crawl):
    fake.fault("search", 2, FakeZenodo.rate_limited("1"))
    fake.fault("search", 3, FakeZenodo.rate_limited("1"))
    result = crawl("zenodo", settings=api(fake))
    assert result.returncode == 0, result.log
    assert len(result.items) == 60
    assert result.stats["envision/backoff/429"] == 2
    calls = fake.calls_to("search")
    assert [c.status for c in calls].count(429) == 2 and [c.status for c in calls].count(200) == 3
    for limited in (c for c in calls if c.status == 429):
        retried = [c for c in calls if c.query["page"] == limited.query["page"] and c.status == 200]
        assert retried and retried[0].at - limited.at >= 0.95  # Retry-After honoured


def test_429_storm_gives_up_bounded_with_a_logged_error(fake, crawl):
    for nth in range(1, 10):
        fake.fault("search", nth, FakeZenodo.rate_limited("0"))
    result = crawl("zenodo", settings={**api(fake), "ENVISION_BACKOFF_MAX_RETRIES": 3})
    assert "Giving up on" in result.log and "HTTP 429" in result.log
    assert result.stats["envision/backoff/gave_up/429"] == 1
    assert len(fake.calls_to("search")) == 4  # first try + 3 retries, then stop


def test_retry_after_longer_than_the_cap_gives_up_at_once(fake, crawl):
    fake.fault("search", 1, FakeZenodo.rate_limited("3600"))
    result = crawl("zenodo", settings={**api(fake), "ENVISION_BACKOFF_MAX_DELAY": 60})
    assert "server asks for 3600s" in result.log
    assert len(fake.calls_to("search")) == 1


def test_server_errors_are_retried(fake, crawl):
    fake.fault("search", 1, Reply(500, b"oops"))
    fake.fault("search", 3, Reply(502, b"bad gateway"))
    result = crawl("zenodo", settings=api(fake))
    assert result.returncode == 0, result.log
    assert len(result.items) == 60


def test_malformed_page_is_fetched_again(fake, crawl):
    fake.fault("search", 2, Reply(200, b'{"hits": {"hits": [', {"Content-Type": "application/json"}))
    result = crawl("zenodo", settings=api(fake))
    assert len(result.items) == 60
    assert result.stats["envision/pages/malformed"] == 1


def test_page_malformed_for_good_loses_only_that_page(fake, crawl):
    fake.broken_pages.add(2)
    result = crawl("zenodo", settings=api(fake))
    assert result.returncode == 0
    assert len(result.items) == 35  # pages 1 and 3 of 3
    assert result.stats["envision/pages/malformed_given_up"] == 1
    assert "Giving up on a malformed page" in result.log and "maintenance" in result.log
    assert [c.query["page"][0] for c in fake.calls_to("search")].count("2") == 3  # 2 retries


def test_second_crawl_of_unchanged_repository_makes_only_search_requests(fake, crawl, tmp_path):
    first = run_crawl("zenodo", tmp_path, settings=api(fake), name="first")
    assert len(first.items) == 60
    fake.calls.clear()
    fake.modified_overrides[100002] = "2030-01-01T00:00:00+00:00"  # one record changed
    second = run_crawl("zenodo", tmp_path, settings=api(fake), name="second")
    assert second.returncode == 0, second.log
    assert {c.route for c in fake.calls} == {"search"}
    assert second.stats["downloader/request_count"] == 3
    assert second.stats["envision/incremental/unchanged"] == 59
    assert [i["source_id"] for i in second.items] == ["100002"]
    assert stored(tmp_path)["100002"]["modified"] == "2030-01-01T00:00:00+00:00"


@pytest.mark.parametrize("fsync, barrier", [(False, "filesystem"), (True, "filesystem"), (True, "file")],
                         ids=["default", "fsync-syncfs", "fsync-each-file"])
def test_killed_crawl_resumes_and_stores_every_record_once(tmp_path, fsync, barrier):
    """With ENVISION_STORE_FSYNC a record's file is staged in a worker thread and renamed into
    place under the state lock: a kill leaves at most the staged temp files, never a half record."""
    server = FakeZenodo(n_records=200)
    with server:
        # feeds settle every 0.2 s: a record stored but not yet in a flushed feed is emitted again
        # on resume (at least once), and the bound below allows one page of those, whatever the
        # crawl's speed (with the default 1 s a fast crawl stores 30 records before any settles)
        settings = {**api(server), "ENVISION_DATA_DIR": str(tmp_path / "data"), "DOWNLOAD_DELAY": 0.5,
                    "CLASSIFIER_ENABLED": False, "ENVISION_FEED_DELIVERY_SECONDS": 0.2, "ENVISION_STORE_FSYNC": fsync,
                    "ENVISION_STORE_FSYNC_BARRIER": barrier}
        cmd = scrapy_command("crawl", "zenodo")
        for key, value in settings.items():
            cmd += ["-s", f"{key}={value}"]
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(stored(tmp_path)) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = len(stored(tmp_path))
        assert 30 <= before < 200
        resumed = run_crawl("zenodo", tmp_path, settings=api(server), name="resumed")
    assert resumed.returncode == 0, resumed.log
    records = stored(tmp_path)
    assert len(records) == 200
    assert all(record_errors(r) == [] for r in records.values())
    written, unchanged = resumed.stats.get("envision/store/written", 0), resumed.stats.get("envision/incremental/unchanged", 0)
    assert written + unchanged == 200
    assert unchanged >= before - 25  # at most one page in flight was written without its state mark
    leftovers = list((tmp_path / "data" / "metadata").rglob("*.tmp"))
    # a kill mid-write may leave one temp file (with fsync: one per record staged at that moment,
    # at most a page of them), never a half record
    assert len(leftovers) <= (25 if fsync else 1)


def test_two_crawls_at_once_share_the_state_safely(fake, tmp_path):
    """Two processes on one data dir (as under scrapyd with max_proc > 1): no lock errors, one file per record."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda n: run_crawl("zenodo", tmp_path, settings=api(fake), name=f"p{n}"), (1, 2)))
    for run in runs:
        assert run.returncode == 0, run.log
        assert "database is locked" not in run.log and "Traceback" not in run.log
    assert len(stored(tmp_path)) == 60
    assert sum(r.stats.get("envision/dedup/dropped", 0) for r in runs) == 0


def searched_terms(server: FakeZenodo) -> set[str]:
    """The shared terms whose rendered form reached the fake in some search ``q``."""
    from envision_spiders.queries import QUERY_STRING, SEARCH_TERMS

    qs = [c.query["q"][0] for c in server.calls_to("search")]
    return {t for t in SEARCH_TERMS if any(QUERY_STRING([t]) in q for q in qs)}


def test_terms_are_packed_by_final_url_length_so_no_group_is_dropped(fake, crawl):
    """Two resource types and ``since``: the single packed group would be over URLLENGTH_LIMIT
    (Scrapy drops it with an INFO line); packing by the final URL keeps every term searched."""
    from envision_spiders.queries import SEARCH_TERMS

    result = crawl("zenodo", settings={**api(fake), "ZENODO_RESOURCE_TYPES": "dataset,image"},
                   args={"since": "2015-01-01"})
    assert result.returncode == 0, result.log
    assert searched_terms(fake) == set(SEARCH_TERMS)
    assert "urllength/request_ignored_count" not in result.stats
    assert result.stats["envision/search/query_groups"] >= 2


def test_a_lower_url_limit_splits_groups_and_every_url_fits(fake, crawl):
    from envision_spiders.queries import SEARCH_TERMS

    result = crawl("zenodo", settings={**api(fake), "URLLENGTH_LIMIT": 700}, args={"since": "2015-01-01"})
    assert result.returncode == 0, result.log
    assert searched_terms(fake) == set(SEARCH_TERMS)
    assert "envision/requests/url_too_long" not in result.stats


def test_a_request_dropped_for_url_length_is_an_error(fake, crawl):
    result = crawl("zenodo", settings={**api(fake), "URLLENGTH_LIMIT": 300}, args={"query": "retina " * 60})
    assert result.stats["envision/requests/url_too_long"] == 1
    assert "ERROR" in result.log and "over URLLENGTH_LIMIT 300" in result.log
    assert fake.calls_to("search") == []

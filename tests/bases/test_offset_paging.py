"""The offset/page paging base, unit-tested with hand-built responses (no server, no HTML)."""

from __future__ import annotations

from typing import Any

import pytest
import scrapy
from scrapy.http import TextResponse
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler

from envision_spiders.bases.offset_paging import PAGING_META, OffsetPagingSpider, PageCursor


class Demo(OffsetPagingSpider):
    name = "demo"
    api_url_setting = "DEMO_API_URL"
    page_size_setting = "DEMO_PAGE_SIZE"
    max_offset_setting = "DEMO_MAX_OFFSET"
    cap_statuses = (422,)

    def page_request(self, cursor: PageCursor) -> scrapy.Request:
        return scrapy.Request(f"{self.api_url}/search?q={cursor.query}&offset={cursor.offset}")

    def split(self, query: Any) -> list[Any] | None:
        return [query + "-a", query + "-b"] if len(query) < 4 else None


@pytest.fixture
def spider() -> Demo:
    crawler = get_crawler(Demo, {"DEMO_API_URL": "http://api.test", "DEMO_PAGE_SIZE": 10, "DEMO_MAX_OFFSET": 30,
                                 "ENVISION_MALFORMED_RETRIES": 1})
    crawler.spider = spider = Demo.from_crawler(crawler, max_records=None)
    return spider


def response(request: scrapy.Request, status: int = 200, body: bytes = b"[]") -> TextResponse:
    return TextResponse(request.url, status=status, body=body, request=request)


def follow(spider: Demo, request: scrapy.Request, count: int, total: int | None = None) -> tuple[bool, list]:
    use, requests = spider.paging(response(request), count, total)
    return use, list(requests)


def test_full_pages_continue_short_and_empty_pages_stop(spider):
    first = spider.first_page("q")
    assert first.meta[PAGING_META] == PageCursor("q", 1, 10) and first.meta["handle_httpstatus_list"] == [422]
    use, (second,) = follow(spider, first, 10)
    assert use and second.meta[PAGING_META].offset == 10
    assert follow(spider, second, 7) == (True, [])
    assert follow(spider, second, 0) == (True, [])


def test_short_page_below_the_known_total_goes_on_with_a_warning(spider, caplog):
    first = spider.first_page("q")
    use, (second,) = follow(spider, first, 10, total=25)
    use, (third,) = follow(spider, second, 7)  # 7 of 10 at offset 10 while 25 are counted
    assert use and third.meta[PAGING_META].offset == 20
    assert spider.crawler.stats.get_value("envision/paging/short_pages") == 1
    assert "7 of 10 results at offset 10 of 'q' although the API counts 25" in caplog.text
    assert follow(spider, third, 5) == (True, [])  # the total is reached


def test_known_total_stops_paging_without_a_short_page(spider):
    assert follow(spider, spider.first_page("q"), 10, total=10) == (True, [])


def test_cap_without_total_splits_the_query_and_keeps_the_page(spider):
    request = spider.first_page("q")
    for _ in range(3):  # offsets 0, 10, 20 -> 30 is the last allowed
        _, (request,) = follow(spider, request, 10)
    assert request.meta[PAGING_META].offset == 30
    use, split = follow(spider, request, 10)
    assert use and [r.meta[PAGING_META].query for r in split] == ["q-a", "q-b"]
    assert spider.crawler.stats.get_value("envision/paging/splits") == 1


def test_total_beyond_reach_splits_on_page_one_and_drops_it(spider):
    use, split = follow(spider, spider.first_page("q"), 10, total=500)
    assert not use and [r.meta[PAGING_META].page for r in split] == [1, 1]


def test_unsplittable_query_is_truncated_with_a_warning(spider, caplog):
    use, (nxt,) = follow(spider, spider.first_page("long"), 10, total=500)
    assert use and nxt.meta[PAGING_META].page == 2  # pages on up to the cap
    assert "truncated" in caplog.text
    assert spider.crawler.stats.get_value("envision/paging/truncated") == 1


def test_cap_status_splits_past_page_one_and_fails_on_page_one(spider, caplog):
    first = spider.first_page("q")
    assert list(spider.past_cap(response(first, 422, b'{"message": "bad"}'))) == []
    assert spider.crawler.stats.get_value("envision/paging/failed") == 1 and "bad" in caplog.text
    _, (second,) = follow(spider, first, 10)
    assert [r.meta[PAGING_META].query for r in spider.past_cap(response(second, 422))] == ["q-a", "q-b"]


def test_lost_pages_are_retried_then_skipped_at_most_once_in_a_row(spider):
    first = spider.first_page("q")
    (retry,) = spider.lost_page(response(first), ValueError("not JSON"))
    assert retry.url == first.url and retry.dont_filter
    (skipped_to,) = spider.lost_page(response(retry), ValueError("not JSON"))  # retries used up
    assert skipped_to.meta[PAGING_META].offset == 10 and skipped_to.meta[PAGING_META].lost == 1
    (retry2,) = spider.lost_page(response(skipped_to), ValueError("not JSON"))
    assert list(spider.lost_page(response(retry2), ValueError("not JSON"))) == []  # two in a row: abandon


@pytest.mark.parametrize("name", ["figshare", "kaggle", "nei"])
def test_politeness_is_one_request_per_second(name):
    settings = get_project_settings()
    spider_cls = SpiderLoader.from_settings(settings).load(name)
    settings = settings.copy()
    spider_cls.update_settings(settings)
    assert settings.getfloat("DOWNLOAD_DELAY") == 1.0
    assert settings.getfloat("DOWNLOAD_DELAY_JITTER") == 0
    assert settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 1


def brute_force_reachable(page_size: int, max_offset: int) -> int:
    """Results reached by asking offsets 0, page_size, ... while they stay within the cap."""
    reached, offset = 0, 0
    while offset <= max_offset:
        reached, offset = offset + page_size, offset + page_size
    return reached


def test_reachable_results_are_those_of_page_aligned_offsets_for_any_cap_and_page_size():
    from envision_spiders.bases.offset_paging import reachable_results

    assert reachable_results(500, 14999) == 15000  # RePORTER: not 15,499
    assert reachable_results(500, 9999) == 10000 and reachable_results(100, 1000) == 1100
    assert reachable_results(25, 10000 - 25) == 10000 and reachable_results(1000, 1000) == 2000
    for page_size in range(1, 40):
        for max_offset in range(0, 130):
            assert reachable_results(page_size, max_offset) == brute_force_reachable(page_size, max_offset)


@pytest.mark.parametrize(("total", "splits"), [(39, 0), (40, 0), (41, 1), (49, 1)])
def test_totals_at_the_boundary_split_exactly_when_past_the_last_aligned_page(total, splits):
    crawler = get_crawler(Demo, {"DEMO_API_URL": "http://api.test", "DEMO_PAGE_SIZE": 10, "DEMO_MAX_OFFSET": 39})
    crawler.spider = spider = Demo.from_crawler(crawler, max_records=None)
    use, requests = follow(spider, spider.first_page("q"), 10, total=total)
    assert spider.reachable == 40
    assert (spider.crawler.stats.get_value("envision/paging/splits") or 0) == splits
    assert use == (not splits) and len(requests) == (2 if splits else 1)


class Resuming(Demo):
    def continuation(self, query: Any, hits: list[Any]) -> Any | None:
        return f"{query}>{hits[-1]}" if hits[-1] != "same" else None


def test_continuation_is_preferred_to_split_at_the_cap_and_after_a_cap_status():
    crawler = get_crawler(Resuming, {"DEMO_API_URL": "http://api.test", "DEMO_PAGE_SIZE": 10, "DEMO_MAX_OFFSET": 10})
    crawler.spider = spider = Resuming.from_crawler(crawler, max_records=None)
    _, (second,) = spider.paging(response(spider.first_page("q")), 10, None, ["a", "b"])
    _, requests = spider.paging(response(second), 10, None, ["c", "d"])
    assert [r.meta[PAGING_META].query for r in requests] == ["q>d"]
    assert [r.meta[PAGING_META].query for r in spider.past_cap(response(second, 422))] == ["q>b"]
    _, requests = spider.paging(response(second), 10, None, ["same"])
    assert [r.meta[PAGING_META].query for r in requests] == ["q-a", "q-b"]  # no progress: split
    assert spider.crawler.stats.get_value("envision/paging/splits") == 3


def test_truncation_with_a_known_total_is_an_error_counting_the_results_lost(spider, caplog):
    follow(spider, spider.first_page("long"), 10, total=500)
    assert spider.crawler.stats.get_value("envision/paging/lost_results") == 460
    (record,) = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert record.levelname == "ERROR" and "460 results lost" in record.getMessage()

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

"""Spiders send a source's token only to its API root's origin: a ``links.next`` or a file
listing href on another scheme, host or port is followed without it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler

from envision_spiders.bases.file_listing import FILES_META, FileBatch, FileListingSpider
from envision_spiders.bases.links_paging import LISTING_META, LinksPagingSpider
from envision_spiders.pages.osf import OsfFilesPage, OsfNodesPage

ROOT = "https://api.test/v2"
ELSEWHERE = ["http://api.test/v2/nodes/?page=2", "https://api.test:8443/v2/nodes/?page=2",
             "https://mirror.test/v2/nodes/?page=2"]


class Demo(FileListingSpider, LinksPagingSpider):
    name = "demo"
    api_url_setting = "DEMO_API_URL"
    token_variable = "DEMO_TOKEN"
    listing_page = OsfNodesPage
    files_page = OsfFilesPage

    async def on_entries(self, response: Any, entries: list[dict[str, Any]]) -> Any:
        return
        yield

    def read_files(self, response: Any, page: Any) -> FileBatch:
        return FileBatch([], [], page.more)


@pytest.fixture
def spider(monkeypatch) -> Demo:
    monkeypatch.setenv("DEMO_TOKEN", "t0ken")
    crawler = get_crawler(Demo, {"DEMO_API_URL": ROOT})
    crawler.spider = spider = Demo.from_crawler(crawler)
    return spider


def collect(agen: Any) -> list[Any]:
    async def drain() -> list[Any]:
        return [out async for out in agen]

    return asyncio.run(drain())


def answer(request: Any) -> TextResponse:
    return TextResponse(request.url, body=b"{}", request=request)


@pytest.mark.parametrize("next_link", [f"{ROOT}/nodes/?page=2", *ELSEWHERE])
def test_links_next_carries_the_token_only_to_the_api_origin(spider, next_link):
    first = spider.listing_request(f"{ROOT}/nodes/?page=1", {"first": f"{ROOT}/nodes/?page=1", "last": None})
    assert first.headers["Authorization"] == b"Bearer t0ken"
    page = SimpleNamespace(entries=lambda: ([{"id": "a"}], []), next_link=next_link, last_link=None, total=None)
    (following,) = collect(spider.follow_listing(answer(first), page))
    assert following.meta[LISTING_META] and following.url == next_link
    assert ("Authorization" in following.headers) is (next_link.startswith(ROOT))


def test_file_listing_hrefs_elsewhere_are_followed_without_the_token(spider):
    (first,) = collect(spider.list_files("n1", {"id": "n1"}, [f"{ROOT}/nodes/n1/files/osfstorage/"]))
    assert first.headers["Authorization"] == b"Bearer t0ken" and first.meta[FILES_META]["key"] == "n1"
    page = SimpleNamespace(more=[f"{ROOT}/files/folder/", *ELSEWHERE])
    same, *others = collect(spider.follow_files(answer(first), page))
    assert same.headers["Authorization"] == b"Bearer t0ken"
    assert [r.url for r in others] == ELSEWHERE and all("Authorization" not in r.headers for r in others)

"""The shared page-object parts: ``RecordExtractor.to_item`` builds what web-poet's field machinery
builds, and ``memo`` computes a method once per page object."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from web_poet import field
from web_poet.fields import item_from_fields

from envision_spiders.items import DatasetRecord
from envision_spiders.pages.base import RecordExtractor, memo
from envision_spiders.pages.datacite import DataCiteRecord
from envision_spiders.pages.figshare import FigshareArticle
from envision_spiders.pages.zenodo import ZenodoRecord

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def pages() -> list[RecordExtractor]:
    return [
        *(ZenodoRecord(hit) for hit in load("zenodo/search_page.json")["hits"]["hits"] if hit.get("id")),
        FigshareArticle(load("figshare/article.json")),
        *(DataCiteRecord(entry, api_root="https://api.datacite.org") for entry in load("datacite/dois_page.json")["data"]),
    ]


@pytest.mark.parametrize("page", pages(), ids=lambda p: f"{type(p).__name__}")
def test_record_extractor_builds_the_record_web_poet_builds(page):
    fast = asyncio.run(page.to_item())
    # a fresh page object, so no value is shared through the memo
    reference = asyncio.run(item_from_fields(attrs.evolve(page), item_cls=DatasetRecord))
    assert attrs.asdict(fast) == attrs.asdict(reference)
    assert fast.source_id and fast.file_names == [f["name"] for f in fast.files]


@attrs.define
class ShoutingRecord(RecordExtractor):
    source_name = "test"

    @field
    def title(self) -> str:
        return self.data["title"]

    @field
    def files(self) -> list:
        return []

    class Processors:
        title = [str.upper]


def test_fields_with_processors_go_through_web_poet():
    record = asyncio.run(ShoutingRecord({"id": 1, "title": "quiet"}).to_item())
    assert record.title == "QUIET"


class Counting:
    def __init__(self) -> None:
        self.calls: list[int] = []

    @memo
    def value(self) -> int:
        self.calls.append(1)
        return len(self.calls)


def test_memo_computes_once_per_page_object():
    one, two = Counting(), Counting()
    assert (one.value(), one.value(), two.value()) == (1, 1, 1)
    assert len(one.calls) == 1 and len(two.calls) == 1


def test_memo_refuses_coroutines():
    with pytest.raises(TypeError):
        @memo
        async def value(self) -> int:  # pragma: no cover - never called
            return 1


def test_a_memoized_plain_field_is_then_read_from_the_page_object_itself():
    page = ZenodoRecord(load("zenodo/search_page.json")["hits"]["hits"][0])
    record = asyncio.run(page.to_item())
    # later reads (other fields' self.files) find the value before web-poet's field descriptor
    assert page.__dict__["files"] is page.files and page.files == record.files


def test_a_field_with_processors_is_never_stood_in_for_by_its_raw_value():
    @attrs.define
    class Memoized(ShoutingRecord):
        @field
        @memo
        def title(self) -> str:
            return self.data["title"]

    page = Memoized({"id": 1, "title": "quiet"})
    assert asyncio.run(page.to_item()).title == "QUIET"
    assert "title" not in page.__dict__ and page.title == "QUIET"

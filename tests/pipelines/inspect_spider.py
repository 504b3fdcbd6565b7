"""A probe spider for the archive-inspection integration tests (``scrapy runspider``).

It yields the ``DatasetRecord``s described in a JSON file (``-a records=PATH``) straight from
``start()``; only the inspection pipeline runs on them, through the project's real downloader
stack (middlewares, redirects, Range guard).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy

from envision_spiders.items import DatasetRecord
from envision_spiders.pipelines.inspect import ArchiveInspectionPipeline

TOKEN = "Bearer s3cr3t-test-token"


class TokenInspectionPipeline(ArchiveInspectionPipeline):
    """Sends an API token to the origin host only, like a repository's download route would need."""

    def request_headers(self, item: Any, file: dict[str, Any]) -> dict[str, str]:
        if urlsplit(str(file.get("url"))).hostname == "127.0.0.1":
            return {"Authorization": TOKEN}
        return {}


class InspectProbeSpider(scrapy.Spider):
    name = "inspect_probe"
    custom_settings: ClassVar[dict[str, Any]] = {
        "ITEM_PIPELINES": {"tests.pipelines.inspect_spider.TokenInspectionPipeline": 300},
        "SPIDER_MIDDLEWARES": {},
        "ROBOTSTXT_OBEY": False,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
    }

    def __init__(self, records: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records_path = Path(records)

    async def start(self) -> AsyncIterator[Any]:
        for record in json.loads(self.records_path.read_text()):
            yield DatasetRecord(**record)

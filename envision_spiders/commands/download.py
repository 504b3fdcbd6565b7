"""``scrapy download``: fetch the files of the gated records already in the store, without crawling."""

from __future__ import annotations

import argparse
import json

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from envision_spiders.downloads.replay import StoredRecordsSpider


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = True
    default_settings = {"LOG_LEVEL": "INFO"}

    def syntax(self) -> str:
        return "[--source SOURCE ...] [--threshold P]"

    def short_desc(self) -> str:
        return "Download the files of stored EYE_IMAGING records (confidence >= threshold), no crawling"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--source", action="append", default=None, help="only this source (repeatable)")
        parser.add_argument(
            "--threshold", default=None, help="minimum confidence (overrides ENVISION_DOWNLOAD_THRESHOLD)"
        )

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if opts.threshold is not None:
            try:
                threshold = float(opts.threshold)
            except ValueError:
                raise UsageError(f"--threshold {opts.threshold!r} is not a number") from None
            if not 0.0 <= threshold <= 1.0:
                raise UsageError(f"--threshold {threshold} is not between 0 and 1")
            self.settings.set("ENVISION_DOWNLOAD_THRESHOLD", threshold, priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(StoredRecordsSpider)
        self.crawler_process.crawl(crawler, sources=opts.source)
        self.crawler_process.start()
        stats = crawler.stats.get_stats() if crawler.stats else {}
        summary = {k.removeprefix("envision/download/"): v for k, v in stats.items() if k.startswith("envision/download/")}
        print(json.dumps({"data_dir": self.settings.get("ENVISION_DATA_DIR"), "download": summary}, sort_keys=True))
        failed = summary.get("files/failed", 0) or summary.get("records/failed", 0)
        if self.crawler_process.bootstrap_failed or failed or stats.get("finish_reason") != "finished":
            self.exitcode = 1

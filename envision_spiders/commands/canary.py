"""``scrapy canary``: a tiny live crawl per source that says where an API's answers drifted.

Thin command over ``envision_spiders.canary``: it runs each spider (all, or those named) with
``max_records`` ≈ 3, inspection, classifier and downloads off and its state in a throw-away
data directory (the real one is only read, for the baseline), then prints one line per drift
and exits 1 when there is any (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.commands import ScrapyCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES

from envision_spiders.bases.spider import SpiderArgumentError
from envision_spiders.canary.checks import field_baseline, listing_drift, record_drifts
from envision_spiders.state.runs import UnknownSpiders, select_spiders
from envision_spiders.state.store import stored_records

logger = logging.getLogger(__name__)
OVERRIDE_PRIORITY = SETTINGS_PRIORITIES["cmdline"] + 10


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "[options] [SOURCE ...]"

    def short_desc(self) -> str:
        return "Check with a tiny live crawl that each source's API still answers in the documented shape"

    def long_desc(self) -> str:
        return (
            "Runs every spider (or the ones named) with max_records=3 (--max-records), archive inspection, "
            "classifier and downloads off and its state in a temporary data directory, and checks the "
            "answers: records valid against the schema, the mapped fields that the stored records of "
            "ENVISION_DATA_DIR had filled still filled, listing pages with their paging links. Prints "
            "one line per drift; exit status 1 when there is any. Run it before the weekly crawl."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--max-records", type=int, default=None, metavar="N",
                            help="records asked of each source (default ENVISION_CANARY_MAX_RECORDS)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.crawler_process is not None and self.settings is not None
        max_records = opts.max_records if opts.max_records is not None else self.settings.getint("ENVISION_CANARY_MAX_RECORDS")
        if max_records < 1:
            raise UsageError("--max-records must be at least 1", print_help=False)
        process = self.crawler_process
        try:
            names = select_spiders(process.spider_loader.list(), self.settings, only=args)
        except UnknownSpiders as exc:
            raise UsageError(str(exc), print_help=False) from None
        drifts: dict[str, list[str]] = defaultdict(list)
        records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        reasons: dict[str, str] = {}
        skipped: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="envision-canary-") as scratch:
            for name in names:
                spidercls = process.spider_loader.load(name)
                settings = self.settings.copy()
                # above "cmdline": Scrapy 2.19's runner updates a Crawler's settings with its own
                # (the -s ones included) when it is handed one
                settings.setdict(self._overrides(scratch), priority=OVERRIDE_PRIORITY)
                spidercls.update_settings(settings)
                try:
                    getattr(spidercls, "preflight", lambda s, **a: None)(settings, max_records=max_records)
                except SpiderArgumentError as exc:
                    if args:  # named: it must run
                        drifts[name].append(f"{name}: cannot start: {exc}")
                    else:
                        skipped[name] = str(exc)
                    continue
                crawler = Crawler(spidercls, settings)
                self._watch(crawler, name, records, drifts, reasons)
                process.crawl(crawler, max_records=max_records)
            if process.crawlers:
                process.start()
        for name in names:
            if name in skipped or any(line.startswith(f"{name}: cannot start") for line in drifts[name]):
                continue
            if reasons.get(name) != "finished":
                drifts[name].append(f"{name}: the crawl ended with {reasons.get(name) or 'no finish reason'}")
            baseline, stored = field_baseline(record for _, record in stored_records(self.settings, [name]))
            drifts[name].extend(record_drifts(name, records[name], baseline, stored))
        lines = [line for name in names for line in drifts[name]]
        for line in lines:
            print(line)
        for name, why in skipped.items():
            print(f"skipped: {name}: {why}")
        checked = len(names) - len(skipped)
        print(f"canary: {checked} source(s) checked, {len(lines)} drift(s)")
        if lines:
            self.exitcode = 1

    @staticmethod
    def _overrides(scratch: str) -> dict[str, Any]:
        return {
            "ENVISION_DATA_DIR": str(Path(scratch) / "data"),  # no state, feed or `since` of the real runs touched
            "ENVISION_STORE_URL": "",  # nor the real object store: records and feeds go to scratch too
            "ENVISION_INSPECT_ENABLED": False,
            "ENVISION_DOWNLOAD": False,
            "CLASSIFIER_ENABLED": False,
            "ENVISION_STATS_FILE": "",
        }

    @staticmethod
    def _watch(crawler: Crawler, name: str, records: dict[str, list[dict[str, Any]]],
               drifts: dict[str, list[str]], reasons: dict[str, str]) -> None:
        def scraped(item: Any) -> None:
            records[name].append(ItemAdapter(item).asdict())

        def received(response: Any, request: Any) -> None:
            line = listing_drift(name, request.url, response.status, response.body)
            if line and line not in drifts[name]:
                drifts[name].append(line)

        def closed(spider: Any, reason: str) -> None:
            reasons[name] = reason

        crawler.signals.connect(scraped, signal=signals.item_scraped, weak=False)
        crawler.signals.connect(received, signal=signals.response_received, weak=False)
        crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)

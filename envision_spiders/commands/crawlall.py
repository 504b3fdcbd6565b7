"""``scrapy crawlall``: every repository spider in one process, then the results files.

One crawler per spider, all running at once in one ``CrawlerProcess``: each keeps its own
``custom_settings`` (download delay, concurrency) and its own connection to the shared state
DB. Spiders are discovered by Scrapy's SpiderLoader; ``portal`` joins only when portal
presets are configured (``ENVISION_CRAWLALL_NEEDS``) or when named.

Progress: on a terminal (standard error is a tty) one live line per spider is redrawn every
``ENVISION_PROGRESS_LIVE_INTERVAL`` seconds (``progress/live.py``) and the spiders' own
progress lines are not logged; elsewhere (scrapyd, a log file) each spider logs plain
periodic lines (``progress/extension.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from typing import Any

from scrapy import signals
from scrapy.commands import ScrapyCommand
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError

from envision_spiders.bases.spider import SpiderArgumentError
from envision_spiders.exports.results import write_results
from envision_spiders.progress.live import LiveLines
from envision_spiders.state.runs import UNATTRIBUTED_PREFIX, UnknownSpiders, outcome, select_spiders

logger = logging.getLogger(__name__)


def scoped_pairs(values: list[str], option: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``NAME=VALUE`` (every spider) and ``SPIDER:NAME=VALUE`` (one spider) -> (common, per spider)."""
    common: dict[str, str] = {}
    scoped: dict[str, dict[str, str]] = defaultdict(dict)
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"Invalid {option} value {value!r}, use NAME=VALUE or SPIDER:NAME=VALUE", print_help=False)
        spider, colon, name = key.partition(":")
        if colon:
            scoped[spider][name] = val
        else:
            common[key] = val
    return common, dict(scoped)


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "[options] [SPIDER ...]"

    def short_desc(self) -> str:
        return "Run every spider (or the ones named) at once in one process, then write the results files"

    def long_desc(self) -> str:
        return (
            "Runs every spider of the project concurrently in one process, each with its own "
            "politeness settings, then rebuilds {source}_all_results.json / _eye_imaging.json and "
            "prints a per-source summary. Exit status 1 when a spider failed to start, did not "
            "finish ('finished' finish reason) or raised in a callback (with --strict: or logged an "
            "ERROR). -a NAME=VALUE goes to every "
            "spider, -a SPIDER:NAME=VALUE to one; -s applies to all, --spider-set SPIDER:NAME=VALUE "
            "to one spider."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-a", dest="spargs", action="append", default=[], metavar="[SPIDER:]NAME=VALUE",
                            help="spider argument, for every spider or for SPIDER only (repeatable)")
        parser.add_argument("--skip", action="append", default=[], metavar="SPIDER",
                            help="leave this spider out (repeatable, or comma-separated)")
        parser.add_argument("--spider-set", action="append", default=[], metavar="SPIDER:NAME=VALUE",
                            help="setting for one spider only (repeatable)")
        parser.add_argument("--list", action="store_true", help="print the spiders that would run, then exit")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument("--strict", action="store_true",
                            help="also fail (exit 1) when a spider logged an ERROR (a lost page, a gave-up retry)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        opts.skip = [n for value in opts.skip for n in value.split(",") if n]
        opts.common_args, opts.scoped_args = scoped_pairs(opts.spargs, "-a")
        common_settings, opts.scoped_settings = scoped_pairs(opts.spider_set, "--spider-set")
        if common_settings:
            raise UsageError("--spider-set needs SPIDER:NAME=VALUE (use -s for every spider)", print_help=False)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.crawler_process is not None and self.settings is not None
        process = self.crawler_process
        try:
            names = select_spiders(process.spider_loader.list(), self.settings, only=args, skip=opts.skip)
        except UnknownSpiders as exc:
            raise UsageError(str(exc), print_help=False) from None
        for scope in (*opts.scoped_args, *opts.scoped_settings):
            if scope not in names:
                raise UsageError(f"-a/--spider-set for {scope!r}, which is not in this run ({', '.join(names)})",
                                 print_help=False)
        left_out = {} if args else self._preflight(names, opts)
        names = [n for n in names if n not in left_out]
        if not names:
            raise UsageError("no spider left to run", print_help=False)
        if opts.list:
            print("\n".join(names))
            return

        live_interval = self.settings.getfloat("ENVISION_PROGRESS_LIVE_INTERVAL")
        live = live_interval > 0 and sys.stderr.isatty()
        if live:  # the live lines replace the logged progress lines (the stats keep the figures)
            self.settings.set("ENVISION_PROGRESS_LOG", False, priority="cmdline")
        crawlers: dict[str, Crawler] = {}
        reasons: dict[str, str] = {}
        start_errors: dict[str, str] = {}
        for name in names:
            crawler = self._crawler_for(name, opts.scoped_settings.get(name, {}))
            crawler.signals.connect(
                lambda spider, reason, _n=name: reasons.__setitem__(_n, reason), signal=signals.spider_closed,
                weak=False,
            )
            crawlers[name] = crawler
            spider_args = {**opts.common_args, **opts.scoped_args.get(name, {})}
            task = process.crawl(crawler, **spider_args)
            task.add_done_callback(lambda t, _n=name: self._record_start_error(t, _n, start_errors))
        logger.info("crawlall: running %d spider(s) at once: %s", len(names), ", ".join(names))
        display = LiveLines(crawlers, sys.stderr, live_interval) if live else None
        if display is not None:
            for crawler in crawlers.values():  # the first engine to start starts the display
                crawler.signals.connect(display.start, signal=signals.engine_started, weak=False)
        process.start()
        if display is not None:
            display.stop()

        data_dir = self.settings.get("ENVISION_DATA_DIR")
        results = write_results(data_dir)
        summary: dict[str, dict[str, Any]] = {}
        for name, crawler in crawlers.items():
            try:
                stats = crawler.stats.get_stats()
            except RuntimeError:  # the crawler failed before its stats existed
                stats = {}
            entry = outcome(stats, reasons.get(name))  # its own ERROR lines (state/runs.py CrawlerLogCount)
            entry["unattributed_errors"] = int(stats.get(f"{UNATTRIBUTED_PREFIX}/ERROR", 0))
            if name in start_errors:
                entry.update(ok=False, clean=False, error=start_errors[name])
            entry["results"] = results.get(name, {"all": 0, "eye_imaging": 0})
            summary[name] = entry
        failed = sorted(
            name for name, entry in summary.items() if not entry["ok"] or (opts.strict and not entry["clean"])
        )
        if failed:
            self.exitcode = 1
        if opts.json:
            print(json.dumps({"data_dir": data_dir, "spiders": summary, "results": results, "failed": failed,
                              "left_out": left_out}, sort_keys=True, default=str))
        else:
            print(self._table(summary, data_dir, failed))
            for name, why in left_out.items():
                print(f"left out: {name}: {why}")
            unattributed = max((e["unattributed_errors"] for e in summary.values()), default=0)
            if unattributed:
                print(f"{unattributed} ERROR line(s) named no spider (see the log): every spider running "
                      "then is marked warn")

    def _preflight(self, names: list[str], opts: argparse.Namespace) -> dict[str, str]:
        """Spiders that cannot start here (e.g. Kaggle without credentials) are left out of a run
        that did not name them, with a warning, instead of failing it every week."""
        assert self.crawler_process is not None and self.settings is not None
        left_out: dict[str, str] = {}
        for name in names:
            spidercls = self.crawler_process.spider_loader.load(name)
            preflight = getattr(spidercls, "preflight", None)
            if preflight is None:
                continue
            settings = self.settings.copy()
            spidercls.update_settings(settings)
            settings.setdict(opts.scoped_settings.get(name, {}), priority="cmdline")
            try:
                preflight(settings, **{**opts.common_args, **opts.scoped_args.get(name, {})})
            except SpiderArgumentError as exc:
                logger.warning("crawlall: leaving out spider %s: %s", name, exc)
                left_out[name] = str(exc)
        return left_out

    def _crawler_for(self, name: str, own_settings: dict[str, str]) -> Crawler:
        assert self.crawler_process is not None and self.settings is not None
        if not own_settings:
            return self.crawler_process.create_crawler(name)
        settings = self.settings.copy()
        settings.setdict(own_settings, priority="cmdline")
        return Crawler(self.crawler_process.spider_loader.load(name), settings)

    @staticmethod
    def _record_start_error(task: Any, name: str, start_errors: dict[str, str]) -> None:
        if task.cancelled():
            start_errors[name] = "cancelled"
            return
        exc = task.exception()
        if exc is not None:
            start_errors[name] = f"{type(exc).__name__}: {exc}"
            logger.error("Spider %s could not run: %s", name, start_errors[name])

    @staticmethod
    def _table(summary: dict[str, dict[str, Any]], data_dir: str, failed: list[str]) -> str:
        head = f"{'spider':<12} {'status':<8} {'finish_reason':<22} {'items':>6} {'dropped':>7} {'errors':>6} " \
               f"{'stored':>6} {'eye':>5}"
        lines = [head, "-" * len(head)]
        for name, e in summary.items():
            status = "ok" if e["clean"] else ("warn" if e["ok"] else "FAILED")
            lines.append(
                f"{name:<12} {status:<8} {str(e.get('finish_reason') or e.get('error') or '-')[:22]:<22} "
                f"{e['items']:>6} {e['dropped']:>7} {e['errors']:>6} {e['results']['all']:>6} "
                f"{e['results']['eye_imaging']:>5}"
            )
        lines.append(f"results: {data_dir}/results/{{source}}_all_results.json, {{source}}_eye_imaging.json")
        if failed:
            lines.append(f"FAILED: {', '.join(failed)}")
        return "\n".join(lines)

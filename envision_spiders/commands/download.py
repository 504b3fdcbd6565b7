"""``scrapy download``: fetch the files of the gated records already in the store, without crawling.

``--processes N`` (``ENVISION_DOWNLOAD_PROCESSES``): many small files keep one process's reactor
thread busy (Scrapy's per-request work, not the network), so the records are split between N
processes. This process lists the stored records once and deals them into N shares of about
equal work (files and bytes; ``downloads/shares.py``), written to a temporary folder; it
starts N-1 ``scrapy download`` workers with the same arguments plus
``ENVISION_DOWNLOAD_RECORDS`` = their share, and downloads the first share itself. Workers die
with this process (``PR_SET_PDEATHSIG``); their JSON summaries are added into the one printed
here. A record is in one share only, and still guarded by its folder lock and its lease.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from envision_spiders.downloads.replay import StoredRecordsSpider
from envision_spiders.downloads.shares import deal_records, write_share
from envision_spiders.state.store import stored_records


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
        parser.add_argument(
            "--processes", type=int, default=None,
            help="download with N processes, records split between them (overrides ENVISION_DOWNLOAD_PROCESSES)",
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
        # its one spider is StoredRecordsSpider, handed over as a class: loading every source's
        # spider module (and their page objects) would only cost start-up time
        self.settings.set("SPIDER_MODULES", [], priority="cmdline")
        if opts.processes is not None:
            self.settings.set("ENVISION_DOWNLOAD_PROCESSES", opts.processes, priority="cmdline")
        processes = self.settings.getint("ENVISION_DOWNLOAD_PROCESSES")
        if processes < 1:
            raise UsageError(f"--processes / ENVISION_DOWNLOAD_PROCESSES must be >= 1, not {processes}")
        self.workers: list[subprocess.Popen[str]] = []
        self.shares_dir: Path | None = None
        if processes > 1 and not self.settings.get("ENVISION_DOWNLOAD_RECORDS"):
            # started here, before this process builds its crawler: their start-up overlaps ours
            shares = deal_records(stored_records(self.settings, opts.source), processes)
            self.shares_dir = Path(tempfile.mkdtemp(prefix="envision-download-"))
            paths = [write_share(self.shares_dir / f"share-{k}.txt", share) for k, share in enumerate(shares)]
            self.settings.set("ENVISION_DOWNLOAD_RECORDS", str(paths[0]), priority="cmdline")
            self.workers = [start_worker(path) for path in paths[1:]]

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(StoredRecordsSpider)
        self.crawler_process.crawl(crawler, sources=opts.source)
        self.crawler_process.start()
        stats = crawler.stats.get_stats() if crawler.stats else {}
        summary = {k.removeprefix("envision/download/"): v for k, v in stats.items() if k.startswith("envision/download/")}
        ok = not self.crawler_process.bootstrap_failed and stats.get("finish_reason") == "finished"
        for worker in self.workers:
            worker_summary = worker_result(worker)
            ok = ok and worker_summary is not None
            summary = add_summaries(summary, worker_summary or {})
        if self.shares_dir is not None:
            shutil.rmtree(self.shares_dir, ignore_errors=True)
        print(json.dumps({"data_dir": self.settings.get("ENVISION_DATA_DIR"), "download": summary}, sort_keys=True))
        failed = summary.get("files/failed", 0) or summary.get("records/failed", 0)
        if not ok or failed:
            self.exitcode = 1


def _die_with_parent() -> None:
    # Linux: the worker gets SIGKILL when the process that started it dies (also by SIGKILL)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def start_worker(share: Path) -> subprocess.Popen[str]:
    """``scrapy download`` again, same arguments, for the records listed in ``share``; its log
    goes to this process's stderr, its JSON summary (last stdout line) back to this process."""
    # scrapy's command line has taken the command's name out of sys.argv: the rest are its options
    argv = [sys.executable, "-m", "scrapy", "download", *sys.argv[1:], "-s", f"ENVISION_DOWNLOAD_RECORDS={share}"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)


def worker_result(worker: subprocess.Popen[str]) -> dict[str, Any] | None:
    """The worker's download summary, or None when it failed to finish cleanly."""
    out, _ = worker.communicate()
    lines = out.strip().splitlines()
    try:
        summary = json.loads(lines[-1])["download"] if lines else None
    except (ValueError, KeyError, TypeError):
        summary = None
    if worker.returncode != 0 and summary is not None and not (summary.get("files/failed") or summary.get("records/failed")):
        summary = None  # it ended badly for another reason than failed files
    return summary


def add_summaries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Counts added key by key (every figure of the summary is a count)."""
    return {key: a.get(key, 0) + b.get(key, 0) for key in sorted(a.keys() | b.keys())
            if isinstance(a.get(key, 0), int | float) and isinstance(b.get(key, 0), int | float)}

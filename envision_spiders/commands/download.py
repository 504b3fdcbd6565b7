"""``scrapy download``: fetch the files of the gated records already in the store, without crawling.

``--processes N`` (``ENVISION_DOWNLOAD_PROCESSES``; 0, the default, = one per CPU when there are
at least 500 files to fetch, else one): many small files keep one process's reactor thread busy
(Scrapy's per-request work, not the network), so the records are split between N processes.
This process lists the gated records once and deals them into N shares of about equal work
(files and bytes; ``downloads/shares.py``), written to a temporary folder; it forks N-1 workers,
each of which carries on as ``scrapy download`` with ``ENVISION_DOWNLOAD_RECORDS`` = its share,
and downloads the first share itself. The request limits are divided between the processes
(per host, overall, per slot; delays multiplied) and a 429/503 pauses the host for all of them
(``ENVISION_BACKOFF_SHARED_DIR``), so together they load a repository no more than one process
would. Workers die with this process (``PR_SET_PDEATHSIG``); their JSON
summaries are added into the one printed here. The shares are a first deal: each process claims
its records one at a time and, done with its own, takes the others' unclaimed ones
(``ENVISION_DOWNLOAD_SHARES``, downloads/shares.py), so a process slowed down by another program
does not hold up the run. A record is claimed by one process only, and still guarded by its
folder lock and its lease.

Rate budgets: the stored sources' budget slots (``downloads/budgets.py``: Figshare's and
Kaggle's one rate for every request, Dryad's and OSF's file rates) are added to
``DOWNLOAD_SLOTS`` before the limits are split, and the files go to them as in a crawl
(``pipelines/files.py``): with N processes each gets the slot at N times its delay, so the
source still has one budget overall.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.settings import Settings
from scrapy.utils.misc import load_object

from envision_spiders.downloads.budgets import budget_slots
from envision_spiders.downloads.manifest import utc_now
from envision_spiders.downloads.replay import StoredRecordsSpider
from envision_spiders.downloads.shares import (
    CONCURRENCY_LIMITS,
    count_files,
    deal_records,
    gated_records,
    make_shares_folder,
    process_count,
    process_limits,
    write_share,
    write_shares,
)
from envision_spiders.state.db import Owner, accepted_after_review, state_from_settings
from envision_spiders.state.store import StoreConfig, open_records, stored_records

logger = logging.getLogger(__name__)


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = True
    default_settings = {"LOG_LEVEL": "INFO"}
    shares_dir: Path | None = None
    withdraw_keys: list[Owner] | None = None

    def syntax(self) -> str:
        return "[--source SOURCE ...] [--threshold P] [--record SOURCE:ID ...] [--withdraw SOURCE:ID ...] [--processes N]"

    def short_desc(self) -> str:
        return "Download the files of stored EYE_IMAGING records (confidence >= threshold), no crawling"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--source", action="append", default=None, help="only this source (repeatable)")
        parser.add_argument(
            "--threshold", default=None, help="minimum confidence (overrides ENVISION_DOWNLOAD_THRESHOLD)"
        )
        parser.add_argument(
            "--record", action="append", default=None, metavar="SOURCE:ID",
            help="only this record (repeatable): one you reviewed, so the gate's eye-evidence rule does not "
                 "apply to it (the label, confidence and access rules still do); one process",
        )
        parser.add_argument(
            "--withdraw", action="append", default=None, metavar="SOURCE:ID",
            help="forget an acceptance given with --record (repeatable): the gate holds the record for review "
                 "again; downloads nothing, files already downloaded stay",
        )
        parser.add_argument(
            "--processes", type=int, default=None,
            help="download with N processes, records and request limits split between them; 0 = one per CPU "
                 "from 500 files (overrides ENVISION_DOWNLOAD_PROCESSES)",
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
        # spider module (and their page objects) would only cost start-up time; only the stored
        # sources' spiders are loaded, for their rate budgets
        self._add_budget_slots(self.settings.getlist("SPIDER_MODULES"), opts.source)
        self.settings.set("SPIDER_MODULES", [], priority="cmdline")
        if opts.withdraw:
            if opts.record:
                raise UsageError("--withdraw and --record do not go together")
            self.withdraw_keys = [parse_record_key(key, "--withdraw") for key in opts.withdraw]
            return
        if opts.record:
            self._only_reviewed_records(opts.record)
        if opts.processes is not None and not opts.record:
            self.settings.set("ENVISION_DOWNLOAD_PROCESSES", opts.processes, priority="cmdline")
        requested = self.settings.getint("ENVISION_DOWNLOAD_PROCESSES")
        if requested < 0:
            raise UsageError(f"--processes / ENVISION_DOWNLOAD_PROCESSES must be >= 0 (0 = auto), not {requested}")
        self.workers: list[ForkedWorker] = []
        if requested != 1 and not self.settings.get("ENVISION_DOWNLOAD_RECORDS"):
            self._start_workers(requested, opts.source)

    def _add_budget_slots(self, modules: list[str], sources: list[str] | None) -> None:
        """The budget slots of the stored records' sources (``downloads/budgets.py``), so that
        their files keep to the same rate as in a crawl; a ``-s DOWNLOAD_SLOTS`` entry wins."""
        settings = self.settings
        if sources is None:
            sources = open_records(StoreConfig.from_settings(settings)).sources()
        slots = budget_slots(settings, modules, sources)
        if slots:
            settings.set("DOWNLOAD_SLOTS", {**slots, **settings.getdict("DOWNLOAD_SLOTS")}, priority="cmdline")

    def _start_workers(self, requested: int, sources: list[str] | None) -> None:
        """Deal the gated records into shares and fork a worker for each share but the first,
        which this process keeps. Forked here, before the crawler (and its reactor, threads and
        connections) exists: a worker starts with everything imported, in milliseconds."""
        settings = self.settings
        eye_evidence_required = settings.getbool("ENVISION_DOWNLOAD_REQUIRE_EYE_EVIDENCE")
        # records a curator accepted are dealt too (their workers' gate lets them by)
        accepted = accepted_after_review(settings) if eye_evidence_required else set()
        records = gated_records(stored_records(settings, sources), settings.getfloat("ENVISION_DOWNLOAD_THRESHOLD"),
                                eye_evidence_required, accepted)
        limits = {name: settings.getint(name) for name in CONCURRENCY_LIMITS}
        slots = settings.getdict("DOWNLOAD_SLOTS")
        processes = process_count(requested, count_files(records), os.cpu_count() or 1, limits, slots)
        if processes < requested:
            # each process needs at least one request of every limit: a user who asked for more should know
            logger.warning("--processes %d asked, %d used: each process needs a share of every concurrency limit "
                           "(%s, DOWNLOAD_SLOTS), the smallest of which is %d", requested, processes,
                           ", ".join(CONCURRENCY_LIMITS), processes)
        if processes == 1:
            return
        shares = deal_records(records, processes)
        parts = process_limits(limits, settings.getfloat("DOWNLOAD_DELAY"), slots, processes)
        import_components(settings)
        self.shares_dir = make_shares_folder()
        paths = write_shares(self.shares_dir, shares)
        # a process done with its share goes on with the others' unclaimed records (shares.py)
        settings.set("ENVISION_DOWNLOAD_SHARES", str(self.shares_dir), priority="cmdline")
        # a 429/503 that one process gets pauses that host for all of them, as in one process
        pauses = self.shares_dir / "pauses"
        pauses.mkdir()
        settings.set("ENVISION_BACKOFF_SHARED_DIR", str(pauses), priority="cmdline")
        for k in range(1, processes):
            worker = ForkedWorker.fork()
            if worker is None:  # in the worker: share k, no workers (nor share files) of its own
                for sibling in self.workers:
                    os.close(sibling.stdout)
                self.workers, self.shares_dir = [], None
                settings.setdict({**parts[k], "ENVISION_DOWNLOAD_RECORDS": str(paths[k])}, priority="cmdline")
                return
            self.workers.append(worker)
        settings.setdict({**parts[0], "ENVISION_DOWNLOAD_RECORDS": str(paths[0])}, priority="cmdline")

    def _only_reviewed_records(self, keys: list[str]) -> None:
        """``--record``: a share file of just these records, read by this one process; a person
        looked at them, so a record held for review (downloads/gate.py) is not held again. The
        acceptance of those in the store is remembered in the state (``accept_for_download``):
        later gated downloads and crawls do not hold them for review either."""
        owners = [parse_record_key(key, "--record") for key in keys]
        stored = open_records(StoreConfig.from_settings(self.settings))
        known = [owner for owner in owners if stored.exists(owner)]  # an unknown one fails the run, below
        if known:
            state = state_from_settings(self.settings)
            try:
                state.accept_for_download(known, utc_now())
            finally:
                state.close()
            logger.info("accepted after review: %s", ", ".join(f"{s}:{i}" for s, i in known))
        self.shares_dir = make_shares_folder()
        share = write_share(self.shares_dir / "records.txt", owners)
        self.settings.setdict({"ENVISION_DOWNLOAD_RECORDS": str(share), "ENVISION_DOWNLOAD_PROCESSES": 1,
                               "ENVISION_DOWNLOAD_REQUIRE_EYE_EVIDENCE": False}, priority="cmdline")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        if self.withdraw_keys:
            self._withdraw(self.withdraw_keys)
            return
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(StoredRecordsSpider)
        crawler.signals.connect(settle_gc_for_the_run, signal=signals.engine_started)
        self.crawler_process.crawl(crawler, sources=opts.source)
        self.crawler_process.start()
        stats = crawler.stats.get_stats() if crawler.stats else {}
        summary = {k.removeprefix("envision/download/"): v for k, v in stats.items() if k.startswith("envision/download/")}
        ok = not self.crawler_process.bootstrap_failed and stats.get("finish_reason") == "finished"
        for worker in self.workers:
            worker_summary = worker.result()
            ok = ok and worker_summary is not None
            summary = add_summaries(summary, worker_summary or {})
        if self.shares_dir is not None:
            shutil.rmtree(self.shares_dir, ignore_errors=True)
        print(json.dumps({"data_dir": self.settings.get("ENVISION_DATA_DIR"), "download": summary}, sort_keys=True))
        failed = summary.get("files/failed", 0) or summary.get("records/failed", 0)
        if opts.record and summary.get("stored/unreadable"):  # a --record that is not in the store
            failed = True
        if not ok or failed:
            self.exitcode = 1

    def _withdraw(self, owners: list[Owner]) -> None:
        """``--withdraw``: forget acceptances; a key that was not accepted is named, and fails the run."""
        state = state_from_settings(self.settings)
        try:
            withdrawn = state.withdraw_acceptance(owners)
        finally:
            state.close()
        not_accepted = [owner for owner in owners if owner not in withdrawn]
        for source, source_id in withdrawn:
            logger.info("acceptance withdrawn: %s:%s is held for review again", source, source_id)
        for source, source_id in not_accepted:
            logger.error("--withdraw %s:%s: that record was not accepted (nothing to withdraw)", source, source_id)
        print(json.dumps({"data_dir": self.settings.get("ENVISION_DATA_DIR"),
                          "withdrawn": [f"{s}:{i}" for s, i in withdrawn],
                          "not_accepted": [f"{s}:{i}" for s, i in not_accepted]}, sort_keys=True))
        if not_accepted:
            self.exitcode = 1


def parse_record_key(key: str, option: str) -> Owner:
    """``SOURCE:ID`` (``zenodo:1234567``; an id may hold ``:`` itself, as Dryad DOIs do)."""
    source, sep, source_id = key.partition(":")
    if not sep or not source or not source_id:
        raise UsageError(f"{option} {key!r}: expected SOURCE:ID, e.g. zenodo:1234567")
    return source, source_id


# young-generation threshold of the cyclic GC for the run (Python's default: 700 allocations)
GC_YOUNG_THRESHOLD = 10_000


def settle_gc_for_the_run() -> None:
    """Two settings of the cyclic GC, once everything is built (engine started): each small file
    allocates ~150 tracked objects (request, response, deferreds), and 1,000 files cost a process
    ~0.2-0.35 s of collections (measured with gc.callbacks, 2 processes x 1,000 files).

    - Everything alive now (~1,000 modules, the crawler and its components: they live until exit)
      is frozen out of the collections: each full one walked all of it again (~0.1 s, two or
      three per process), and the ones at interpreter exit did too (~0.12 s after the work).
    - Young collections every GC_YOUNG_THRESHOLD allocations instead of 700: ~200 of them and ~17
      older ones per 1,000 files become ~4 and none; the cycles they find wait a little longer
      (peak RSS unchanged: 104 MB for 2 x 1,000 small files, 155-161 MB for a 1 GiB ranged file,
      where chunks are not held in cycles). Objects made later are collected as before."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    logger.debug("cyclic GC: %d objects frozen, young collections every %d allocations",
                 gc.get_freeze_count(), GC_YOUNG_THRESHOLD)


def import_components(settings: Settings) -> None:
    """Import the extensions, downloader middlewares and download handlers each process's crawler
    will build (as Scrapy does, by their paths), once, before forking: the workers inherit them
    instead of each importing them again (~0.1 s of CPU per worker)."""
    for name in ("EXTENSIONS", "DOWNLOADER_MIDDLEWARES"):
        settings.get_component_priority_dict_with_base(name)
    handlers = {**settings.getdict("DOWNLOAD_HANDLERS_BASE"), **settings.getdict("DOWNLOAD_HANDLERS")}
    for path in handlers.values():
        if path:
            load_object(path)


class ForkedWorker:
    """A ``scrapy download`` worker forked from this process: its log goes to the same stderr,
    its stdout (the JSON summary) to a pipe read here; it dies with this process."""

    def __init__(self, pid: int, stdout: int) -> None:
        self.pid, self.stdout = pid, stdout

    @classmethod
    def fork(cls) -> ForkedWorker | None:
        """The worker's handle in this process; None in the worker."""
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid:
            os.close(write_end)
            return cls(pid, read_end)
        os.close(read_end)
        # Linux: SIGKILL when the process that forked it dies (also by SIGKILL); had it died
        # before this line, the worker is an orphan already: it leaves at once
        if sys.platform == "linux":
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)
        os.dup2(write_end, sys.stdout.fileno())
        os.close(write_end)
        return None

    def result(self) -> dict[str, Any] | None:
        """The worker's download summary once it has ended, or None when it failed to finish cleanly."""
        chunks = []
        while chunk := os.read(self.stdout, 65536):
            chunks.append(chunk)
        os.close(self.stdout)
        _, status = os.waitpid(self.pid, 0)
        returncode = os.waitstatus_to_exitcode(status)
        lines = b"".join(chunks).decode("utf-8", "replace").strip().splitlines()
        try:
            summary = json.loads(lines[-1])["download"] if lines else None
        except (ValueError, KeyError, TypeError):
            summary = None
        if returncode != 0 and summary is not None and not (summary.get("files/failed") or summary.get("records/failed")):
            summary = None  # it ended badly for another reason than failed files
        return summary


def add_summaries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Counts added key by key (every figure of the summary is a count)."""
    return {key: a.get(key, 0) + b.get(key, 0) for key in sorted(a.keys() | b.keys())
            if isinstance(a.get(key, 0), int | float) and isinstance(b.get(key, 0), int | float)}

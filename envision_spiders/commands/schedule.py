"""``scrapy schedule``: one scrapyd job per spider — the weekly crawl (scrapyd has no clock; cron runs this).

For every spider deployed in the scrapyd project (``listspiders.json``, filtered as
``crawlall`` does), POST ``schedule.json`` to one node of ``SCRAPYD_URLS`` (else the one node
``SCRAPYD_URL``) with:

- ``setting=ENVISION_DATA_DIR=<absolute data dir>`` so every job shares this deployment's
  store and state DB (scrapyd starts jobs in its own working directory), the settings named
  in ``ENVISION_SHARED_SETTINGS`` that are set here (state URL, object store), then
  ``ENVISION_SCHEDULE_SETTINGS`` and ``--set K=V``;
- ``since``: the start date of the spider's last clean run (state DB ``crawl_runs``) minus
  ``ENVISION_SCHEDULE_OVERLAP_DAYS``; with no clean run yet ``ENVISION_SCHEDULE_FALLBACK_DAYS``
  days ago, or no ``since`` (a full crawl); ``--since DATE`` / ``--full`` override;
- other ``-a [SPIDER:]NAME=VALUE`` spider arguments.

Every node is asked first (``daemonstatus.json``, ``listjobs.json``); one that does not answer is
reported and skipped (exit 1 only when none answers). A spider with a pending or running job
on ANY node is not scheduled again (``--force`` does). Each job goes to the least busy node
(``nodes/placement.py``). A short ``schedule`` lease per spider in the state keeps two runs at
once from both starting it (``nodes/leases.py``; ENVISION_SCHEDULE_LEASE_SECONDS = 0: off).
All HTTP goes through Scrapy's downloader (``envision_spiders.http.client``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from envision_spiders.bases.spider import SpiderArgumentError, parse_since
from envision_spiders.commands.crawlall import scoped_pairs
from envision_spiders.http.client import ClientSpider, ServiceError, run_job
from envision_spiders.http.credentials import redact_setting, redact_url
from envision_spiders.nodes.leases import ScheduleLeases
from envision_spiders.nodes.placement import Placement, busy_spiders
from envision_spiders.nodes.scrapyd import Scrapyd, add_node_options, configured_nodes
from envision_spiders.state.db import state_from_settings
from envision_spiders.state.runs import UnknownSpiders, select_spiders, since_for

logger = logging.getLogger(__name__)


def shared_settings(settings: Any, data_dir: Path) -> dict[str, str]:
    """What every job gets so that all nodes share state and storage: the data dir, then each
    ``ENVISION_SHARED_SETTINGS`` name that has a value here."""
    shared = {"ENVISION_DATA_DIR": str(data_dir)}
    for name in settings.getlist("ENVISION_SHARED_SETTINGS"):
        value = settings.get(name)
        if value not in (None, "", "None"):
            shared[name] = str(value)
    return shared


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "[options] [SPIDER ...]"

    def short_desc(self) -> str:
        return "Schedule a scrapyd job for every spider (the weekly crawl; run it from cron)"

    def long_desc(self) -> str:
        return __doc__ or ""

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        add_node_options(parser)
        parser.add_argument("--skip", action="append", default=[], metavar="SPIDER",
                            help="leave this spider out (repeatable, or comma-separated)")
        parser.add_argument("-a", dest="spargs", action="append", default=[], metavar="[SPIDER:]NAME=VALUE",
                            help="spider argument for every job or for SPIDER's (repeatable)")
        parser.add_argument("--set", dest="job_settings", action="append", default=[], metavar="NAME=VALUE",
                            help="setting sent with every job (repeatable)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--since", help="since=YYYY-MM-DD for every job instead of each spider's last clean run")
        group.add_argument("--full", action="store_true", help="no since: full crawls")
        parser.add_argument("--force", action="store_true",
                            help="schedule even when a job of the spider is pending/running on some node")
        parser.add_argument("--dry-run", action="store_true", help="print what would be scheduled, schedule nothing")
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        opts.skip = [n for value in opts.skip for n in value.split(",") if n]
        opts.common_args, opts.scoped_args = scoped_pairs(opts.spargs, "-a")
        common, scoped = scoped_pairs(opts.job_settings, "--set")
        if scoped:
            raise UsageError("--set takes NAME=VALUE (the same settings go to every job)", print_help=False)
        opts.job_settings = common
        try:
            parse_since(opts.since)
        except SpiderArgumentError as exc:
            raise UsageError(str(exc), print_help=False) from None
        opts.project = opts.project or self.settings.get("SCRAPYD_PROJECT")
        try:
            opts.urls = configured_nodes(self.settings, opts.urls)
        except ValueError as exc:
            raise UsageError(str(exc), print_help=False) from None

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None and self.crawler_process is not None
        settings = self.settings
        data_dir = Path(settings.get("ENVISION_DATA_DIR")).resolve()
        fallback = settings.get("ENVISION_SCHEDULE_FALLBACK_DAYS")
        fallback_days = None if fallback in (None, "", "None") else int(fallback)
        state = state_from_settings(settings)
        leases = ScheduleLeases(state, settings.getfloat("ENVISION_SCHEDULE_LEASE_SECONDS"))
        job_settings = {**shared_settings(settings, data_dir), **settings.getdict("ENVISION_SCHEDULE_SETTINGS"),
                        **opts.job_settings}
        for name in sorted(k for k, v in job_settings.items() if redact_setting(k, v) != v):
            logger.warning("job setting %s carries a secret: scrapyd keeps job settings in its queue "
                           "(listjobs.json) and its logs; give it to the nodes in their environment instead "
                           "(~/.pgpass, AWS_* variables)", name)
        report: dict[str, Any] = {}

        def spider_args_for(name: str) -> dict[str, str]:
            spider_args = {**opts.common_args, **opts.scoped_args.get(name, {})}
            if opts.since:
                spider_args["since"] = opts.since
            elif not opts.full and "since" not in spider_args:
                since = since_for(state.last_clean_run(name), settings.getint("ENVISION_SCHEDULE_OVERLAP_DAYS"),
                                  fallback_days=fallback_days)
                if since:
                    spider_args["since"] = since
            return spider_args

        async def job(client: ClientSpider) -> dict[str, dict[str, Any]]:
            scrapyd = Scrapyd.from_settings(client, settings, opts.project)
            nodes = await scrapyd.survey(opts.urls)
            report["nodes"] = nodes
            if not any(node.answering for node in nodes):
                raise ServiceError("no scrapyd node answered: " + "; ".join(f"{n.url}: {n.error}" for n in nodes))
            for node in nodes:
                if not node.usable:
                    logger.warning("scrapyd node %s skipped: %s", node.url, node.error)
            deployed = await scrapyd.spiders(nodes)
            try:
                names = select_spiders(deployed, settings, only=args, skip=opts.skip)
            except UnknownSpiders as exc:
                raise ServiceError(f"project {opts.project!r}: {exc}") from None
            outcome: dict[str, dict[str, Any]] = {name: {"args": spider_args_for(name)} for name in names}
            if opts.dry_run:
                held = set(names)
            else:
                held = {name for name in names if leases.take(name)}
                if leases.held:  # what the nodes say after the leases: another run's jobs are in their queues now
                    nodes = await scrapyd.survey(opts.urls)
                    report["nodes"] = nodes
            usable = [node for node in nodes if node.usable]
            busy = {} if opts.force else busy_spiders({node.url: node.active_spiders() for node in usable})
            placement = Placement({node.url: node.load for node in usable})
            for name in names:
                entry = outcome[name]
                if name not in held:
                    entry["skipped"] = "another scrapy schedule is placing it (schedule lease held)"
                elif name in busy:
                    entry["skipped"] = f"a job of this spider is pending or running on {', '.join(busy[name])}"
                elif opts.dry_run:
                    if not placement:
                        entry["error"] = "no node left to take it"
                        continue
                    entry["node"], entry["jobid"] = placement.next(), None
                    placement.placed(entry["node"])
                else:
                    form = [("setting", f"{k}={v}") for k, v in job_settings.items()] + list(entry["args"].items())
                    entry.update(await scrapyd.place(placement, name, form))
            return outcome

        try:
            try:
                outcome, _ = run_job(self.crawler_process, job)
            finally:
                leases.release_all()
        except ServiceError as exc:
            print(f"scrapy schedule: {exc}")
            self.exitcode = 1
            return
        finally:
            state.close()
        nodes = report.get("nodes", [])
        if any("error" in entry for entry in outcome.values()):
            self.exitcode = 1
        if opts.json:
            print(json.dumps({
                "scrapyd": opts.urls, "project": opts.project,
                "settings": {k: redact_url(str(v)) for k, v in job_settings.items()},
                "lease": "schedule lease in the shared state" if leases.enabled else "none (ENVISION_SCHEDULE_LEASE_SECONDS = 0)",
                "nodes": {n.url: {"answering": n.answering, "error": n.error, "node_name": n.node_name,
                                  "load": n.load} for n in nodes},
                "jobs": outcome,
            }, sort_keys=True))
            return
        for node in nodes:
            if not node.usable:
                print(f"node {node.url}: skipped ({node.error})")
        for name, entry in outcome.items():
            since = entry["args"].get("since") or "full crawl"
            if entry.get("jobid"):
                status = f"job {entry['jobid']} on {entry['node']}"
            elif "node" in entry:
                status = f"dry run: would go to {entry['node']}"
            else:
                status = entry.get("skipped") or f"ERROR: {entry.get('error')}"
            print(f"{name:<12} since {since:<12} {status}")

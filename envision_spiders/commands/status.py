"""``scrapy status``: the scrapyd nodes, what runs where and how far it got, the claims in the
shared state, and the last run of each spider.

Nodes: ``SCRAPYD_URLS`` (else ``SCRAPYD_URL``), or ``--url``. For each: whether it answers,
its node_name and running/pending/finished counts (``daemonstatus.json``), the project's
running jobs (spider, job id, start time) with the progress of each from the last progress
line in the tail of its log (scrapyd's ``logs/`` endpoint), and its pending jobs. Claims: the
leases by kind (holder, key, expiry) when the state has leases. Last runs: the run ledger.
Exit status 0, or 1 when no node answers. All HTTP goes through ``http/client.py``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from envision_spiders.http.client import ClientSpider, ServiceError, run_job
from envision_spiders.nodes.leases import claims
from envision_spiders.nodes.scrapyd import Scrapyd, add_node_options, configured_nodes
from envision_spiders.nodes.status import collect_nodes, last_runs, render_table, status_view
from envision_spiders.state.db import state_from_settings


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Show the scrapyd nodes, their running jobs and progress, claims and the last runs"

    def long_desc(self) -> str:
        return __doc__ or ""

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        add_node_options(parser)
        parser.add_argument("--format", choices=("table", "json"), default="table", help="output format")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        if opts.loglevel is None and not opts.nolog:  # the client spider's INFO lines would bury the view
            self.settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
        if args:
            raise UsageError(f"unexpected argument(s): {' '.join(args)}", print_help=False)
        opts.project = opts.project or self.settings.get("SCRAPYD_PROJECT")
        try:
            opts.urls = configured_nodes(self.settings, opts.urls)
        except ValueError as exc:
            raise UsageError(str(exc), print_help=False) from None

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None and self.crawler_process is not None
        settings = self.settings
        tail = settings.getint("ENVISION_STATUS_LOG_TAIL_BYTES")

        async def job(client: ClientSpider) -> list[dict[str, Any]]:
            return await collect_nodes(Scrapyd.from_settings(client, settings, opts.project), opts.urls, tail)

        try:
            nodes, _ = run_job(self.crawler_process, job)
        except ServiceError as exc:
            print(f"scrapy status: {exc}")
            self.exitcode = 1
            return
        state = state_from_settings(settings)
        try:
            view = status_view(opts.project, nodes, claims(state), last_runs(state.runs()))
        finally:
            state.close()
        print(json.dumps(view, sort_keys=True, indent=1) if opts.format == "json" else render_table(view))
        if not view["answering"]:
            self.exitcode = 1

"""``scrapy schedule``: one scrapyd job per spider — the weekly crawl (scrapyd has no clock; cron runs this).

For every spider deployed in the scrapyd project (``listspiders.json``, filtered as
``crawlall`` does), POST ``schedule.json`` with:

- ``setting=ENVISION_DATA_DIR=<absolute data dir>`` so every job shares this deployment's
  store and state DB (scrapyd starts jobs in its own working directory), then
  ``ENVISION_SCHEDULE_SETTINGS`` and ``--set K=V``;
- ``since``: the start date of the spider's last clean run (state DB ``crawl_runs``) minus
  ``ENVISION_SCHEDULE_OVERLAP_DAYS``; with no clean run yet ``ENVISION_SCHEDULE_FALLBACK_DAYS``
  days ago, or no ``since`` (a full crawl); ``--since DATE`` / ``--full`` override;
- other ``-a [SPIDER:]NAME=VALUE`` spider arguments.

A spider that still has a pending or running job is not scheduled again (``--force`` does).
All HTTP goes through Scrapy's downloader (``envision_spiders.http.client``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.http import FormRequest, Request, Response

from envision_spiders.bases.spider import SpiderArgumentError, parse_since
from envision_spiders.commands.crawlall import scoped_pairs
from envision_spiders.http.backoff import BackoffPolicy
from envision_spiders.http.client import ClientSpider, ServiceError, run_job
from envision_spiders.http.credentials import basic_auth_header, get_secret
from envision_spiders.state.db import state_from_settings
from envision_spiders.state.runs import UnknownSpiders, select_spiders, since_for


def scrapyd_json(response: Response, what: str) -> dict[str, Any]:
    try:
        data = json.loads(response.text)
    except ValueError:
        raise ServiceError(f"{what}: HTTP {response.status}, not JSON: {response.text[:200]!r}") from None
    if response.status != 200 or data.get("status") != "ok":
        raise ServiceError(f"{what}: HTTP {response.status}: {data.get('message') or data}")
    return data


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
        parser.add_argument("--url", help="scrapyd URL (default: setting SCRAPYD_URL)")
        parser.add_argument("--project", help="scrapyd project (default: setting SCRAPYD_PROJECT)")
        parser.add_argument("--skip", action="append", default=[], metavar="SPIDER",
                            help="leave this spider out (repeatable, or comma-separated)")
        parser.add_argument("-a", dest="spargs", action="append", default=[], metavar="[SPIDER:]NAME=VALUE",
                            help="spider argument for every job or for SPIDER's (repeatable)")
        parser.add_argument("--set", dest="job_settings", action="append", default=[], metavar="NAME=VALUE",
                            help="setting sent with every job (repeatable)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--since", help="since=YYYY-MM-DD for every job instead of each spider's last clean run")
        group.add_argument("--full", action="store_true", help="no since: full crawls")
        parser.add_argument("--force", action="store_true", help="schedule even when a job of the spider is pending/running")
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
        opts.url = (opts.url or self.settings.get("SCRAPYD_URL") or "").rstrip("/")
        opts.project = opts.project or self.settings.get("SCRAPYD_PROJECT")
        if not opts.url.startswith(("http://", "https://")):
            raise UsageError(f"scrapyd URL {opts.url!r} is not an http(s) URL", print_help=False)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None and self.crawler_process is not None
        settings = self.settings
        data_dir = Path(settings.get("ENVISION_DATA_DIR")).resolve()
        fallback = settings.get("ENVISION_SCHEDULE_FALLBACK_DAYS")
        fallback_days = None if fallback in (None, "", "None") else int(fallback)
        state = state_from_settings(settings)
        try:
            job_settings = {"ENVISION_DATA_DIR": str(data_dir), **settings.getdict("ENVISION_SCHEDULE_SETTINGS"),
                            **opts.job_settings}
            headers = {}
            username, password = get_secret("SCRAPYD_USERNAME"), get_secret("SCRAPYD_PASSWORD")
            if username:
                headers["Authorization"] = basic_auth_header(username, password or "")
            policy = BackoffPolicy(times=3, base_delay=1.0, max_delay=30.0)

            async def job(client: ClientSpider) -> dict[str, Any]:
                async def get(endpoint: str) -> dict[str, Any]:
                    url = f"{opts.url}/{endpoint}?{urlencode({'project': opts.project})}"
                    request = Request(url, headers=headers)
                    return scrapyd_json(await client.fetch(request, policy, f"GET {endpoint}"), endpoint)

                deployed = (await get("listspiders.json"))["spiders"]
                try:
                    names = select_spiders(deployed, settings, only=args, skip=opts.skip)
                except UnknownSpiders as exc:
                    raise ServiceError(f"project {opts.project!r} at {opts.url}: {exc}") from None
                busy: set[str] = set()
                if not opts.force:
                    jobs = await get("listjobs.json")
                    busy = {j["spider"] for key in ("pending", "running") for j in jobs.get(key, [])}
                outcome: dict[str, dict[str, Any]] = {}
                for name in names:
                    spider_args = {**opts.common_args, **opts.scoped_args.get(name, {})}
                    if opts.since:
                        spider_args["since"] = opts.since
                    elif not opts.full and "since" not in spider_args:
                        since = since_for(
                            state.last_clean_run(name),
                            settings.getint("ENVISION_SCHEDULE_OVERLAP_DAYS"),
                            fallback_days=fallback_days,
                        )
                        if since:
                            spider_args["since"] = since
                    entry: dict[str, Any] = {"args": spider_args}
                    outcome[name] = entry
                    if name in busy:
                        entry["skipped"] = "a job of this spider is pending or running"
                        continue
                    if opts.dry_run:
                        entry["jobid"] = None
                        continue
                    form = [("project", opts.project), ("spider", name)]
                    form += [("setting", f"{k}={v}") for k, v in job_settings.items()]
                    form += list(spider_args.items())
                    request = FormRequest(f"{opts.url}/schedule.json", formdata=form, headers=headers)
                    response = await client.fetch(request, policy, f"schedule {name}")
                    entry["jobid"] = scrapyd_json(response, f"schedule {name}")["jobid"]
                return outcome

            try:
                outcome, _ = run_job(self.crawler_process, job)
            except ServiceError as exc:
                print(f"scrapy schedule: {exc}")
                self.exitcode = 1
                return
        finally:
            state.close()
        if opts.json:
            print(json.dumps({"scrapyd": opts.url, "project": opts.project, "settings": job_settings,
                              "jobs": outcome}, sort_keys=True))
            return
        for name, entry in outcome.items():
            since = entry["args"].get("since") or "full crawl"
            status = entry.get("skipped") or (f"job {entry['jobid']}" if entry.get("jobid") else "dry run")
            print(f"{name:<12} since {since:<12} {status}")

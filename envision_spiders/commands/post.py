"""``scrapy post``: send new or changed canonical records to the dataset portal, in batches.

``PORTAL_URL`` (environment, else the setting, else ``--url``) receives one JSON POST per
batch of ``PORTAL_BATCH_SIZE`` changes, with ``Authorization: Bearer $PORTAL_TOKEN`` and an
``Idempotency-Key`` (the batch id: random, kept in the state DB until acknowledged, so a
retry of an unacknowledged batch reuses it and nothing else does). A 2xx answer to the POST
itself acknowledges the batch (but the records it lists under ``rejected``): the acknowledged
(source, source_id, content hash) triples go to the ledger in the state DB in one
transaction, so a re-run — also after a crash — sends only what the portal has not
acknowledged. Redirects are not followed: a 3xx is a failure (a redirected POST becomes a
GET, whose 2xx says nothing about the batch). Failures (connection errors, 408/429/5xx) are
retried with exponential backoff; other answers stop the run (exit 1). The token is never
logged or printed.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.http import JsonRequest

from envision_spiders.exports.publish import batch_payload, pending_changes, plan_batches, rejected_keys
from envision_spiders.http.client import ClientSpider, RetryPolicy, ServiceError, run_job
from envision_spiders.http.credentials import get_secret
from envision_spiders.http.fence import service_url_problem
from envision_spiders.state.db import state_from_settings
from envision_spiders.state.runs import utc_now
from envision_spiders.state.store import stored_records

logger = logging.getLogger(__name__)


class Command(ScrapyCommand):
    requires_project = True

    def syntax(self) -> str:
        return "[options]"

    def short_desc(self) -> str:
        return "Send new or changed records to the portal (PORTAL_URL, PORTAL_TOKEN), idempotently"

    def long_desc(self) -> str:
        return __doc__ or ""

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--url", help="portal endpoint (default: $PORTAL_URL, else setting PORTAL_URL)")
        parser.add_argument("--source", action="append", default=None, help="only this source (repeatable)")
        parser.add_argument("--batch-size", type=int, help="records per POST (default: setting PORTAL_BATCH_SIZE)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be sent, send nothing")
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        assert self.settings is not None
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}")
        opts.url = (opts.url or get_secret("PORTAL_URL") or self.settings.get("PORTAL_URL") or "").strip()
        if not opts.url.startswith(("http://", "https://")):
            raise UsageError("no portal URL: set PORTAL_URL (environment or setting) or pass --url", print_help=False)
        problem = service_url_problem(opts.url)
        if problem:
            raise UsageError(f"portal URL {problem}", print_help=False)
        opts.batch_size = opts.batch_size or self.settings.getint("PORTAL_BATCH_SIZE")
        if opts.batch_size < 1:
            raise UsageError("the batch size must be at least 1", print_help=False)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None and self.crawler_process is not None
        settings = self.settings
        data_dir = Path(settings.get("ENVISION_DATA_DIR"))
        token = get_secret("PORTAL_TOKEN")
        if not token and not opts.dry_run:
            print("scrapy post: PORTAL_TOKEN is not set (environment or .env)")
            self.exitcode = 1
            return
        state = state_from_settings(settings)
        ledger_key = opts.url.rstrip("/")
        totals: dict[str, Any] = {"batches": 0, "records": 0, "superseded": 0, "acknowledged": 0, "rejected": {}}
        try:
            acked = state.portal_acks(ledger_key)
            changes = pending_changes(data_dir, acked, opts.source, stored_records(settings, opts.source))
            if opts.dry_run:
                for change in changes:
                    totals["records" if change.kind == "record" else "superseded"] += 1
                self._report(opts, totals, dry_run=True)
                return
            policy = RetryPolicy(
                times=settings.getint("PORTAL_RETRY_TIMES"),
                base_delay=settings.getfloat("PORTAL_RETRY_BASE_DELAY"),
                max_delay=settings.getfloat("PORTAL_RETRY_MAX_DELAY"),
            )
            timeout = settings.getfloat("PORTAL_TIMEOUT")
            batches, stale = plan_batches(changes, state.pending_batches(ledger_key), opts.batch_size)
            state.drop_batches(ledger_key, stale)

            async def job(client: ClientSpider) -> None:
                stats = client.crawler.stats
                for planned in batches:
                    batch = planned.changes
                    if not planned.resent:  # the key is kept before the portal can see it
                        state.open_batch(ledger_key, planned.batch_id, planned.members, utc_now().isoformat())
                    payload = batch_payload(batch, planned.batch_id)
                    request = JsonRequest(
                        opts.url,
                        data=payload,
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": planned.batch_id},
                        # a redirected POST would come back as a GET: its answer acknowledges nothing
                        meta={"download_timeout": timeout, "dont_redirect": True},
                    )
                    what = f"POST batch {totals['batches'] + 1} ({len(batch)} changes) to the portal"
                    response = await client.fetch(request, policy, what)
                    if response.request.method != "POST" or response.request.url != request.url:
                        raise ServiceError(f"{what}: the answer came from {response.request.method} "
                                           f"{response.request.url}, not the POST: nothing acknowledged")
                    if not 200 <= response.status < 300:
                        if 300 <= response.status < 400:
                            location = response.headers.get("Location", b"").decode("latin-1")
                            hint = f" (redirect to {location!r} not followed: set PORTAL_URL to the final address)"
                        else:
                            hint = " (check PORTAL_TOKEN)" if response.status in (401, 403) else ""
                        stats.inc_value(f"envision/post/failed/{response.status}")
                        snippet = response.body[:300].decode("utf-8", "replace")
                        raise ServiceError(f"{what}: HTTP {response.status}{hint}: {snippet!r}")
                    rejected = rejected_keys(response.body)
                    keys = [c.key for c in batch if (c.source, c.source_id) not in rejected]
                    state.mark_acked(ledger_key, keys, utc_now().isoformat(), batch_id=planned.batch_id)
                    totals["batches"] += 1
                    totals["records"] += sum(1 for c in batch if c.kind == "record")
                    totals["superseded"] += sum(1 for c in batch if c.kind == "superseded")
                    totals["acknowledged"] += len(keys)
                    for owner, error in rejected.items():
                        totals["rejected"][f"{owner[0]}:{owner[1]}"] = error
                        logger.error("The portal rejected %s:%s: %s", *owner, error)
                    stats.inc_value("envision/post/batches")
                    stats.inc_value("envision/post/acknowledged", len(keys))
                    stats.inc_value("envision/post/rejected", len(rejected))

            try:
                run_job(self.crawler_process, job)
            except ServiceError as exc:
                totals["error"] = str(exc)
                self.exitcode = 1
        finally:
            state.close()
        if totals["rejected"]:
            self.exitcode = 1
        self._report(opts, totals)

    @staticmethod
    def _report(opts: argparse.Namespace, totals: dict[str, Any], dry_run: bool = False) -> None:
        if opts.json:
            print(json.dumps({**totals, "dry_run": dry_run}, sort_keys=True))
            return
        if dry_run:
            print(f"would send {totals['records']} record(s) and {totals['superseded']} superseded notice(s)")
            return
        print(f"sent {totals['batches']} batch(es): {totals['records']} record(s), {totals['superseded']} "
              f"superseded notice(s); {totals['acknowledged']} acknowledged, {len(totals['rejected'])} rejected")
        if "error" in totals:
            print(f"scrapy post: {totals['error']}")

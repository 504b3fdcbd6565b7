"""``scrapy crawl``, with a preflight: a spider's arguments, credentials and browser are checked
before the engine starts, and a problem is one logged line (in the job's log under scrapyd) and
exit status 2 (Scrapy's own command would print an asyncio traceback for an exception raised
while the crawler starts)."""

from __future__ import annotations

import argparse
import logging

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from envision_spiders.bases.spider import SpiderArgumentError

logger = logging.getLogger(__name__)


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) == 1 and self.crawler_process is not None:
            try:
                spidercls = self.crawler_process.spider_loader.load(args[0])
            except KeyError:
                spidercls = None  # Scrapy's own command says "Spider not found"
            preflight = getattr(spidercls, "preflight", None)
            if preflight is not None:
                settings = self.settings.copy()
                spidercls.update_settings(settings)  # custom_settings and presets, as the crawl will see them
                try:
                    preflight(settings, **opts.spargs)
                except SpiderArgumentError as exc:
                    logger.error("scrapy crawl %s: %s", args[0], exc)
                    self.exitcode = 2
                    return
        super().run(args, opts)

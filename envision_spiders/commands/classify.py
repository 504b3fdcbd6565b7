"""``scrapy classify``: re-score the stored per-record JSON (no scraping) and rewrite the results files."""

from __future__ import annotations

import argparse
import sys

from scrapy.commands import ScrapyCommand


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--source SOURCE ...] [--unlabeled] [--no-results]"

    def short_desc(self) -> str:
        return "Classify the stored records again (skip scraping) and rewrite the results files"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--source", action="append", default=None, help="only this source (repeatable)")
        parser.add_argument("--unlabeled", action="store_true",
                            help="only records stored without a label (e.g. the crawl's classifier failed on them)")
        parser.add_argument("--no-results", action="store_true", help="do not rewrite the results files")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # imported here: scrapy imports every command to list them, and the classifier pulls numpy
        from envision_spiders.classifier.cli import ClassifierConfigError, classify_store, json_line

        try:
            summary = classify_store(self.settings, opts.source, write_results_files=not opts.no_results,
                                     unlabeled_only=opts.unlabeled)
        except (ClassifierConfigError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print(json_line(summary))

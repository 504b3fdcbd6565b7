"""``scrapy results``: rebuild the per-source results files from the store."""

from __future__ import annotations

import argparse
import json

from scrapy.commands import ScrapyCommand

from envision_spiders.exports.results import write_results
from envision_spiders.state.store import stored_records


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--source SOURCE ...]"

    def short_desc(self) -> str:
        return "Write {source}_all_results.json and {source}_eye_imaging.json from the record store"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--source", action="append", default=None, help="only this source (repeatable)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        data_dir = self.settings.get("ENVISION_DATA_DIR")
        # the records come from the store (ENVISION_STORE_URL or the data directory)
        summary = write_results(data_dir, opts.source, stored_records(self.settings, opts.source))
        print(json.dumps({"data_dir": data_dir, "sources": summary}, sort_keys=True))

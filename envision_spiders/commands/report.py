"""``scrapy report``: a static HTML report of what the crawls found (catalog refreshed first)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--out DIR]"

    def short_desc(self) -> str:
        return "Write {ENVISION_DATA_DIR}/report/: composition charts, a table and a card per EYE_IMAGING record"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--out", default=None, help="write the site here instead of {ENVISION_DATA_DIR}/report")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}", print_help=False)
        # imported here: scrapy imports every command to list them; the report pulls the classifier
        from envision_spiders.catalog import build_catalog, catalog_path
        from envision_spiders.report import write_report
        from envision_spiders.report.site import REPORT_DIR

        data_dir = Path(self.settings.get("ENVISION_DATA_DIR"))
        from envision_spiders.state.store import StoreConfig, open_records

        build = build_catalog(data_dir, records=open_records(StoreConfig.from_settings(self.settings)))
        downloads = Path(self.settings.get("FILES_STORE") or data_dir / "downloads")
        from envision_spiders.state.db import accepted_after_review

        accepted = accepted_after_review(self.settings)
        summary = write_report(catalog_path(data_dir), Path(opts.out or data_dir / REPORT_DIR), downloads,
                               self.settings.getfloat("ENVISION_DOWNLOAD_THRESHOLD"),
                               self.settings.getint("ENVISION_REPORT_PAGE_ROWS"),
                               self.settings.getbool("ENVISION_DOWNLOAD_REQUIRE_EYE_EVIDENCE"), accepted)
        print(json.dumps({"catalog": build.as_dict(), "report": summary.as_dict()}, sort_keys=True))

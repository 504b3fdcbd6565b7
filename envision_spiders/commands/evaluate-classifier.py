"""``scrapy evaluate-classifier FILE.jsonl [--json]``: score labelled records and report.

Each line is a record (``title``, ``description``, ``keywords``, ``kind``, ``extra``,
``files``/``file_names``, ``archive_contents``: any page object's output) with ``label``
(EYE_IMAGING or NEGATIVE), optional ``category`` (the evaluation kind: figures are reported
per category) and optional ``hard_negative``. The report gives accuracy, EYE_IMAGING F1, ECE,
the precision above the 0.80 download gate with a 95% bootstrap interval, hard-negative
accuracy, and per category the same figures. With ``--json`` the last line of stdout is one
JSON object (n, accuracy, precision/recall/F1 of EYE_IMAGING, ece, gate_0_80, gate_0_80_ci95,
per_category, records_per_second, ...). The module name holds a hyphen because Scrapy names a command
after its module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "FILE.jsonl [--json]"

    def short_desc(self) -> str:
        return "Evaluate the classifier on labelled JSON-lines records"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--json", action="store_true", help="print the figures as one JSON object (last line)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # imported here: scrapy imports every command to list them, and the classifier pulls numpy
        from envision_spiders.classifier.cli import ClassifierConfigError, evaluate_command, json_line

        if len(args) != 1:
            raise UsageError("give exactly one FILE.jsonl")
        if not Path(args[0]).is_file():
            raise UsageError(f"no such file: {args[0]}")
        try:
            metrics, report = evaluate_command(self.settings, args[0])
        except (ClassifierConfigError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print(report)
        if opts.json:
            print(json_line(metrics))

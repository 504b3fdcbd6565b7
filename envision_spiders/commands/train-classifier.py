"""``scrapy train-classifier``: train the classifier head and write it (default: the packaged head).

The module name holds a hyphen because Scrapy names a command after its module.
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands import ScrapyCommand


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--data FILE.jsonl] [--output HEAD.json] [--with-envision-examples] [--json]"

    def short_desc(self) -> str:
        return "Train the EYE_IMAGING classifier head on the labelled records and report held-out figures"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--data", default=None, help="labelled JSON lines (default: the packaged training set)")
        parser.add_argument("--output", default=None, help="where to write the head (default: CLASSIFIER_HEAD)")
        parser.add_argument(
            "--with-envision-examples",
            action="store_true",
            help="also train on the curated examples of the envision-classifier package, if installed",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object (last line)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        # imported here: scrapy imports every command to list them, and the classifier pulls numpy
        from envision_spiders.classifier.cli import ClassifierConfigError, json_line, train_command
        from envision_spiders.classifier.evaluation import format_report

        try:
            report = train_command(self.settings, opts.data, opts.output, opts.with_envision_examples, opts.seed)
        except (ClassifierConfigError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        print(
            f"trained on {report['n_train']} records (+{report['n_envision_examples']} envision-classifier examples), "
            f"{_head_kind(report)}, {report['train_seconds']} s; head written to {report['head']}"
        )
        if report.get("test_metrics"):
            print(format_report(report["test_metrics"], f"held-out split ({report['n_test']} records)"))
        if opts.json:
            print(json_line(report))


def _head_kind(report: dict) -> str:
    if report.get("hidden"):
        return f"a hidden layer of {report['hidden']} units"
    return f"logistic regression, L2={report['l2']}"

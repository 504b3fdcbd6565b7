"""``scrapy export DEST``: completed downloads -> an imagefolder / ImageFolder tree with Croissant."""

from __future__ import annotations

import argparse
import json
import logging

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from envision_spiders.pipelines.files import default_files_store
from envision_spiders.state.store import StoreConfig, open_records
from envision_spiders.trainingset.formats import DEFAULT_FORMATS, parse_formats
from envision_spiders.trainingset.options import (
    GROUP_MODES,
    LINK_MODES,
    Budget,
    ExportOptions,
    check_choice,
    parse_label_by,
    parse_splits,
)

logger = logging.getLogger(__name__)


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_LEVEL": "WARNING"}

    def syntax(self) -> str:
        return ("DEST [--label-by dataset|modality|folder|field:PATH] [--split train=0.8,val=0.1,test=0.1] "
                "[--seed N] [--group-by image|dataset] [--formats png,jpeg,...] [--max-per-label N] [--balance] "
                "[--weights] [--link auto|hardlink|symlink|copy] [--source S ...] [--dry-run] [--json]")

    def short_desc(self) -> str:
        return "Export completed downloads as an image-classification tree (imagefolder, ImageFolder, Croissant)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        add = parser.add_argument
        add("--label-by", default="dataset", help="dataset | modality | folder | field:PATH (default dataset)")
        add("--split", default="train=1", help="NAME=FRACTION,... summing to 1 (default train=1)")
        add("--seed", default="0", help="seed of the split and of capping (default 0)")
        add("--group-by", default="image", help="image (same sha256 together, default) | dataset (whole datasets)")
        add("--formats", default=",".join(DEFAULT_FORMATS),
            help=f"formats to export (default {','.join(DEFAULT_FORMATS)}; also gif, dicom, nifti)")
        add("--max-per-label", default="0", help="at most N images per label (0: no cap)")
        add("--balance", action="store_true", help="cap every label at the size of the smallest")
        add("--weights", action="store_true", help="write per-sample weights restoring the label distribution")
        add("--link", default="auto", help="plain downloaded images: auto (hardlink, else copy) | hardlink | symlink | copy")
        add("--source", action="append", default=None, help="only this source (repeatable)")
        add("--max-entry-bytes", default=str(Budget.max_entry_bytes), help="largest image accepted (bytes)")
        add("--max-total-bytes", default="0", help="stop extracting past this many bytes (0: no limit)")
        add("--max-ratio", default=str(Budget.max_ratio), help="largest compression ratio accepted")
        add("--dry-run", action="store_true", help="read and plan, print the summary, write nothing")
        add("--json", action="store_true", help="print the summary as one JSON line")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        try:
            budget = Budget(
                max_entry_bytes=_positive_int("--max-entry-bytes", opts.max_entry_bytes),
                max_total_bytes=_positive_int("--max-total-bytes", opts.max_total_bytes, zero=True),
                max_ratio=float(opts.max_ratio),
            )
            self.options = ExportOptions(
                formats=parse_formats(opts.formats),
                label_by=parse_label_by(opts.label_by),
                splits=parse_splits(opts.split),
                seed=_positive_int("--seed", opts.seed, zero=True),
                group_by=check_choice("--group-by", opts.group_by, GROUP_MODES),
                max_per_label=_positive_int("--max-per-label", opts.max_per_label, zero=True),
                balance=opts.balance,
                weights=opts.weights,
                link=check_choice("--link", opts.link, LINK_MODES),
                dry_run=opts.dry_run,
                sources=tuple(opts.source or ()),
                budget=budget,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give one DEST folder")
        # imported here: scrapy imports every command module on every invocation (scrapy download
        # included), and the export's image readers are ~30 ms of it
        from envision_spiders.trainingset.extract import WriteFailed
        from envision_spiders.trainingset.run import ExportError, export_dataset

        # the records of ENVISION_STORE_URL when set (an object store), else the files under ENVISION_DATA_DIR
        records = open_records(StoreConfig.from_settings(self.settings))
        try:
            summary = export_dataset(records, default_files_store(self.settings), args[0], self.options)
        except ExportError as exc:
            raise UsageError(str(exc)) from None
        except WriteFailed as exc:  # disk full, permissions: DEST is left as it is
            logger.error("export stopped: %s", exc)
            self.exitcode = 1
            return
        if opts.json:
            print(json.dumps(summary, sort_keys=True))
        else:
            print(format_summary(summary))
        if not summary["images"]:
            self.exitcode = 1


def _positive_int(option: str, text: str, zero: bool = False) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a whole number") from None
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{option} {value} must be {'>= 0' if zero else '> 0'}")
    return value


def format_summary(summary: dict) -> str:
    """The summary for a terminal: images per split and label, skips by reason, sources."""
    verb = "would export" if summary["dry_run"] else "exported"
    lines = [f"{verb} {summary['images']} files to {summary['dest']} ({summary['bytes_written']} bytes written)"]
    for split, labels in summary["splits"].items():
        lines.append(f"  {split}: {sum(labels.values())}  " + "  ".join(f"{k}={v}" for k, v in labels.items()))
    if summary["capped"]:
        lines.append(f"  capped: {summary['capped']}")
    for reason, info in summary["skipped"].items():
        lines.append(f"  skipped ({reason}): {info['count']}  e.g. {info['examples'][0]}")
    lines.append(f"  datasets: {len(summary['datasets'])}  licences: "
                 + ", ".join(f"{k} ({v})" for k, v in summary["licences"].items()))
    for entry in summary["downloads_not_complete"]:
        lines.append(f"  not complete, left out: {entry}")
    return "\n".join(lines)

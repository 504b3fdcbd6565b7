"""``scrapy catalog``: build the queryable catalog from the store, select records, key coverage, datasette."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from envision_spiders.catalog import FieldError, build_catalog, catalog_path, connect, coverage, parse_condition
from envision_spiders.catalog.build import METADATA_FILE
from envision_spiders.catalog.coverage import coverage_table
from envision_spiders.catalog.datasette import datasette_argv
from envision_spiders.catalog.fields import as_text, schema_fields, values_at
from envision_spiders.catalog.query import Selected, observed_fields, select_records
from envision_spiders.state.store import StoreConfig, open_records

TABLE_FIELDS = ("label", "confidence", "img_count", "license", "title")
FORMATS = ("table", "jsonl", "csv", "json")


class Command(ScrapyCommand):
    requires_project = True
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return (
            "[--where FIELD OP VALUE ...] [--search TEXT] [--sort FIELD[:desc]] [--limit N] "
            "[--format table|jsonl|csv] | --coverage [--format json] | --fields | --serve [--port N]"
        )

    def short_desc(self) -> str:
        return "Build {ENVISION_DATA_DIR}/catalog.sqlite from the store, or select records from it"

    def long_desc(self) -> str:
        return (
            "Without selection options: bring catalog.sqlite up to date with the record store "
            "(incremental, safe while a crawl runs) and print a JSON summary. With --where/--search/"
            "--sort/--limit: print the matching canonical records (read-only). Fields are dotted paths "
            "(files.name, archive_contents.images.modality); a condition on a list holds when any "
            "element matches. Operators: = != < <= > >= ~ (contains, case-insensitive) in (comma list)."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--where", nargs=3, action="append", default=[], metavar=("FIELD", "OP", "VALUE"),
                            help="a condition (repeatable, all must hold)")
        parser.add_argument("--search", default=None, help="words that must all occur (full-text index)")
        parser.add_argument("--sort", default=None, help="FIELD or FIELD:desc")
        parser.add_argument("--limit", default=None, help="at most N records")
        parser.add_argument("--format", default=None, help="table (default), jsonl, csv; json for --coverage")
        parser.add_argument("--coverage", action="store_true", help="per source, share of records with each field")
        parser.add_argument("--fields", action="store_true", help="list the field paths --where accepts")
        parser.add_argument("--serve", action="store_true", help="serve the catalog with datasette on 127.0.0.1")
        parser.add_argument("--port", default="8001", help="port for --serve (default 8001)")

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if opts.format is not None and opts.format not in FORMATS:
            raise UsageError(f"--format {opts.format!r}: use one of {', '.join(FORMATS)}", print_help=False)
        for name in ("limit", "port"):
            value = getattr(opts, name)
            if value is not None:
                if not str(value).isdigit():
                    raise UsageError(f"--{name} {value!r} is not a whole number", print_help=False)
                setattr(opts, name, int(value))

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected arguments: {' '.join(args)}", print_help=False)
        data_dir = self.settings.get("ENVISION_DATA_DIR")
        path = catalog_path(data_dir)
        selecting = opts.where or opts.search or opts.sort or opts.limit is not None
        if opts.serve:
            self._serve(path, opts.port)
        elif opts.coverage:
            self._coverage(path, opts.format or "table")
        elif opts.fields:
            conn = self._open(path)
            try:
                print("\n".join(sorted(set(schema_fields()) | observed_fields(conn))))
            finally:
                conn.close()
        elif selecting:
            self._select(path, opts)
        else:
            if opts.format not in (None, "json"):
                raise UsageError("--format applies to a selection or --coverage", print_help=False)
            # the records of ENVISION_STORE_URL when set (an object store), else the files under data_dir
            records = open_records(StoreConfig.from_settings(self.settings))
            print(json.dumps(build_catalog(data_dir, records=records).as_dict(), sort_keys=True))

    def _open(self, path: Path) -> Any:
        try:
            return connect(path, readonly=True)
        except FileNotFoundError as exc:
            raise UsageError(str(exc), print_help=False) from None

    def _select(self, path: Path, opts: argparse.Namespace) -> None:
        fmt = opts.format or "table"
        if fmt == "json":
            raise UsageError("--format json applies to --coverage; use jsonl for records", print_help=False)
        conn = self._open(path)
        try:
            known = observed_fields(conn)
            try:
                conditions = [parse_condition(field, op, value, known) for field, op, value in opts.where]
                selected = select_records(conn, conditions, opts.search, opts.sort, opts.limit)
            except FieldError as exc:
                raise UsageError(str(exc), print_help=False) from None
            self._print(selected, fmt, opts)  # texts are read from the catalog as they are printed
        finally:
            conn.close()

    def _print(self, selected: list[Selected], fmt: str, opts: argparse.Namespace) -> None:
        if fmt == "jsonl":
            for s in selected:
                sys.stdout.write(s.text + "\n")
            return
        fields = list(dict.fromkeys([*TABLE_FIELDS, *(w[0] for w in opts.where),
                                     *([opts.sort.partition(":")[0]] if opts.sort else [])]))
        rows = [[s.key, *(_cell(s, f) for f in fields)] for s in selected]
        if fmt == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(["key", *fields])
            writer.writerows(rows)
        else:
            print(_table(["key", *fields], rows))

    def _coverage(self, path: Path, fmt: str) -> None:
        if fmt not in ("table", "json"):
            raise UsageError("--coverage prints a table or json", print_help=False)
        conn = self._open(path)
        try:
            report = coverage(conn)
        finally:
            conn.close()
        print(json.dumps(report, sort_keys=True) if fmt == "json" else coverage_table(report))

    def _serve(self, path: Path, port: int) -> None:
        if not path.exists():
            raise UsageError(f"no catalog at {path}: run `scrapy catalog` first", print_help=False)
        if importlib.util.find_spec("datasette") is None:
            print("datasette is not installed: pip install 'envision-spiders[catalog]'", file=sys.stderr)
            self.exitcode = 1
            return
        argv = datasette_argv(path, path.with_name(METADATA_FILE), port)
        sys.stdout.flush()
        os.execv(argv[0], argv)  # datasette replaces this process: stopping it stops the server


def _cell(selected: Selected, field: str) -> str:
    values = values_at(selected.record, field)
    return ", ".join(f"{v:.3f}" if isinstance(v, float) else as_text(v) for v in values)


def _table(header: list[str], rows: list[list[str]], width: int = 60) -> str:
    clipped = [[c if len(c) <= width else c[: width - 1] + "…" for c in row] for row in rows]
    widths = [max([len(h), *(len(r[n]) for r in clipped)]) for n, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in clipped]
    lines.append(f"({len(rows)} record{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)

"""Key coverage: per source, the share of stored records that carry each field non-empty.

A source whose mapping broke shows up as a column of zeros. Every stored record counts, the
copies merged into another record too (they are what the source's mapping produced). A field
is non-empty when some value it reaches is not null, "" , [] or {} (0 and false count).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from typing import Any

from envision_spiders.catalog.fields import non_empty, schema_fields, values_at


def coverage(conn: sqlite3.Connection, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``{"fields": [...], "sources": {source: {"records": n, "coverage": {field: share}}}}``."""
    fields = fields or schema_fields()
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(fields))
    totals: dict[str, int] = defaultdict(int)
    rows = conn.execute("SELECT source, record_json FROM records UNION ALL SELECT source, record_json FROM duplicates")
    for source, text in rows:
        record = json.loads(text)
        totals[source] += 1
        present = counts[source]
        for n, field in enumerate(fields):
            if non_empty(values_at(record, field)):
                present[n] += 1
    return {
        "fields": list(fields),
        "sources": {
            source: {
                "records": totals[source],
                "coverage": {f: round(counts[source][n] / totals[source], 4) for n, f in enumerate(fields)},
            }
            for source in sorted(totals)
        },
    }


def coverage_table(report: dict[str, Any]) -> str:
    """The coverage as a text table: one row per field, one column per source (percent)."""
    sources = list(report["sources"])
    width = max([len("field"), *map(len, report["fields"])])
    cols = [max(len(s), 6) for s in sources]
    lines = [
        "  ".join(["field".ljust(width), *(s.rjust(c) for s, c in zip(sources, cols, strict=True))]),
        "  ".join(["records".ljust(width),
                   *(str(report["sources"][s]["records"]).rjust(c) for s, c in zip(sources, cols, strict=True))]),
    ]
    for field in report["fields"]:
        cells = [f"{100 * report['sources'][s]['coverage'][field]:.0f}%".rjust(c) for s, c in zip(sources, cols, strict=True)]
        lines.append("  ".join([field.ljust(width), *cells]))
    return "\n".join(lines)

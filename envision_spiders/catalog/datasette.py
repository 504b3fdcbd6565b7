"""Browsing the catalog with datasette: its ``metadata.json`` and the command line that serves it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


def datasette_metadata(catalog: str | Path) -> dict[str, Any]:
    """Facets on source, label, licence and (DICOM) modality; full-text search over records."""
    database = Path(catalog).stem
    return {
        "title": "envision-spiders catalog",
        "description": "Eye-imaging dataset records found by envision-spiders, one row per canonical record.",
        "databases": {
            database: {
                "tables": {
                    "records": {
                        "label_column": "title",
                        "facets": ["source", "label", "license", {"array": "modalities"}],
                        "fts_table": "records_fts",
                        "fts_pk": "id",
                        "sort_desc": "confidence",
                    },
                    "images": {"facets": ["format", "dims", "modality", "body_part"]},
                    "files": {"facets": ["mimetype"]},
                    "archives": {"facets": ["format", "status"]},
                    "duplicates": {"facets": ["source"]},
                    "catalog_files": {"hidden": True},
                    "fields": {"hidden": True},
                }
            }
        },
    }


def datasette_argv(catalog: str | Path, metadata: str | Path, port: int) -> list[str]:
    """``python -m datasette serve`` on loopback only, read-only SQL off the write path."""
    return [
        sys.executable, "-m", "datasette", "serve", str(catalog), "--metadata", str(metadata),
        "--host", LOOPBACK, "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
    ]

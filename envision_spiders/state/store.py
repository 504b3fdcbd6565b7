"""The per-record JSON store: ``{data_dir}/metadata/{source}/{source_id}.json``, atomic writes."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

METADATA_DIR = "metadata"


def record_path(data_dir: str | Path, source: str, source_id: str) -> Path:
    # ids such as Dryad's DOIs hold "/" and ":": quote them into one safe file name
    safe_id = quote(str(source_id), safe="-_.")
    if safe_id in {"", ".", ".."}:
        raise ValueError(f"unusable record id {source_id!r}")
    return Path(data_dir) / METADATA_DIR / quote(source, safe="-_") / f"{safe_id}.json"


def write_json_atomic(path: str | Path, obj: Any, fsync: bool = False) -> None:
    """Write JSON so that a reader (or a crash) sees the old file or the new one, never half."""
    path = Path(path)
    # A temp name unique per process and thread: cheaper than mkstemp's random names, and
    # two writers of one record (two crawls, classify threads) never share a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fh = open(tmp, "w", encoding="utf-8")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(tmp, "w", encoding="utf-8")
    try:
        with fh:
            # one dumps() call keeps json on its C encoder (indent= would not)
            fh.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def load_record(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def iter_stored_records(
    data_dir: str | Path, sources: list[str] | None = None
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every stored record as (path, record), sources in name order, files in name order."""
    root = Path(data_dir) / METADATA_DIR
    if not root.is_dir():
        return
    for source_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if sources and source_dir.name not in sources:
            continue
        for path in sorted(source_dir.glob("*.json")):
            yield path, load_record(path)

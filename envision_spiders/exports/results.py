"""The seed pipeline's results files, rebuilt from the store.

``{data_dir}/results/{source}_all_results.json``: every canonical record of the source;
``{source}_eye_imaging.json``: the EYE_IMAGING ones, highest confidence first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from envision_spiders.exports.feeds import EYE_IMAGING
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.store import iter_stored_records

RESULTS_DIR = "results"


def write_results(
    data_dir: str | Path,
    sources: list[str] | None = None,
    stored: Iterable[tuple[Any, dict[str, Any]]] | None = None,
) -> dict[str, dict[str, int]]:
    """Write both files per source; returns {source: {"all": n, "eye_imaging": m}}. ``stored``:
    the records to read (``state.store.stored_records``), else the files under ``data_dir``."""
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, record in stored if stored is not None else iter_stored_records(data_dir, sources):
        if record.get("duplicate_of"):
            continue
        by_source[record["source"]].append(record)
    out_dir = Path(data_dir) / RESULTS_DIR
    summary: dict[str, dict[str, int]] = {}
    for source in sorted(set(by_source) | set(sources or ())):
        records = sorted(by_source.get(source, []), key=lambda r: str(r.get("source_id")))
        eye = [r for r in records if r.get("label") == EYE_IMAGING]
        eye.sort(key=lambda r: (-(r.get("confidence") or 0.0), str(r.get("source_id"))))
        write_json_atomic(out_dir / f"{source}_all_results.json", records)
        write_json_atomic(out_dir / f"{source}_eye_imaging.json", eye)
        summary[source] = {"all": len(records), "eye_imaging": len(eye)}
    return summary

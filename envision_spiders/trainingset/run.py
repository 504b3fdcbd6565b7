"""``export_dataset``: completed downloads in, an image-classification tree and its summary out."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from envision_spiders.inspection.sniff import sniff
from envision_spiders.state.objects import is_s3_url
from envision_spiders.state.store import RecordBackend
from envision_spiders.trainingset.croissant import CROISSANT_NAME, build_croissant
from envision_spiders.trainingset.extract import (
    Meter,
    Refused,
    Skips,
    Stager,
    archive_reader,
    read_head,
)
from envision_spiders.trainingset.formats import candidate, confirmed
from envision_spiders.trainingset.options import ExportOptions
from envision_spiders.trainingset.plan import (
    Sample,
    assign_splits,
    cap_per_label,
    label_of,
    name_outputs,
    restore_weights,
)
from envision_spiders.trainingset.sources import DownloadedFile, DownloadedRecord, iter_downloaded

logger = logging.getLogger(__name__)

METADATA_NAME = "metadata.jsonl"
OTHER_FILES_NAME = "other_files.jsonl"  # DICOM/NIfTI rows: imagefolder cannot decode them
STAGING_NAME = ".staging"


class ExportError(Exception):
    """The export cannot start (DEST not empty, a link mode the file system refuses)."""


def export_dataset(records: RecordBackend, files_store: str | Path, dest: str | Path,
                   options: ExportOptions) -> dict[str, Any]:
    """Export the completed downloads under ``files_store`` (a local folder) of the stored
    ``records`` into ``dest`` (which must not exist or be empty); return the summary."""
    if is_s3_url(str(files_store)):
        raise ExportError(f"FILES_STORE is {files_store}: the export reads downloaded files from a local folder "
                          "(copy the objects down first, e.g. `aws s3 sync`, and set FILES_STORE to that folder)")
    dest = Path(dest)
    staging: Path | None = None
    if not options.dry_run:
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ExportError(f"{dest} exists and is not an empty folder")
        staging = dest / STAGING_NAME
        staging.mkdir(parents=True)
    started = time.perf_counter()
    try:
        summary = _export(records, Path(files_store), dest, staging, options)
        summary["seconds"] = round(time.perf_counter() - started, 3)
        return summary
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _export(records: RecordBackend, files_store: Path, dest: Path, staging: Path | None,
            options: ExportOptions) -> dict[str, Any]:
    skips = Skips()
    meter = Meter(options.budget.max_total_bytes)
    stager = Stager(staging)
    not_complete: list[str] = []
    samples: list[Sample] = []
    for record in iter_downloaded(records, files_store, list(options.sources) or None, not_complete):
        for file in record.files:
            samples += _read_file(record, file, options, meter, stager, skips)

    labelled: list[Sample] = []
    for s in samples:
        s.label, reason = label_of(s, options.label_by)
        if s.label is None:
            skips.add(f"{s.record.key}/{s.inner_path}", reason)
            _discard(s)
        else:
            labelled.append(s)
    original = Counter(s.label or "" for s in labelled)
    cap = options.max_per_label
    if options.balance and original:
        smallest = min(original.values())
        cap = min(cap, smallest) if cap else smallest
    kept, capped = cap_per_label(labelled, cap, options.seed) if cap else (labelled, [])
    for s in capped:
        _discard(s)
    if options.weights and kept:
        restore_weights(original, kept)
    assign_splits(kept, options.splits, options.seed, options.group_by)
    name_outputs(kept)

    bytes_written = 0
    if staging is not None:
        made: set[str] = set()
        for s in kept:
            bytes_written += _place(s, dest, options.link, made)
        _fill_sizes(kept, dest)
        _write_metadata(kept, dest, options)
        (dest / CROISSANT_NAME).write_text(
            json.dumps(build_croissant(kept, dest, options), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    else:
        bytes_written = meter.bytes
    return _summary(kept, capped, skips, not_complete, bytes_written, dest, options)


def _read_file(record: DownloadedRecord, file: DownloadedFile, options: ExportOptions, meter: Meter,
               stager: Stager, skips: Skips) -> list[Sample]:
    label = f"{record.key}/{file.relative}"
    if not file.path.is_file():
        skips.add(label, "missing file")
        return []
    reader = archive_reader(file.path)
    if reader is not None:
        out = []
        for got in reader(file.path, label, options.formats, options.budget, meter, stager, skips):
            out.append(Sample(
                record, file, got.member, got.staged, got.sha256, got.size, got.format.name,
                got.format.image, got.facts.get("width"), got.facts.get("height"), got.facts.get("modality"),
            ))
        return out
    if not candidate(file.relative, options.formats):
        return []
    with open(file.path, "rb") as fh:
        head = read_head(fh)
    facts = sniff(head, file.relative) or {}
    fmt = confirmed(file.relative, facts.get("format"), options.formats)
    if fmt is None:
        skips.add(label, "not a wanted format")
        return []
    size = file.path.stat().st_size
    if size > options.budget.max_entry_bytes:
        skips.add(label, f"entry over {options.budget.max_entry_bytes} bytes")
        return []
    sha = file.sha256 or _hash_file(file.path)
    if options.link == "copy":
        try:
            meter.add(size)
        except Refused as exc:
            skips.add(label, str(exc))
            return []
    return [Sample(record, file, None, None, sha, size, fmt.name, fmt.image, facts.get("width"),
                   facts.get("height"), facts.get("modality"))]


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _discard(sample: Sample) -> None:
    if sample.staged is not None:
        sample.staged.unlink(missing_ok=True)
        sample.staged = None


def _place(sample: Sample, dest: Path, link: str, made: set[str]) -> int:
    """Move or link a sample to its final name; the bytes written."""
    assert sample.dest is not None
    # every segment of dest was built by plan.name_outputs from sanitised parts; check anyway
    if ".." in sample.dest.split("/") or sample.dest.startswith("/"):
        raise ExportError(f"refusing output name {sample.dest!r}")
    target = os.path.join(dest, sample.dest)
    folder = os.path.dirname(target)
    if folder not in made:
        os.makedirs(folder, exist_ok=True)
        made.add(folder)
    if sample.staged is not None:
        os.rename(sample.staged, target)  # archive members are written once, then renamed
        sample.staged = None
        return sample.size
    source = sample.file.path
    if link in ("auto", "hardlink"):
        try:
            os.link(source, target)
            return 0
        except OSError as exc:
            if link == "hardlink":
                raise ExportError(f"--link hardlink: cannot link {source} into {dest}: {exc}") from exc
    elif link == "symlink":
        os.symlink(source.resolve(), target)
        return 0
    shutil.copyfile(source, target)
    return sample.size


def _fill_sizes(samples: list[Sample], dest: Path) -> None:
    """Width/height of images whose header bytes did not say (a JPEG with a long EXIF block)."""
    missing = [s for s in samples if s.image and (s.width is None or s.height is None)]
    if not missing:
        return
    from PIL import Image  # the export extra; only needed for these few

    for s in missing:
        try:
            with Image.open(dest / str(s.dest)) as im:
                s.width, s.height = im.size
        except Exception:  # noqa: BLE001  (unreadable image: size stays unknown, said as 0)
            logger.warning("cannot read the size of %s", s.dest)


def metadata_row(s: Sample, with_weight: bool) -> dict[str, Any]:
    """One line of ``metadata.jsonl``. No nulls: ``datasets`` infers one type per column from
    the first rows of each split, so unknown strings are "" and unknown sizes 0."""
    assert s.dest is not None and s.split is not None
    row: dict[str, Any] = {
        "file_name": s.dest[len(s.split) + 1:],
        "label": s.label or "",
        "source": s.record.source,
        "source_id": s.record.source_id,
        "doi": s.record.doi or "",
        "license": s.record.license or "",
        "dataset_file": s.file.relative,
        "path_in_archive": s.member or "",
        "format": s.format,
        "width": int(s.width or 0),
        "height": int(s.height or 0),
        "modality": s.modality or "",
        "sha256": s.sha256,
        "size": s.size,
    }
    if with_weight:
        row["weight"] = float(s.weight or 0.0)
    return row


def _write_metadata(samples: list[Sample], dest: Path, options: ExportOptions) -> None:
    rows: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        rows[(str(s.split), s.image)].append(metadata_row(s, options.weights))
    for (split, image), split_rows in sorted(rows.items()):
        split_rows.sort(key=lambda r: r["file_name"])
        path = dest / split / (METADATA_NAME if image else OTHER_FILES_NAME)
        path.write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in split_rows),
                        encoding="utf-8")


def _summary(kept: list[Sample], capped: list[Sample], skips: Skips, not_complete: list[str],
             bytes_written: int, dest: Path, options: ExportOptions) -> dict[str, Any]:
    per_split: dict[str, Counter[str]] = defaultdict(Counter)
    for s in kept:
        per_split[str(s.split)][s.label or ""] += 1
    records = {s.record.key: s.record for s in kept}
    datasets = sorted(records)
    licences = Counter(records[key].license or "(none)" for key in datasets)
    return {
        "dest": str(dest),
        "dry_run": options.dry_run,
        "images": len(kept),
        "splits": {split: dict(sorted(labels.items())) for split, labels in sorted(per_split.items())},
        "formats": dict(sorted(Counter(s.format for s in kept).items())),
        "capped": len(capped),
        "skipped": skips.as_dict(),
        "bytes_written": bytes_written,
        "datasets": datasets,
        "licences": dict(sorted(licences.items())),
        "downloads_not_complete": not_complete,
    }

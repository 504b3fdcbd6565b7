"""What the ``scrapy classify`` / ``train-classifier`` / ``evaluate-classifier`` commands do,
as plain functions (the command modules are thin wrappers)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from envision_spiders.classifier.encoder import ClassifierConfigError
from envision_spiders.classifier.evaluation import evaluate, format_report, parse_label, read_jsonl
from envision_spiders.classifier.model import DEFAULT_HEAD, ClassifierConfig, EyeImagingClassifier, resolve_head

logger = logging.getLogger(__name__)


def _batches(iterable: Any, size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in iterable:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def classify_store(
    settings: Any, sources: list[str] | None = None, write_results_files: bool = True, unlabeled_only: bool = False
) -> dict[str, Any]:
    """Re-score every canonical stored record in place (``unlabeled_only``: those without a
    label), then rewrite the results files. Records owed a label (the state DB's
    ``unclassified``: the crawl's classifier failed on them) are fresh again once written; a
    record whose label changed is owed to the feeds again, so the next crawl emits it."""
    from envision_spiders.state.db import open_state
    from envision_spiders.state.runs import utc_now
    from envision_spiders.state.store import RecordStore, StoreConfig, stored_records

    data_dir = settings.get("ENVISION_DATA_DIR") or "data"
    config = ClassifierConfig.from_settings(settings)
    resolve_head(config.head)
    classifier = EyeImagingClassifier(config)
    batch_size = max(settings.getint("CLASSIFIER_BATCH_SIZE", 64), 1) * 4
    counts: dict[str, int] = {"records": 0, "relabelled": 0, "skipped_duplicates": 0, "EYE_IMAGING": 0,
                              "NEGATIVE": 0}
    if unlabeled_only:
        counts["skipped_labelled"] = 0
    started = time.perf_counter()

    store_config = StoreConfig.from_settings(settings)
    at = utc_now().isoformat()

    def canonical() -> Iterator[tuple[str, dict[str, Any]]]:
        for path, record in stored_records(settings, sources):
            if record.get("duplicate_of"):
                counts["skipped_duplicates"] += 1
                continue
            if unlabeled_only and record.get("label") is not None:
                counts["skipped_labelled"] += 1
                continue
            yield path, record

    # the record store writes the labels, under the state lock, unless a crawl replaced the file meanwhile
    state = open_state(settings.get("ENVISION_STATE_URL"), data_dir, settings.getfloat("ENVISION_STATE_TIMEOUT", 60.0))
    records = RecordStore(store_config, state)
    try:
        for batch in _batches(canonical(), batch_size):
            predictions = classifier.predict([record for _, record in batch])
            with state.immediate():
                written = []
                for (_, record), prediction in zip(batch, predictions):
                    owner = (str(record["source"]), str(record["source_id"]))
                    if records.update(owner, prediction, record, at):
                        written.append(owner)
                        counts["relabelled"] += prediction["label"] != record.get("label")
                        counts["records"] += 1
                        counts[prediction["label"]] += 1
                state.clear_unclassified(written)
    finally:
        state.close()
    summary: dict[str, Any] = {"data_dir": str(data_dir), **counts, "seconds": round(time.perf_counter() - started, 2)}
    if write_results_files:
        from envision_spiders.exports.results import write_results

        summary["results"] = write_results(data_dir, sources, stored_records(settings, sources))
    return summary


def train_command(
    settings: Any,
    data: str | None,
    output: str | None,
    with_envision_examples: bool,
    seed: int = 0,
) -> dict[str, Any]:
    from envision_spiders.classifier.train import TRAINING_DATA, train

    path = Path(data) if data else TRAINING_DATA
    if not path.is_file():
        raise FileNotFoundError(f"no training file {str(path)!r}")
    records = read_jsonl(path)
    for number, record in enumerate(records, 1):
        try:
            parse_label(record.get("label"))  # fail early on a bad label
        except ValueError as exc:
            raise ValueError(f"{path}: record {number}: {exc}") from None
    if with_envision_examples:
        from envision_spiders.classifier.train import envision_examples

        if not envision_examples():
            raise ValueError(
                "--with-envision-examples: the envision-classifier package is not importable "
                "(see docs/classifier.md: pip download envision-classifier==0.3.2 --no-deps, unzip, PYTHONPATH)"
            )
    config = ClassifierConfig.from_settings(settings)
    classifier, report = train(records, config, use_envision_examples=with_envision_examples, seed=seed)
    out = Path(output or settings.get("CLASSIFIER_HEAD") or DEFAULT_HEAD)
    classifier.head.save(out)
    report["head"] = str(out)
    return report


def evaluate_command(settings: Any, path: str) -> tuple[dict[str, Any], str]:
    records = read_jsonl(path)
    if not records:
        raise ValueError(f"{path}: no records")
    for number, record in enumerate(records, 1):
        try:
            parse_label(record.get("label"))
        except ValueError as exc:
            raise ValueError(f"{path}: record {number}: {exc}") from None
    classifier = EyeImagingClassifier(ClassifierConfig.from_settings(settings))
    metrics, _ = evaluate(classifier, records)
    return metrics, format_report(metrics, f"classifier evaluation on {path}")


def json_line(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=float)


__all__ = ["ClassifierConfigError", "classify_store", "evaluate_command", "json_line", "train_command"]

"""Held-out figures: accuracy, EYE_IMAGING precision/recall/F1, hard-negative accuracy,
expected calibration error, per-category accuracy and throughput."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonlines
import numpy as np

EYE_IMAGING = "EYE_IMAGING"
NEGATIVE = "NEGATIVE"
# categories of the training/evaluation files that count as "hard negatives"
HARD_NEGATIVE_PREFIXES = ("hard_neg", "non_eye_imaging", "grant_non_imaging", "trap")


def parse_label(value: Any) -> int:
    """1 for EYE_IMAGING, 0 for NEGATIVE; accepts the label names, 1/0 and booleans."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    text = str(value).strip().upper().replace("-", "_").replace(" ", "_")
    if text in {EYE_IMAGING, "1", "TRUE", "POSITIVE", "EYE"}:
        return 1
    if text in {NEGATIVE, "0", "FALSE", "NOT_EYE_IMAGING"}:
        return 0
    raise ValueError(f"unknown label {value!r} (expected EYE_IMAGING or NEGATIVE)")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; blank lines skipped; errors name the line."""
    with jsonlines.open(path) as reader:
        try:
            return list(reader.iter(type=dict, skip_empty=True))
        except jsonlines.InvalidLineError as exc:
            if isinstance(exc.__cause__, json.JSONDecodeError):
                raise ValueError(f"{path}:{exc.lineno}: not JSON: {exc.__cause__.msg}") from None
            raise ValueError(f"{path}:{exc.lineno}: expected a JSON object") from None


def is_hard_negative(category: Any) -> bool:
    return isinstance(category, str) and category.startswith(HARD_NEGATIVE_PREFIXES)


def expected_calibration_error(y: np.ndarray, p_eye: np.ndarray, bins: int = 10) -> float:
    """ECE over the confidence of the chosen label (equal-width bins on [0.5, 1])."""
    if len(y) == 0:
        return 0.0
    pred = (p_eye >= 0.5).astype(int)
    conf = np.where(pred == 1, p_eye, 1.0 - p_eye)
    correct = (pred == y).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    ece = 0.0
    for i in range(bins):
        lo, hi = edges[i], edges[i + 1]
        mask = (conf >= lo) & ((conf < hi) if i < bins - 1 else (conf <= hi))
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def compute_metrics(y: Sequence[int], p_eye: Sequence[float], categories: Sequence[Any] | None = None) -> dict[str, Any]:
    y_arr = np.asarray(y, dtype=int)
    p_arr = np.asarray(p_eye, dtype=float)
    pred = (p_arr >= 0.5).astype(int)
    tp = int(((pred == 1) & (y_arr == 1)).sum())
    fp = int(((pred == 1) & (y_arr == 0)).sum())
    fn = int(((pred == 0) & (y_arr == 1)).sum())
    tn = int(((pred == 0) & (y_arr == 0)).sum())
    n = len(y_arr)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out: dict[str, Any] = {
        "n": n,
        "n_eye_imaging": int((y_arr == 1).sum()),
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision_eye_imaging": precision,
        "recall_eye_imaging": recall,
        "f1_eye_imaging": f1,
        "ece": expected_calibration_error(y_arr, p_arr),
        "brier": float(np.mean((p_arr - y_arr) ** 2)) if n else 0.0,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }
    # the download gate trusts confidence >= 0.80: how right is it there?
    gate = p_arr >= 0.8
    out["gate_0_80"] = {"n": int(gate.sum()), "precision": float(y_arr[gate].mean()) if gate.any() else None}
    if categories is not None:
        per: dict[str, list[int]] = defaultdict(list)
        hard: list[int] = []
        for cat, yi, pi in zip(categories, y_arr, pred):
            per[str(cat or "uncategorised")].append(int(yi == pi))
            if is_hard_negative(cat):
                hard.append(int(yi == pi))
        out["accuracy_hard_negatives"] = (sum(hard) / len(hard)) if hard else None
        out["n_hard_negatives"] = len(hard)
        out["per_category"] = {c: {"n": len(v), "accuracy": sum(v) / len(v)} for c, v in sorted(per.items())}
    return out


def evaluate(classifier: Any, records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], np.ndarray]:
    """Score ``records`` (each with a ``label``) and compute the figures, throughput included.

    Throughput counts text composition, features, encoding and the head, not model loading.
    """
    y = [parse_label(r.get("label")) for r in records]
    classifier.load()
    classifier.predict_proba(records[:16])  # warm-up: first calls of the int8 kernels are slow
    start = time.perf_counter()
    p_eye = classifier.predict_proba(records)
    elapsed = time.perf_counter() - start
    categories = [r.get("category") for r in records]
    metrics = compute_metrics(y, p_eye, categories if any(categories) else None)
    metrics["seconds"] = elapsed
    metrics["records_per_second"] = len(records) / elapsed if elapsed > 0 else None
    return metrics, p_eye


def format_report(metrics: Mapping[str, Any], title: str = "classifier evaluation") -> str:
    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    lines = [
        title,
        f"  records                {metrics['n']} ({metrics.get('n_eye_imaging', 0)} EYE_IMAGING)",
        f"  accuracy               {pct(metrics['accuracy'])}",
        f"  EYE_IMAGING precision  {pct(metrics['precision_eye_imaging'])}",
        f"  EYE_IMAGING recall     {pct(metrics['recall_eye_imaging'])}",
        f"  EYE_IMAGING F1         {pct(metrics['f1_eye_imaging'])}",
        f"  ECE (10 bins)          {pct(metrics['ece'])}",
        f"  Brier score            {pct(metrics.get('brier'))}",
    ]
    gate = metrics.get("gate_0_80") or {}
    lines.append(f"  confidence>=0.80 gate  {gate.get('n', 0)} records, precision {pct(gate.get('precision'))}")
    if metrics.get("accuracy_hard_negatives") is not None:
        lines.append(
            f"  hard-negative accuracy {pct(metrics['accuracy_hard_negatives'])} (n={metrics['n_hard_negatives']})"
        )
    c = metrics.get("confusion") or {}
    lines.append(f"  confusion              tp={c.get('tp')} fp={c.get('fp')} fn={c.get('fn')} tn={c.get('tn')}")
    if metrics.get("records_per_second"):
        lines.append(f"  throughput             {metrics['records_per_second']:.0f} records/s")
    per = metrics.get("per_category") or {}
    if per:
        lines.append("  per category:")
        for cat, v in per.items():
            lines.append(f"    {cat:<32} n={v['n']:<4} accuracy={v['accuracy']:.3f}")
    return "\n".join(lines)

"""Held-out figures: accuracy, EYE_IMAGING precision/recall/F1, hard-negative accuracy,
expected calibration error, per-category accuracy and throughput."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonlines
import numpy as np

from envision_spiders.classifier.features import eye_evidence
from envision_spiders.items import corroborated

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


# labels drawn for the ECE floor: enough for its median to move in the third decimal only
ECE_FLOOR_DRAWS = 200


def ece_floor(p_eye: np.ndarray, draws: int = ECE_FLOOR_DRAWS, seed: int = 0) -> float:
    """The median ECE that a perfectly calibrated head would show on these probabilities: each
    record's label drawn from its own probability, ``draws`` times (seeded). Binned ECE is biased
    upward on small sets (with our heads' probabilities ~0.06 at 60 records, ~0.03 at 250): an
    ECE near its floor says nothing against the calibration; only what lies above it does."""
    p_arr = np.asarray(p_eye, dtype=float)
    if len(p_arr) == 0:
        return 0.0
    rng = np.random.default_rng(seed)
    labels = (rng.random((draws, len(p_arr))) < p_arr).astype(int)
    return float(np.median([expected_calibration_error(y, p_arr) for y in labels]))


GATE = 0.8  # the download gate trusts confidence >= 0.80
BOOTSTRAP_RESAMPLES = 2000


def gate_precision_interval(
    y: Sequence[int],
    p_eye: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    evidence: Sequence[bool] | None = None,
) -> list[float] | None:
    """Percentile bootstrap interval of the precision above the gate (records resampled with
    replacement, seeded); ``None`` when no record passes the gate. With every gated record
    right the interval is [1, 1]: read it together with the gate's ``n``. ``evidence``: which
    records show eye evidence the gate accepts (all when None)."""
    y_arr = np.asarray(y, dtype=int)
    gate = _gate(p_eye, evidence)
    if not gate.any():
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y_arr), size=(resamples, len(y_arr)))
    gated = gate[idx]
    hits = (gated & (y_arr[idx] == 1)).sum(1)
    n = gated.sum(1)
    precision = hits[n > 0] / n[n > 0]
    tail = (1.0 - level) / 2
    return [float(np.quantile(precision, tail)), float(np.quantile(precision, 1.0 - tail))]


def _gate(p_eye: Sequence[float], evidence: Sequence[bool] | None) -> np.ndarray:
    """The download gate: confidence >= 0.80 and, when given, eye evidence it accepts."""
    gate = np.asarray(p_eye, dtype=float) >= GATE
    return gate if evidence is None else gate & np.asarray(evidence, dtype=bool)


def _kind_metrics(y: np.ndarray, p: np.ndarray, hard: np.ndarray, evidence: np.ndarray | None) -> dict[str, Any]:
    """The figures of one evaluation kind (category): the issue's four, per kind."""
    pred = (p >= 0.5).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    gate = _gate(p, evidence)
    out: dict[str, Any] = {
        "n": int(len(y)),
        "n_eye_imaging": int(y.sum()),
        "accuracy": float((pred == y).mean()),
        "f1_eye_imaging": (2 * tp / (2 * tp + fp + fn)) if (y == 1).any() else None,
        "accuracy_hard_negatives": float((pred[hard] == 0).mean()) if hard.any() else None,
        "n_hard_negatives": int(hard.sum()),
        "gate_n": int(gate.sum()),
        "gate_precision": float(y[gate].mean()) if gate.any() else None,
        "ece": expected_calibration_error(y, p),
        "ece_floor": ece_floor(p),
    }
    return out


def compute_metrics(
    y: Sequence[int],
    p_eye: Sequence[float],
    categories: Sequence[Any] | None = None,
    hard_negatives: Sequence[bool] | None = None,
    evidence: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """Overall figures, the gate's precision with a bootstrap interval and, given ``categories``,
    the same figures per category (``hard_negatives`` marks hard negatives one by one; by
    default a record is one when its category says so, :func:`is_hard_negative`).

    ``evidence`` (one bool a record: eye evidence the download gate accepts, features.corroborated)
    makes ``gate_0_80`` the download gate as it runs; ``confidence_0_80`` is then the gate on
    confidence alone, and ``gate_review_n`` the confident records held for review."""
    y_arr = np.asarray(y, dtype=int)
    p_arr = np.asarray(p_eye, dtype=float)
    ev_arr = None if evidence is None else np.asarray(evidence, dtype=bool)
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
        "ece_floor": ece_floor(p_arr),
        "brier": float(np.mean((p_arr - y_arr) ** 2)) if n else 0.0,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }
    # the download gate trusts confidence >= 0.80: how right is it there?
    gate = _gate(p_arr, ev_arr)
    out["gate_0_80"] = {"n": int(gate.sum()), "precision": float(y_arr[gate].mean()) if gate.any() else None}
    out["gate_0_80_ci95"] = gate_precision_interval(y_arr, p_arr, evidence=ev_arr)
    if ev_arr is not None:
        confident = p_arr >= GATE
        out["confidence_0_80"] = {
            "n": int(confident.sum()), "precision": float(y_arr[confident].mean()) if confident.any() else None
        }
        out["gate_review_n"] = int((confident & ~ev_arr).sum())
    if categories is not None:
        cats = np.array([str(c or "uncategorised") for c in categories], dtype=object)
        if hard_negatives is None:
            hard_arr = np.array([is_hard_negative(c) for c in categories], dtype=bool)
        else:
            hard_arr = np.asarray(hard_negatives, dtype=bool)
        hard_arr = hard_arr & (y_arr == 0)
        out["accuracy_hard_negatives"] = float((pred[hard_arr] == 0).mean()) if hard_arr.any() else None
        out["n_hard_negatives"] = int(hard_arr.sum())
        per: dict[str, dict[str, Any]] = {}
        for cat in sorted(set(cats)):
            mask = cats == cat
            ev_cat = None if ev_arr is None else ev_arr[mask]
            per[cat] = _kind_metrics(y_arr[mask], p_arr[mask], hard_arr[mask], ev_cat)
            per[cat]["gate_ci95"] = gate_precision_interval(y_arr[mask], p_arr[mask], evidence=ev_cat)
        out["per_category"] = per
    return out


def record_is_hard_negative(record: Mapping[str, Any]) -> bool:
    """A record's own ``hard_negative`` flag when it has one, else its category's prefix."""
    flag = record.get("hard_negative")
    if isinstance(flag, bool):
        return flag and parse_label(record.get("label")) == 0
    return is_hard_negative(record.get("category"))


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
    hard = [record_is_hard_negative(r) for r in records]
    evidence = [corroborated(eye_evidence(r)) for r in records]
    metrics = compute_metrics(y, p_eye, categories if any(categories) else None, hard, evidence)
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
        f"  ECE (10 bins)          {pct(metrics['ece'])} (a perfectly calibrated head: {pct(metrics.get('ece_floor'))} "
        f"at this size)",
        f"  Brier score            {pct(metrics.get('brier'))}",
    ]
    gate = metrics.get("gate_0_80") or {}
    ci = metrics.get("gate_0_80_ci95")
    ci_text = f" (95% bootstrap {ci[0]:.3f}-{ci[1]:.3f})" if ci else ""
    confident = metrics.get("confidence_0_80")
    if confident is None:
        lines.append(f"  confidence>=0.80 gate  {gate.get('n', 0)} records, precision {pct(gate.get('precision'))}{ci_text}")
    else:
        lines.append(f"  download gate          {gate.get('n', 0)} records, precision {pct(gate.get('precision'))}{ci_text}")
        lines.append(f"    (confidence>=0.80    {confident['n']} records, precision {pct(confident['precision'])}; "
                     f"{metrics.get('gate_review_n', 0)} held for review: no eye evidence the gate accepts)")
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
        lines.append(f"    {'category':<32} {'n':>4} {'acc':>6} {'F1 eye':>7} {'hard-neg':>8} {'gate n':>6} {'gate prec':>9} {'gate 95% CI':>13} {'ECE':>6} {'floor':>6}")
        for cat, v in per.items():
            ci = v.get("gate_ci95")
            ci_text = f"{ci[0]:.2f}-{ci[1]:.2f}" if ci else "n/a"

            def num(x: Any, width: int) -> str:
                return f"{x:>{width}.3f}" if isinstance(x, float) else f"{'-':>{width}}"

            lines.append(
                f"    {cat:<32} {v['n']:>4} {num(v['accuracy'], 6)} {num(v.get('f1_eye_imaging'), 7)} "
                f"{num(v.get('accuracy_hard_negatives'), 8)} {v.get('gate_n', 0):>6} {num(v.get('gate_precision'), 9)} "
                f"{ci_text:>13} {num(v.get('ece'), 6)} {num(v.get('ece_floor'), 6)}"
            )
    return "\n".join(lines)

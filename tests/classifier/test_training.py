from __future__ import annotations

import json

import numpy as np
import pytest

from envision_spiders.classifier import ClassifierConfig
from envision_spiders.classifier.evaluation import (
    compute_metrics,
    ece_floor,
    expected_calibration_error,
    parse_label,
    read_jsonl,
)
from envision_spiders.classifier.head import Head
from envision_spiders.classifier.train import (
    envision_examples,
    fit_logistic,
    fit_platt,
    stratified_folds,
    train,
    train_head,
)
from tests.classifier import FIXTURES


def test_parse_label():
    assert parse_label("EYE_IMAGING") == 1 and parse_label("negative") == 0 and parse_label(True) == 1
    with pytest.raises(ValueError):
        parse_label("maybe")


def test_read_jsonl_skips_blank_lines_and_names_the_bad_line(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"title": "a"}\n\n  \n{"title": "\u00e9"}\n', encoding="utf-8")
    assert read_jsonl(good) == [{"title": "a"}, {"title": "\u00e9"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "a"}\n\n{"title": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:3: not JSON: \S"):
        read_jsonl(bad)
    for line in ("[1, 2]", "null", "7"):
        bad.write_text('{"title": "a"}\n' + line + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=r"bad.jsonl:2: expected a JSON object"):
            read_jsonl(bad)


def test_metrics_on_a_fixed_example():
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.4, 0.1, 0.2, 0.6, 0.3, 0.05]
    cats = ["oct", "oct", "fundus", "hard_neg_vf", "hard_neg_vf", "non_eye_imaging", "general", "general"]
    m = compute_metrics(y, p, cats)
    assert m["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 4}
    assert m["accuracy"] == 6 / 8
    assert m["precision_eye_imaging"] == pytest.approx(2 / 3)
    assert m["recall_eye_imaging"] == pytest.approx(2 / 3)
    assert m["accuracy_hard_negatives"] == pytest.approx(2 / 3)
    assert m["gate_0_80"] == {"n": 2, "precision": 1.0}


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    y = np.array([1] * 8 + [0] * 2)
    assert expected_calibration_error(y, np.full(10, 0.8)) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error(np.array([1, 0] * 5), np.full(10, 0.99)) == pytest.approx(0.49)


def test_the_ece_floor_is_what_a_calibrated_head_shows_and_shrinks_with_the_set():
    """Labels drawn from the probabilities themselves: a perfectly calibrated head's ECE is about
    its floor, far above 0 on a small set, and the floor falls as the set grows."""
    rng = np.random.default_rng(3)
    p_small, p_large = rng.beta(0.4, 0.4, 60), rng.beta(0.4, 0.4, 3000)
    floors = ece_floor(p_small), ece_floor(p_large)
    assert floors[0] > 0.04 and floors[1] < floors[0] / 3
    calibrated = [expected_calibration_error((rng.random(60) < p_small).astype(int), p_small) for _ in range(300)]
    assert abs(float(np.median(calibrated)) - floors[0]) < 0.01
    assert ece_floor(p_small) == floors[0]  # seeded
    metrics = compute_metrics([1, 0, 1], [0.9, 0.2, 0.7], ["a", "a", "b"])
    assert 0 < metrics["ece_floor"] and {"ece", "ece_floor"} <= set(metrics["per_category"]["a"])


def test_logistic_and_platt_fit_separable_data():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(1, 1, (100, 3)), rng.normal(-1, 1, (100, 3))])
    y = np.array([1] * 100 + [0] * 100)
    w, b = fit_logistic(x, y, l2=1.0)
    assert ((x @ w + b > 0) == (y == 1)).mean() > 0.85
    a, c = fit_platt(x @ w + b, y)
    assert a > 0


def test_folds_are_stratified():
    y = np.array([1] * 10 + [0] * 10)
    folds = stratified_folds(y, ["a"] * 20, k=5, seed=0)
    for f in range(5):
        assert y[folds == f].sum() == 2


def _rows(rng: np.random.Generator, n: int, hard_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Well separated rows, ``hard_share`` of them looking like the other label."""
    y = np.array([1, 0] * (n // 2))
    looks = np.where(rng.random(n) < hard_share, 1 - y, y)
    return rng.normal(0, 1, (n, 6)) + np.where(looks == 1, 1.5, -1.5)[:, None], y


def test_calibration_on_held_out_writers_tempers_a_head_trained_on_easy_records():
    """Our pool (templates) is easy; other people's sets hold records that look like the other
    label. Out-of-fold logits of the pool teach Platt scaling to be sure of itself, and a new
    writer's records come out overconfident; calibrating on each writer's set held out of a fit
    in turn brings them back."""
    rng = np.random.default_rng(3)
    parts = [_rows(rng, 1000, 0.0)] + [_rows(rng, 60, 0.2) for _ in range(4)]
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    groups = [None] * 1000 + [f"writer{g}" for g in range(4) for _ in range(60)]
    strata = ["pool" if g is None else g for g in groups]
    new_x, new_y = _rows(rng, 1000, 0.2)
    figures = {}
    for name, calibration_groups in (("pool", None), ("writers", groups)):
        head, info = train_head(x[:, :3], x[:, 3:], y, strata, l2_grid=(1.0,), calibration_groups=calibration_groups)
        p_new = head.predict_proba(new_x[:, :3], new_x[:, 3:])
        figures[name] = (info["calibration"], expected_calibration_error(new_y, p_new))
    assert figures["pool"][0] == {"method": "out-of-fold", "n": 1240}
    assert figures["writers"][0] == {"method": "held-out groups", "groups": ["writer0", "writer1", "writer2", "writer3"], "n": 240}
    assert figures["pool"][1] > 0.1
    assert figures["writers"][1] < 0.5 * figures["pool"][1]


def test_tiny_training_run_writes_a_loadable_head(tmp_path):
    records = read_jsonl(FIXTURES / "labelled.jsonl")
    records = [dict(r, split="train") for r in records] + [dict(records[0], split="test"), dict(records[6], split="test")]
    clf, report = train(records, ClassifierConfig(max_length=32, threads=2))
    assert report["n_train"] == 12 and report["n_test"] == 2
    assert report["test_metrics"]["accuracy"] == 1.0
    path = tmp_path / "head.json"
    clf.head.save(path)
    head = Head.load(path)
    assert head.encoder["max_length"] == 32
    assert json.loads(path.read_text())["training"]["n_train"] == 12


def test_envision_examples_absent_package_is_empty(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert envision_examples() == []


def test_envision_examples_never_leak_held_out_titles():
    from envision_spiders.classifier.train import drop_overlapping

    extra = [
        {"title": "DRIVE: Digital Retinal Images for Vessel Extraction", "label": "EYE_IMAGING"},
        {"title": "Messidor-2 fundus photographs", "label": "EYE_IMAGING"},
    ]
    held_out = [{"title": "DRIVE - Digital Retinal Images for Vessel Extraction (2004)"}]
    assert [r["title"] for r in drop_overlapping(extra, held_out)] == ["Messidor-2 fundus photographs"]


def test_train_command_refuses_envision_examples_without_the_package(monkeypatch, tmp_path):
    import importlib.util

    from scrapy.settings import Settings

    from envision_spiders.classifier.cli import train_command

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    data = tmp_path / "t.jsonl"
    data.write_text(json.dumps({"title": "x", "label": "NEGATIVE"}) + "\n")
    with pytest.raises(ValueError, match="envision-classifier package is not importable"):
        train_command(Settings(), str(data), str(tmp_path / "h.json"), with_envision_examples=True)


def test_a_head_with_a_hidden_layer_is_seeded_and_reads_back_as_it_scores():
    rng = np.random.default_rng(0)
    embeddings, features = rng.normal(size=(4000, 6)), rng.normal(size=(4000, 4))
    # an interaction a regression cannot fit: one cue means an eye only without the other
    y = ((features[:, 0] > 0) ^ (features[:, 1] > 0)).astype(float)
    first, info = train_head(embeddings, features, y, ["k"] * 4000, hidden=8)
    second, _ = train_head(embeddings, features, y, ["k"] * 4000, hidden=8)
    assert np.array_equal(first.predict_proba(embeddings, features), second.predict_proba(embeddings, features))
    assert info["hidden"] == 8 and info["l2"] is None
    linear, _ = train_head(embeddings, features, y, ["k"] * 4000, l2_grid=(1.0,))
    accuracy = lambda head: float(((head.predict_proba(embeddings, features) >= 0.5) == (y == 1)).mean())  # noqa: E731
    assert accuracy(linear) < 0.6 < 0.8 < accuracy(first)
    stored = first.to_json()
    assert stored["format"] == "envision-classifier-head/2" and stored["hidden"]["shape"] == [4, 8]
    again = Head.from_json(json.loads(json.dumps(stored)))
    assert np.allclose(again.predict_proba(embeddings, features), first.predict_proba(embeddings, features), atol=1e-6)
    assert Head.from_json(linear.to_json()).hidden_weights is None and linear.to_json()["format"] == "envision-classifier-head/1"
    with pytest.raises(ValueError, match="without its hidden layer"):
        Head.from_json({key: value for key, value in stored.items() if key != "hidden"})

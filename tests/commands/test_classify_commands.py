"""The three classifier commands, run as a user would: ``python -m scrapy ...`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.classifier import FIXTURES
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env


def scrapy(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        scrapy_command(*args), cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=timeout
    )


def test_commands_are_registered_with_their_documented_names():
    proc = scrapy("-h")
    assert proc.returncode == 0
    for name in ("classify", "train-classifier", "evaluate-classifier"):
        assert f"\n  {name} " in proc.stdout


def test_evaluate_classifier_json_last_line(tmp_path):
    proc = scrapy("evaluate-classifier", str(FIXTURES / "labelled.jsonl"), "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any("EYE_IMAGING F1" in line for line in lines)
    report = json.loads(lines[-1])
    for key in ("n", "accuracy", "precision_eye_imaging", "recall_eye_imaging", "f1_eye_imaging", "ece", "records_per_second"):
        assert key in report
    assert report["n"] == 12
    assert report["accuracy"] >= 11 / 12


def test_evaluate_classifier_usage_and_data_errors(tmp_path):
    assert scrapy("evaluate-classifier").returncode == 2
    assert scrapy("evaluate-classifier", str(tmp_path / "missing.jsonl")).returncode == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x", "label": "PERHAPS"}\n')
    proc = scrapy("evaluate-classifier", str(bad))
    assert proc.returncode == 1 and "unknown label 'PERHAPS'" in proc.stderr
    proc = scrapy("evaluate-classifier", str(FIXTURES / "labelled.jsonl"), "-s", "CLASSIFIER_MODEL=/no/such/model")
    assert proc.returncode == 1
    assert "CLASSIFIER_MODEL='/no/such/model'" in proc.stderr and "Traceback" not in proc.stderr


def write_record(data: Path, source: str, source_id: str, **fields) -> Path:
    path = data / "metadata" / source / f"{source_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"source": source, "source_id": source_id, **fields}))
    return path


def test_classify_rescores_the_store_and_writes_results(tmp_path):
    data = tmp_path / "data"
    eye = write_record(data, "zenodo", "1", title="OCT B-scans of diabetic macular edema", description="Retinal OCT images.")
    neg = write_record(data, "zenodo", "2", title="Visual field data in glaucoma", description="Perimetry values, CSV.",
                       label="EYE_IMAGING", confidence=0.99)
    dup = write_record(data, "figshare", "3", title="OCT B-scans", duplicate_of="zenodo:1")
    proc = scrapy("classify", "-s", f"ENVISION_DATA_DIR={data}")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["records"] == 2 and summary["skipped_duplicates"] == 1
    eye_rec, neg_rec = json.loads(eye.read_text()), json.loads(neg.read_text())
    assert eye_rec["label"] == "EYE_IMAGING" and eye_rec["title"] == "OCT B-scans of diabetic macular edema"
    assert neg_rec["label"] == "NEGATIVE" and neg_rec["confidence"] == neg_rec["prob_negative"]
    assert "label" not in json.loads(dup.read_text())
    results = data / "results"
    assert [r["source_id"] for r in json.loads((results / "zenodo_eye_imaging.json").read_text())] == ["1"]
    assert len(json.loads((results / "zenodo_all_results.json").read_text())) == 2


def test_train_classifier_writes_a_head_that_evaluate_uses(tmp_path):
    train_file = tmp_path / "train.jsonl"
    lines = (FIXTURES / "labelled.jsonl").read_text().splitlines()
    train_file.write_text("\n".join(lines) + "\n")
    head = tmp_path / "head.json"
    proc = scrapy("train-classifier", "--data", str(train_file), "--output", str(head), "--json",
                  "-s", "CLASSIFIER_MAX_LENGTH=32")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["n_train"] == 12 and report["head"] == str(head)
    assert json.loads(head.read_text())["encoder"]["max_length"] == 32
    proc = scrapy("evaluate-classifier", str(FIXTURES / "labelled.jsonl"), "--json",
                  "-s", f"CLASSIFIER_HEAD={head}", "-s", "CLASSIFIER_MAX_LENGTH=32")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["accuracy"] == 1.0

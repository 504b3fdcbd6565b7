"""The real packaged encoder and head, offline."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from envision_spiders.classifier import (
    ClassifierConfig,
    ClassifierConfigError,
    EyeImagingClassifier,
    SentenceEncoder,
    packaged_model_dir,
)
from envision_spiders.classifier.evaluation import evaluate, read_jsonl
from envision_spiders.classifier.model import CLASSIFIED_FIELDS, resolve_head
from tests.classifier import FIXTURES


@pytest.fixture(scope="module")
def classifier():
    clf = EyeImagingClassifier(ClassifierConfig(threads=2))
    clf.load()
    return clf


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_model_loads_from_the_package_with_the_network_unreachable(no_network):
    encoder = SentenceEncoder(None, max_length=32, quantize=False)
    assert encoder.model_ref == str(packaged_model_dir())
    vectors = encoder.encode(["fundus photographs of diabetic retinopathy", "OCT of the retina", "stock prices"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the two eye-imaging sentences are closer to each other than to the unrelated one
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_quantised_encoder_stays_close_to_full_precision():
    texts = ["Retinal OCT B-scans with fluid masks", "Visual field thresholds in CSV files"]
    full = SentenceEncoder(None, max_length=32, quantize=False).encode(texts)
    int8 = SentenceEncoder(None, max_length=32, quantize=True).encode(texts)
    assert (full * int8).sum(1).min() > 0.9


def test_a_records_probability_does_not_depend_on_the_records_scored_with_it(classifier):
    # int8 dynamic quantisation takes activation ranges per batch: with it, a blind set's records
    # moved by up to 0.15 between batchings and three of 462 crossed the download gate
    records = read_jsonl(FIXTURES / "labelled.jsonl")
    target = {"title": "OD_OS pairs", "file_names": ["images.zip"], "archive_contents": [
        {"name": "images.zip", "extensions": {".jpg": 120}, "sample_names": ["p001/OD_0001.jpg", "p001/OS_0001.jpg"]}]}
    alone = classifier.predict_proba([target])[0]
    for batch_mates in (records[:3], records[3:], records[::-1]):
        among = classifier.predict_proba([*batch_mates, target])[-1]
        assert among == pytest.approx(alone, abs=1e-6)


def test_bad_model_path_is_a_clear_error_naming_the_setting(tmp_path):
    with pytest.raises(ClassifierConfigError, match=r"CLASSIFIER_MODEL='/no/such/model'.*no such model directory"):
        SentenceEncoder("/no/such/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClassifierConfigError, match="CLASSIFIER_MODEL=.*no config.json"):
        SentenceEncoder(tmp_path / "empty")
    with pytest.raises(ClassifierConfigError, match="CLASSIFIER_HEAD="):
        resolve_head(tmp_path / "missing-head.json")


def test_unreachable_hub_id_is_a_clear_error(no_network):
    encoder = SentenceEncoder("someone/not-a-cached-model")
    with pytest.raises(ClassifierConfigError, match="CLASSIFIER_MODEL='someone/not-a-cached-model' could not be loaded"):
        encoder.load()


def test_predictions_are_calibrated_pairs(classifier):
    records = [
        {"title": "Colour fundus photographs for diabetic retinopathy grading", "description": "Fundus images with DR grades."},
        {"title": "Humphrey visual field tests", "description": "Perimetry threshold values in CSV; no images."},
        {},
    ]
    out = classifier.predict(records)
    assert [p["label"] for p in out[:2]] == ["EYE_IMAGING", "NEGATIVE"]
    for p in out:
        assert set(p) == set(CLASSIFIED_FIELDS) == {"label", "confidence", "prob_eye_imaging", "prob_negative", "eye_evidence"}
        assert abs(p["prob_eye_imaging"] + p["prob_negative"] - 1) < 1e-6
        assert p["confidence"] == max(p["prob_eye_imaging"], p["prob_negative"])
    assert out[0]["confidence"] > 0.8 and out[1]["confidence"] > 0.8
    # predict reads each record's features once for the head and its eye evidence: same scores as predict_proba
    assert [p["prob_eye_imaging"] for p in out] == [round(float(x), 6) for x in classifier.predict_proba(records)]
    assert out[0]["eye_evidence"] == ["words"] and out[2]["eye_evidence"] == []


def test_archive_contents_alone_decide_a_record_without_description(classifier):
    bare = {"title": "Supplementary data", "file_names": ["data.zip"]}
    inspected = {
        "title": "Supplementary data",
        "file_names": ["OCT_scans.zip"],
        "archive_contents": [
            {"name": "OCT_scans.zip", "extensions": {".png": 812}, "sample_names": ["OCT_scans/CNV-1016042-1.png"]}
        ],
    }
    p_bare, p_inspected = classifier.predict_proba([bare, inspected])
    assert p_bare < 0.5 < p_inspected


def test_a_wordless_archive_of_brain_mr_dicoms_is_not_gated_and_eye_dicoms_are(classifier):
    def raw_data(modality: str, body: str | None, size: int) -> dict:
        return {"title": "Raw data", "file_names": ["raw.zip"], "archive_contents": [{
            "name": "raw.zip", "extensions": {".dcm": 2400}, "sample_names": ["raw/S001/IM0001.dcm"],
            "images": [{"name": "raw/S001/IM0001.dcm", "format": "dicom", "width": size, "height": size, "modality": modality, "body_part": body}],
        }]}

    p_brain, p_fundus = classifier.predict_proba([raw_data("MR", "BRAIN", 256), raw_data("OP", "EYE", 2000)])
    assert p_brain < 0.5 < 0.8 <= p_fundus


def test_a_perimeters_dicom_export_is_not_eye_imaging_and_ophthalmic_photographs_under_the_same_names_are(classifier):
    def export(modality: str, size: int | None) -> dict:
        names = ["exports/P001/VF_OD_24-2_1.dcm", "exports/P001/VF_OS_24-2_1.dcm"]
        return {"title": "Export (2019)", "file_names": ["export.zip"], "archive_contents": [{
            "name": "export.zip", "extensions": {".dcm": 1380}, "sample_names": names,
            "images": [{"name": names[0], "format": "dicom", "width": size, "height": size, "modality": modality, "body_part": "EYE"}],
        }]}

    p_fields, p_photographs = classifier.predict_proba([export("OPV", None), export("OP", 2000)])
    assert p_fields < 0.5 < 0.8 <= p_photographs


def test_a_wordless_archive_is_decided_by_image_geometry_and_class_folders_else_left_mid_way(classifier):
    def raw_data(width: int, height: int, channels: int, sample: str = "images/3fa29c01be7d.png") -> dict:
        return {"title": "Raw data", "file_names": ["images.zip"], "archive_contents": [{
            "name": "images.zip", "extensions": {".png": 1200}, "sample_names": [sample],
            "images": [{"name": sample, "format": "png", "width": width, "height": height, "channels": channels, "dims": "2D"}],
        }]}

    p_bscans, p_radiographs, p_tiles, p_photos, p_cnv, p_pneumonia = classifier.predict_proba([
        raw_data(768, 496, 1), raw_data(2500, 2500, 1), raw_data(224, 224, 3), raw_data(2048, 1536, 3),
        raw_data(2048, 1536, 3, "train/CNV/3fa29c01be7d.png"), raw_data(2048, 1536, 3, "train/PNEUMONIA/3fa29c01be7d.png"),
    ])
    assert p_bscans > 0.8 and p_cnv > 0.8
    assert max(p_radiographs, p_tiles, p_pneumonia) < 0.1
    # ordinary colour photo sizes with generic names: "not sure", neither gated nor ruled out
    assert 0.2 < p_photos < 0.6


def test_fixed_labelled_file_figures(classifier):
    records = read_jsonl(FIXTURES / "labelled.jsonl")
    metrics, p_eye = evaluate(classifier, records)
    assert metrics["n"] == 12 and metrics["n_eye_imaging"] == 5 and metrics["n_hard_negatives"] == 7
    assert metrics["accuracy"] >= 11 / 12
    assert metrics["accuracy_hard_negatives"] >= 6 / 7
    assert metrics["records_per_second"] > 0

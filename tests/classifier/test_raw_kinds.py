"""Reading raw repository records: resource types, file names, archive inspection, long
descriptions (issue 18), the raw-shaped labelled records, and the per-kind evaluation output."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from envision_spiders.classifier.evaluation import (
    compute_metrics,
    format_report,
    gate_precision_interval,
    read_jsonl,
    record_is_hard_negative,
)
from envision_spiders.classifier.features import FEATURE_NAMES, evidence_features
from envision_spiders.classifier.text import compose_text, salient_description
from envision_spiders.classifier.training.build import DEVELOPMENT_SETS, HERE, RAW_HELDOUT
from envision_spiders.classifier.training.raw import KINDS, arc, img, raw_records
from envision_spiders.items import RECORD_FIELDS
from tests.classifier import feature
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env

# --- features ---------------------------------------------------------------------------

def test_publication_resource_types_of_every_repository_are_read():
    zenodo = {"title": "Retinal imaging in diabetes", "kind": "publication", "extra": {"resource_type": "Journal article"}}
    datacite = {"title": "Retinal imaging in diabetes", "kind": "text", "extra": {"resource_type": "Patent"}}
    figshare = {"title": "Retinal imaging in diabetes", "kind": "journal contribution", "extra": {"defined_type": "journal contribution"}}
    dataset = {"title": "Retinal imaging in diabetes", "kind": "dataset", "extra": {"resource_type": "Dataset"}}
    assert [feature(r, "type_publication") for r in (zenodo, datacite, figshare, dataset)] == [1.0, 1.0, 1.0, 0.0]
    assert feature({"title": "Figure 3", "kind": "figure"}, "type_figure") == 1.0


def test_publication_shaped_titles_and_document_only_files():
    review = {"title": "OCT angiography in uveitis: a narrative review", "file_names": ["review.pdf"]}
    assert feature(review, "title_publication") == 1.0
    assert feature(review, "docs_only") == 1.0
    assert feature(review, "publication_without_images") == 1.0
    supplement = {"title": "Supplementary material for: OCT biomarkers", "file_names": ["S1.docx"]}
    assert feature(supplement, "title_publication") == 1.0
    # a "Data from:"/"Supplementary" title counts as the study's images only when not a publication
    assert feature(supplement, "data_from_eye") == 0.0
    data = {"title": "Fundus photographs of glaucoma", "file_names": ["images.zip", "README.pdf"],
            "archive_contents": [arc("images.zip", {".jpg": 500}, ["img/OD_0001.jpg"])]}
    assert feature(data, "docs_only") == 0.0 and feature(data, "title_publication") == 0.0


def test_terse_titles_with_eye_images_inside_their_archives():
    for title in ("owner/retina-slug", "S-BIAD0815", "GAMMA", "DS-7 v2"):
        assert feature({"title": title}, "terse_title") == 1.0, title
    assert feature({"title": "Fundus photographs for diabetic retinopathy screening"}, "terse_title") == 0.0
    record = {"title": "S-BIAD0815", "file_names": ["S-BIAD0815.zip"],
              "archive_contents": [arc("S-BIAD0815.zip", {".png": 800}, ["OCT/OD_0001.png"])]}
    assert feature(record, "terse_with_images") > 0.5
    assert feature(record, "images_with_eye_names") > 0.5
    assert feature(record, "images_without_text") > 0.5
    assert feature(record, "images_with_non_eye_names") == 0.0


def test_per_eye_file_names_count_as_eye_names_and_stimuli_do_not():
    eye = {"file_names": ["data/OD_0001.jpg", "data/OS_0001.jpg", "data/10_left.jpeg"]}
    assert feature(eye, "names_eye_words") == pytest.approx(3 / 4)
    stimuli = {"title": "x", "file_names": ["stimuli.zip"], "archive_contents": [arc("stimuli.zip", {".png": 300}, ["stimuli/bar_000.png"])]}
    assert feature(stimuli, "images_with_non_eye_names") > 0.0 and feature(stimuli, "images_with_eye_names") == 0.0


def test_eye_device_exports_pathology_slides_and_microscopy_formats():
    assert feature({"file_names": ["Export.zip"], "archive_contents": [arc("Export.zip", {".e2e": 96})]}, "files_eye_device") == 1.0
    assert feature({"file_names": ["pt1.vol", "pt2.fds"]}, "files_eye_device") == pytest.approx(0.5)
    assert feature({"file_names": ["slides.zip"], "archive_contents": [arc("slides.zip", {".svs": 12})]}, "files_pathology") == 1.0
    assert feature({"file_names": ["retina_flatmount.czi"]}, "files_image") > 0.0


def test_dicom_modality_intravascular_oct_is_not_eye():
    record = {"archive_contents": [arc("ivoct.zip", {".dcm": 10}, ["p/1.dcm"], [img("dicom", 704, 704, "IVOCT", "HEART")])]}
    assert feature(record, "dicom_eye") == 0.0 and feature(record, "dicom_other") > 0.0
    eye = {"archive_contents": [arc("d.zip", {".dcm": 10}, ["p/1.dcm"], [img("dicom", 2000, 2000, "OP", None)])]}
    assert feature(eye, "dicom_eye") > 0.0


def _dicom_record(modality: str, body: str | None, size: int = 256) -> dict:
    return {"title": "Raw data", "file_names": ["raw.zip"],
            "archive_contents": [arc("raw.zip", {".dcm": 2400}, ["raw/S001/IM0001.dcm"], [img("dicom", size, size, modality, body)])]}


def test_radiology_dicom_scales_with_the_image_count_and_outranks_an_eye_body_part():
    brain = _dicom_record("MR", "BRAIN")
    assert feature(brain, "images_non_eye_dicom") > 0.5 and feature(brain, "images_eye_dicom") == 0.0
    # a CT of the orbits is radiology even when the header names the eye
    assert feature(_dicom_record("CT", "EYE"), "images_non_eye_dicom") > 0.5
    fundus = _dicom_record("OP", None, 2000)
    assert feature(fundus, "images_eye_dicom") > 0.5 and feature(fundus, "images_non_eye_dicom") == 0.0


def test_per_eye_names_count_unless_another_organ_has_the_sides():
    loose = {"title": "Raw images", "file_names": ["P01_OD_macula.tif", "P01_OS_macula.tif", "grades.xlsx"]}
    assert feature(loose, "images_laterality_names") == 1.0
    eyepacs = {"title": "x", "file_names": ["train.zip"], "archive_contents": [arc("train.zip", {".jpeg": 900}, ["train/10_left.jpeg"])]}
    assert feature(eyepacs, "images_laterality_names") == 1.0
    ear = {"title": "OCT of the tympanic membrane", "description": "Handheld OCT of the eardrum.", "file_names": ["tm.zip"],
           "archive_contents": [arc("tm.zip", {".png": 600}, ["tm/child012_left_b05.png"])]}
    assert feature(ear, "images_laterality_names") == 0.0
    mammo = {"title": "Images", "file_names": ["m.zip"],
             "archive_contents": [arc("m.zip", {".dcm": 600}, ["m/P_00001_LEFT_CC.dcm"], [img("dicom", 3328, 2560, "MG", "BREAST")])]}
    assert feature(mammo, "images_laterality_names") == 0.0
    assert feature({"title": "x", "file_names": ["photos/IMG_0001.jpg", "stimuli/cos_02.png"]}, "images_laterality_names") == 0.0


def test_eye_stems_inside_slug_titles_and_file_lists_without_images():
    assert feature({"title": "linchundan/fundusimage1000"}, "terse_title_eye_stem") == 1.0
    assert feature({"title": "mchen/octdata12"}, "terse_title_eye_stem") == 1.0
    assert feature({"title": "doctor-notes"}, "terse_title_eye_stem") == 0.0
    assert feature({"title": "Fundus photographs of glaucoma patients in a screening programme"}, "terse_title_eye_stem") == 0.0
    tables = {"title": "Data from: Visual acuity after cataract surgery", "file_names": ["outcomes.xlsx", "README.md"]}
    assert feature(tables, "listed_without_images") == 1.0
    # an archive nobody looked into may hold the images
    assert feature({"title": "Data", "file_names": ["data.zip"]}, "listed_without_images") == 0.0
    assert feature(_dicom_record("OP", "EYE"), "listed_without_images") == 0.0


def test_oct_of_a_non_eye_site_even_when_an_eye_is_named():
    skin = {"title": "Optical coherence tomography of human skin lesions", "description": "OCT B-scans of basal cell carcinoma."}
    krill = {"title": "OCT of the compound eye of krill", "description": "Optical coherence tomography of krill."}
    retina = {"title": "OCT of the macula", "description": "Spectral-domain OCT of the retina."}
    assert feature(skin, "oct_non_eye_site") == 1.0 and feature(krill, "oct_non_eye_site") == 1.0
    assert feature(retina, "oct_non_eye_site") == 0.0


def test_eye_science_without_images():
    omics = {"title": "Single-cell RNA sequencing of the human retina", "description": "Transcriptomes and gene expression of retinal cells.",
             "file_names": ["counts.h5ad"]}
    assert feature(omics, "eye_science_without_images") == 1.0
    imaging = {"title": "Retinal OCT with gene expression", "description": "OCT images and single-cell sequencing of the retina.",
               "file_names": ["oct.zip"], "archive_contents": [arc("oct.zip", {".png": 500}, ["oct/OD_1.png"])]}
    assert feature(imaging, "eye_science_without_images") == 0.0


def test_new_features_stay_bounded_on_huge_archives():
    record = {"title": "a/b", "archive_contents": [arc("x.zip", {".jpeg": 90000}, ["x/OD_1.jpeg"])]}
    values = evidence_features(record)
    assert np.isfinite(values).all() and values.min() >= 0.0
    new = FEATURE_NAMES.index("type_publication")
    assert values[new:].max() <= 1.0


# --- long descriptions ------------------------------------------------------------------

def test_salient_description_drops_boilerplate_and_brings_imaging_sentences_first():
    abstract = (
        "Glaucoma is a leading cause of irreversible blindness worldwide. Risk factors explain little of the variation. "
        "Access to specialists is limited in rural areas and many cases are found late. "
        "Family history and ancestry increase the risk, and the economic cost of late detection is large. "
        "This work was supported by national research funding. If you use these data, please cite the article. "
        "We will capture optic disc photographs and OCT scans of 5,000 patients and share the image dataset."
    )
    text = salient_description(abstract)
    assert text.startswith("We will capture optic disc photographs and OCT scans")
    assert "please cite" not in text and "supported by" not in text
    assert "Glaucoma is a leading cause" in text  # nothing of substance is lost, only reordered
    short = "Licensed CC BY. Fundus images."
    assert salient_description(short) == short
    # once the boilerplate is gone, a description that fits the window keeps its order
    fits = "Glaucoma is common. " * 5 + "Please cite the article. " * 12 + "We share OCT scans."
    assert salient_description(fits) == "Glaucoma is common. " * 5 + "We share OCT scans."


def test_compose_text_puts_the_late_imaging_sentence_inside_the_encoder_window():
    record = {"title": "Early detection of glaucoma", "kind": "grant", "description": (
        "Glaucoma is asymptomatic until late and half of those affected are undiagnosed. " * 4
        + "Aim 1 will capture optic disc photographs in primary care.")}
    assert compose_text(record)[:160].count("optic disc photographs") == 1


# --- the raw-shaped labelled records ----------------------------------------------------

def test_raw_records_have_the_page_objects_shape_and_every_kind_has_both_labels_held_out():
    records = raw_records()
    allowed = set(RECORD_FIELDS) | {"category", "label", "split", "hard_negative", "origin"}
    for r in records:
        assert set(r) <= allowed, set(r) - allowed
        assert r["category"] in KINDS
    held_out = read_jsonl(HERE / RAW_HELDOUT)
    assert [{k: v for k, v in r.items() if k != "origin"} for r in held_out] == [
        {k: v for k, v in json.loads(json.dumps(r)).items() if k != "origin"} for r in records if r["split"] == "test"
    ]  # the file is what raw.py says (rebuild: python -m envision_spiders.classifier.training.build)
    for kind in KINDS:
        labels = {r["label"] for r in held_out if r["category"] == kind}
        assert labels == {"EYE_IMAGING", "NEGATIVE"}, kind
    assert all(r["hard_negative"] for r in held_out if r["label"] == "NEGATIVE" and r["category"] != "raw_plain")


def test_raw_held_out_records_are_not_in_the_training_file():
    training = read_jsonl(HERE / "records.jsonl")
    # generic titles ("Raw data", "S1 Dataset") recur by design: the files tell the records apart
    def key(r: dict) -> tuple:
        samples = tuple(s for a in r.get("archive_contents") or () for s in a.get("sample_names") or ())
        return r["title"], r.get("description", ""), tuple(r.get("file_names") or ()), samples

    train_keys = {key(r) for r in training}
    held_out = read_jsonl(HERE / RAW_HELDOUT)
    assert not [r["title"] for r in held_out if key(r) in train_keys]
    assert sum(1 for r in training if str(r.get("origin", "")).startswith("raw")) > 200
    assert all(r["split"] == "train" for r in training if str(r.get("origin", "")).startswith("raw"))


# --- evaluation per kind ----------------------------------------------------------------

def test_metrics_per_category_with_record_level_hard_negatives_and_gate():
    y = [1, 1, 0, 0, 1, 0]
    p = [0.95, 0.3, 0.9, 0.1, 0.85, 0.2]
    cats = ["raw_terse_title", "raw_terse_title", "raw_terse_title", "raw_terse_title", "raw_plain", "raw_plain"]
    hard = [False, False, True, True, False, False]
    m = compute_metrics(y, p, cats, hard)
    terse = m["per_category"]["raw_terse_title"]
    assert terse["n"] == 4 and terse["accuracy"] == 0.5
    assert terse["f1_eye_imaging"] == pytest.approx(0.5)  # tp=1 fp=1 fn=1
    assert terse["accuracy_hard_negatives"] == 0.5 and terse["n_hard_negatives"] == 2
    assert terse["gate_n"] == 2 and terse["gate_precision"] == 0.5
    assert m["per_category"]["raw_plain"]["accuracy_hard_negatives"] is None
    assert m["accuracy_hard_negatives"] == 0.5 and m["n_hard_negatives"] == 2
    low, high = m["gate_0_80_ci95"]
    assert 0.0 <= low <= m["gate_0_80"]["precision"] <= high <= 1.0
    report = format_report(m)
    assert "95% bootstrap" in report and "gate prec" in report and "raw_terse_title" in report


def test_the_gate_figure_is_the_download_gate_with_its_eye_evidence_rule():
    y = [1, 1, 0, 0, 1]
    p = [0.95, 0.9, 0.99, 0.85, 0.3]
    evidence = [True, False, False, True, True]  # the 0.99 negative shows no eye evidence: held for review
    m = compute_metrics(y, p, ["raw_file_evidence"] * 5, [False, False, True, True, False], evidence)
    assert m["gate_0_80"] == {"n": 2, "precision": 0.5}
    assert m["confidence_0_80"] == {"n": 4, "precision": 0.5} and m["gate_review_n"] == 2
    assert m["per_category"]["raw_file_evidence"]["gate_n"] == 2
    assert "download gate          2 records" in format_report(m) and "2 held for review" in format_report(m)
    # without the rule the gate is confidence alone, as before
    assert compute_metrics(y, p)["gate_0_80"]["n"] == 4 and "confidence_0_80" not in compute_metrics(y, p)


def test_record_hard_negative_flag_wins_over_the_category():
    assert record_is_hard_negative({"category": "raw_publication", "label": "NEGATIVE", "hard_negative": True})
    assert not record_is_hard_negative({"category": "raw_publication", "label": "EYE_IMAGING", "hard_negative": True})
    assert record_is_hard_negative({"category": "hard_neg_review", "label": "NEGATIVE"})
    assert not record_is_hard_negative({"category": "raw_plain", "label": "NEGATIVE"})


def test_gate_bootstrap_interval_is_seeded_and_none_without_gated_records():
    y = [1] * 18 + [0] * 2 + [0] * 10
    p = [0.9] * 20 + [0.1] * 10
    a, b = gate_precision_interval(y, p), gate_precision_interval(y, p)
    assert a == b and a[0] < 0.9 < a[1] <= 1.0
    assert gate_precision_interval([1, 0], [0.5, 0.2]) is None


def test_evaluate_classifier_reports_per_kind_on_the_raw_held_out_file():
    proc = subprocess.run(
        scrapy_command("evaluate-classifier", str(HERE / RAW_HELDOUT), "--json"),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any(line.strip().startswith("raw_publication") for line in lines)
    report = json.loads(lines[-1])
    assert set(report["per_category"]) == set(KINDS)
    for kind in KINDS:
        assert {"f1_eye_imaging", "accuracy_hard_negatives", "gate_precision", "gate_ci95", "ece"} <= set(report["per_category"][kind])
    assert report["n_hard_negatives"] == sum(1 for r in read_jsonl(HERE / RAW_HELDOUT) if r.get("hard_negative"))
    assert len(report["gate_0_80_ci95"]) == 2


BLIND_SETS = {"raw_fresh67": 114, "raw_fresh68": 116, "raw_fresh69": 114, "raw_fresh70": 114}


@pytest.mark.parametrize(("name", "n"), sorted(BLIND_SETS.items()))
def test_the_blind_sets_are_held_out_and_shaped_like_the_other_raw_records(name, n):
    """The blind sets (written without sight of the classifier) are never trained on: no title of
    them is in the training file or the other held-out sets, and every kind has both labels."""
    blind = read_jsonl(HERE / f"{name}.jsonl")
    assert len(blind) == n and {r["origin"] for r in blind} == {name}
    assert {r["split"] for r in blind} == {"test"}
    others = {r["title"] for r in read_jsonl(HERE / "records.jsonl") + read_jsonl(HERE / RAW_HELDOUT)}
    for other in BLIND_SETS:
        if other != name:
            others |= {r["title"] for r in read_jsonl(HERE / f"{other}.jsonl")}
    assert not [r["title"] for r in blind if r["title"] in others]
    for kind in KINDS:
        assert {r["label"] for r in blind if r["category"] == kind} == {"EYE_IMAGING", "NEGATIVE"}, kind
    assert all(r["hard_negative"] for r in blind if r["label"] == "NEGATIVE" and r["category"] != "raw_plain")


def test_the_development_sets_are_trained_on_whole_and_calibrate_the_head():
    """The sets other people wrote that are no longer blind are in the training file, every record
    of them, each under its own origin, which the committed head held out (in turn, or in groups
    of sets) to fit its calibration; none of them is a blind set."""
    training = read_jsonl(HERE / "records.jsonl")
    head = json.loads((HERE.parent / "assets" / "head.json").read_text(encoding="utf-8"))
    origins, n = [], 0
    for name in DEVELOPMENT_SETS:
        written = read_jsonl(HERE / name)
        origin = name.removesuffix(".jsonl")
        origins.append(origin)
        assert written and {r["origin"] for r in written} == {origin} and {r["split"] for r in written} == {"train"}
        assert [r for r in training if r["origin"] == origin] == written
        n += len(written)
    assert not set(DEVELOPMENT_SETS) & {f"{name}.jsonl" for name in BLIND_SETS}
    calibration = dict(head["training"]["calibration"])
    calibration.pop("folds", None)  # a head with a hidden layer holds the sets out ten groups at a time
    assert calibration == {"method": "held-out groups", "groups": sorted(origins), "n": n}

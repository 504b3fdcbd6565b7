from __future__ import annotations

import numpy as np

from envision_spiders.classifier.features import FEATURE_NAMES, evidence_features
from envision_spiders.classifier.text import compose_text, describe_files, extension, strip_html
from tests.classifier import feature


def test_strip_html_removes_tags_and_entities():
    assert strip_html("<p>Fundus&nbsp;images &amp; <b>OCT</b></p>\n<br/>scans") == "Fundus images & OCT scans"
    assert strip_html(None) == ""


def test_extension_keeps_double_extensions():
    assert extension("scan/IM0001.nii.gz") == ".nii.gz"
    assert extension("OCT_scans.ZIP") == ".zip"
    assert extension("README") == ""


def test_compose_text_order_title_keywords_files_then_description():
    record = {
        "title": "Retinal dataset",
        "description": "<p>Long description</p>",
        "keywords": ["oct", "retina"],
        "file_names": ["OCT_scans.zip"],
        "archive_contents": [{"name": "OCT_scans.zip", "extensions": {".png": 812, ".txt": 1}, "sample_names": ["a/NORMAL_1.png"]}],
    }
    text = compose_text(record)
    assert text.startswith("Retinal dataset. Keywords: oct, retina. Files: OCT scans.zip.")
    assert "Archive OCT scans.zip contains 812 PNG, 1 TXT files such as a / NORMAL 1.png." in text
    assert text.endswith("Long description")
    assert "<p>" not in text


def test_compose_text_tolerates_missing_and_odd_fields():
    assert compose_text({}) == ""
    assert compose_text({"title": None, "keywords": "single", "files": [{"name": "a.png"}, "junk"]}) == (
        "Keywords: single. Files: a.png."
    )
    assert compose_text({"title": "Grant", "kind": "grant"}).startswith("Grant. Research grant.")


def test_describe_files_reports_dicom_modalities():
    record = {"archive_contents": [{"name": "d.zip", "extensions": {".dcm": 3}, "images": [{"modality": "OPT", "body_part": "EYE"}]}]}
    assert "DICOM: OPT, EYE." in describe_files(record)


def test_archive_evidence_features_without_any_description():
    bare = {"title": "Supplementary data"}
    with_archive = {
        "title": "Supplementary data",
        "file_names": ["OCT_scans.zip"],
        "archive_contents": [{"name": "OCT_scans.zip", "extensions": {".png": 812}}],
    }
    assert feature(bare, "inside_images") == 0.0
    assert feature(with_archive, "inside_images") > 0.7
    assert feature(with_archive, "share_image_like") > 0.99
    assert feature(with_archive, "names_eye_words") > 0


def test_eye_dicom_of_measurements_is_not_counted_as_eye_images():
    def export(modality: str) -> dict:
        return {"title": "Export", "file_names": ["export.zip"], "archive_contents": [{
            "name": "export.zip", "extensions": {".dcm": 1380}, "sample_names": ["HFA_24-2_OD_0001.dcm", "HFA_24-2_OS_0001.dcm"],
            "images": [{"name": "HFA_24-2_OD_0001.dcm", "format": "dicom", "modality": modality, "body_part": "EYE"}],
        }]}

    fields, biometry, photographs = export("OPV"), export("OAM"), export("OP")
    for measurements in (fields, biometry):
        assert feature(measurements, "eye_measurement_dicom") > 0
        assert feature(measurements, "images_eye_dicom") == feature(measurements, "dicom_eye") == 0.0
        assert feature(measurements, "share_image_like") == 0.0  # its .dcm files are not images
    assert feature(photographs, "eye_measurement_dicom") == 0.0
    assert feature(photographs, "images_eye_dicom") > 0 and feature(photographs, "share_image_like") > 0.99


def test_features_see_hard_negative_signals_and_traps():
    vf = {"title": "Humphrey visual field data", "description": "perimetry thresholds in CSV"}
    iris = {"title": "Iris flower data set", "description": "setosa, versicolor and virginica"}
    code = {"title": "Toolbox", "file_names": ["train.py", "model.pth", "README.md"]}
    dicom = {"archive_contents": [{"name": "x.zip", "images": [{"modality": "OP"}, {"modality": "CT"}]}]}
    assert feature(vf, "title_neg_visual_function") == 1.0
    assert feature(iris, "text_trap") > 0
    assert feature(code, "share_code_model") > 0.6
    assert feature(dicom, "dicom_eye") > 0 and feature(dicom, "dicom_other") > 0


def test_features_are_finite_and_bounded():
    v = evidence_features({"title": "x", "file_count": "12", "img_count": None, "archive_contents": "bad"})
    assert v.shape == (len(FEATURE_NAMES),)
    assert np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()


def test_oct_counts_as_eye_evidence_only_next_to_eye_anatomy():
    kidney = {"title": "OCT volumes of human kidney tissue", "description": "Optical coherence tomography of nephrectomy samples."}
    retina = {"title": "Retinal OCT B-scans", "description": "Spectral-domain OCT of the macula."}
    octa = {"title": "sOCTA-3x3-10k: OCTA image dataset", "description": "Superficial OCTA images with quality labels."}
    assert feature(kidney, "oct_without_eye") == 1.0
    assert feature(kidney, "modality_with_eye") == 0.0
    assert feature(retina, "oct_without_eye") == 0.0
    assert feature(retina, "modality_with_eye") == 1.0
    # OCT angiography is an eye technique even when no eye part is named
    assert feature(octa, "oct_without_eye") == 0.0
    assert feature({"title": "Doctoral thesis, October 2020"}, "oct_without_eye") == 0.0


def test_repository_style_titles_are_features():
    dryad = {"title": "Data from: Choroidal thickness in pseudoexfoliation", "description": "Scans of both eyes."}
    assert feature(dryad, "data_from_eye") == 1.0
    assert feature({"title": "Data from: Soil microbiome of alpine meadows"}, "data_from_eye") == 0.0
    assert feature({"title": "owner/retina-dr-classifier: fundus image classification"}, "repo_title") == 1.0
    assert feature({"title": "Retinal OCT Images (optical coherence tomography)"}, "repo_title") == 0.0

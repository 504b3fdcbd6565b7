"""The one rule for sides in image file names (envision_spiders/classifier/sides.py) and its use
in both the eye-name count and the per-eye share of the features."""

from __future__ import annotations

import pytest

from envision_spiders.classifier.sides import clinical_eye_pair, eye_side_flags, name_tokens
from envision_spiders.classifier.training.raw import arc
from tests.classifier import feature


def test_name_tokens_split_at_separators_and_letter_digit_boundaries():
    assert name_tokens("data/case01_R.jpg") == ["data", "case", "01", "r"]
    assert name_tokens("P0041_OS.png") == ["p", "0041", "os"]


def test_od_os_ou_tokens_are_eye_sides_as_prefix_suffix_or_glued_to_a_number():
    names = ["OD_0001.jpg", "P0041_OS.png", "12-OU-macula.tif", "OD0003.png", "photos/os.jpg"]
    assert eye_side_flags(names) == [True, True, True, True, True]
    # whole tokens only: "photos", "doodle", "cosmos" say nothing about eyes
    assert eye_side_flags(["photos_01.jpg", "doodle_3.png", "cosmos.jpg"]) == [False, False, False]


def test_single_letters_r_l_count_only_as_a_pair_or_next_to_an_eye_word():
    assert eye_side_flags(["case01_R.jpg", "case01_L.jpg", "case02_R.jpg"]) == [True, True, False]
    assert eye_side_flags(["case07_R.jpg"]) == [False]
    assert eye_side_flags(["R_fundus_07.jpg", "L-oct-07.png"]) == [True, True]
    # a lone letter with a number is not enough (T1_L.png could be anything)
    assert eye_side_flags(["img_3_l.png"]) == [False]


def test_re_le_prefixes_and_left_right_after_a_number_are_eye_sides():
    assert eye_side_flags(["RE_017.jpg", "LE_017.jpg", "LE_018.jpg"]) == [True, True, True]
    assert eye_side_flags(["10_left.jpeg", "10_right.jpeg", "left_eye_3.tif"]) == [True, True, True]


def test_sides_of_paws_hands_ears_breasts_and_leaves_are_not_eye_sides():
    names = ["rat_017_left_paw.jpg", "rat_017_right_paw.jpg", "left_hand_04.png", "P_00001_LEFT_CC.dcm",
             "leaf_012_left.jpg", "child012_left_ear.png"]
    assert eye_side_flags(names) == [False] * len(names)
    # the organ named only in the record's words blocks the weak forms, not OD / OS
    ear_text = "handheld oct of the eardrum in children"
    assert eye_side_flags(["child012_left_b05.png", "child012_right_b05.png"], ear_text) == [False, False]
    assert eye_side_flags(["P01_OD.jpg"], "photographs of both hands and the eyes") == [True]
    assert eye_side_flags(["case01_R.jpg", "case01_L.jpg"], "x-rays of the knees") == [False, False]
    # and so does another organ the caller found (a radiology DICOM header, non-eye names)
    assert eye_side_flags(["10_left.jpeg"], other_site=True) == [False]


def test_on_the_other_hand_and_a_trial_arm_are_not_organs():
    text = "on the other hand, the treatment arm received photographs"
    assert eye_side_flags(["10_left.jpeg", "10_right.jpeg"], text) == [True, True]


def test_eye_name_count_and_per_eye_share_agree_on_sides():
    paw = {"title": "Images", "file_names": ["paws.zip"],
           "archive_contents": [arc("paws.zip", {".jpg": 640}, ["paws/rat_017_left_paw.jpg"])]}
    assert feature(paw, "names_eye_words") == 0.0 and feature(paw, "images_laterality_names") == 0.0
    reading = {"title": "Reading study", "file_names": ["case01_R.jpg", "case01_L.jpg", "case02_R.jpg", "case02_L.jpg"]}
    assert feature(reading, "images_laterality_names") == 1.0
    assert feature(reading, "names_eye_words") == 1.0
    re_le = {"title": "Images", "file_names": ["RE_017.jpg", "LE_017.jpg", "scores.csv"]}
    assert feature(re_le, "images_laterality_names") == 1.0 and feature(re_le, "names_eye_words") == pytest.approx(0.5)


def test_an_optical_density_is_not_an_oculus_dexter():
    plates = ["plate1_OD600_0h.jpg", "plate1_OD600_6h.jpg", "plates/OD_0.2_plate01.jpg", "OD595-well3.png"]
    assert eye_side_flags(plates) == [False, False, False, False]
    assert eye_side_flags(["OD_0001.jpg", "OD0003.png", "P0041_OD.png"]) == [True, True, True]


def test_sides_of_limbs_and_of_a_mouth_are_not_eye_sides():
    names = ["dog01_left_fore.jpg", "dog01_right_fore.jpg", "dog01_left_hind_pad.jpg",
             "pt001_upper_left.jpg", "pt001_upper_right.jpg", "pt001_lower_left.jpg"]
    assert eye_side_flags(names) == [False] * len(names)


def test_sides_in_other_languages_next_to_the_eye_in_that_language():
    names = ["Proband_01_Auge_rechts_1.tif", "Sujeto_01/ojo_derecho_1.jpg", "Sujet01/oeil_gauche_couleur.jpg",
             "paziente_3_occhio_sinistro.png"]
    assert eye_side_flags(names) == [True, True, True, True]
    # a side of a hand is not an eye's, in any language
    assert eye_side_flags(["mano_derecha_01.jpg", "Hand_links_2.jpg"]) == [False, False]


def test_a_clinics_notation_for_two_eyes_is_a_pair_other_sides_are_not():
    od_os = ["images/0001_OD.jpg", "images/0001_OS.jpg"]
    assert clinical_eye_pair(od_os, eye_side_flags(od_os))
    hashed = ["709c2e41_OD.png", "a96d9c1f_OS.png"]  # no shared stem: OD and OS are enough
    assert clinical_eye_pair(hashed, eye_side_flags(hashed))
    portuguese = ["paciente_001_OD.png", "paciente_001_OE.png"]
    assert clinical_eye_pair(portuguese, eye_side_flags(portuguese))
    re_le = ["SL_001_RE_slit.JPG", "SL_001_LE_slit.JPG"]
    assert clinical_eye_pair(re_le, eye_side_flags(re_le))
    for names in (["case01_R.jpg", "case01_L.jpg"], ["10_left.jpeg", "10_right.jpeg"], ["0001_OD.jpg", "0002_OD.jpg"],
                  ["plate_OD600_a.jpg", "plate_OS_b.jpg"]):
        assert not clinical_eye_pair(names, eye_side_flags(names)), names

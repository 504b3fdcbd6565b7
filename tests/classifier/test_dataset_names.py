"""Known public dataset names (envision_spiders/classifier/dataset_names.py, assets/dataset_names.txt)
and the two features built on them."""

from __future__ import annotations

import pytest

from envision_spiders.classifier.dataset_names import (
    EYE,
    OTHER,
    NameIndex,
    known_dataset_kinds,
    packaged_index,
    parse_names,
)
from envision_spiders.classifier.training.raw import arc, dataset_entries, known_name_variants, withheld_dataset
from tests.classifier import feature


@pytest.mark.parametrize("title", [
    "RFMiD", "RFMiD 2.0", "ORIGA-light", "DUKE-DME", "Duke DME", "RIM-ONE DL", "rimone_v2", "OCTA-500", "octa_500",
    "OCTA500", "Chákṣu", "Chaksu", "REFUGE2_v3", "Messidor-2", "MESSIDOR2", "CHASE_DB1", "chasedb1", "EyePACS",
    "linchundan/fundusimage1000", "e-ophtha", "APTOS 2019 Blindness Detection", "IDRiD",
])
def test_eye_dataset_names_match_across_spellings_and_version_suffixes(title):
    assert packaged_index().kinds_in(title) == {EYE}


@pytest.mark.parametrize("title", ["ISIC 2019", "CheXpert-v1.0-small", "BraTS2021 training data", "LIDC-IDRI", "CAMELYON16",
                                   "MIMIC-CXR-JPG", "HAM10000", "KiTS19"])
def test_medical_looking_non_eye_dataset_names_are_the_other_kind(title):
    assert packaged_index().kinds_in(title) == {OTHER}


@pytest.mark.parametrize("title", [
    "Drive-thru queue photographs", "We stared at the data", "Test drive of the new car", "rose garden photographs",
    "Palm images for biometrics", "five fives", "kits for sale", "Chase the dog", "a refuge for birds",
    "DRIVE AND STARE ROAD TRIP PHOTOGRAPHS", "Stability at pH 2", "Forest fire images", "Lag of the signal",
    "Messidorian calendar", "Origami folds", "Parisic data",
    # a town and a font, a date, French "beds"
    "Exterior view of the old hotel in Aptos, Santa Cruz County", "Radar data (2017-Oct)", "Hospital of 500 Lits",
])
def test_english_word_and_substring_traps_do_not_match(title):
    assert packaged_index().kinds_in(title) == set()


def test_english_word_names_count_in_upper_case_or_next_to_dataset_words():
    index = packaged_index()
    assert index.kinds_in("Digital retinal images for vessel extraction (DRIVE)") == {EYE}
    assert index.kinds_in("drive database") == {EYE}
    assert index.kinds_in("STARE") == {EYE}
    assert index.kinds_in("DRIVE.zip") == {EYE}
    # ambiguous even in upper case: only next to a dataset word
    assert index.kinds_in("PALM") == set() and index.kinds_in("PALM challenge") == {EYE}
    assert index.kinds_in("CHASE") == set()


def test_a_names_list_line_needs_a_kind_and_a_name():
    assert parse_names(["# comment", "", "eye | Foo-Bar | ~BAZ"])[0].tokens == ("foo", "bar")
    with pytest.raises(ValueError, match="line 1"):
        parse_names(["retina | Foo"])
    index = NameIndex(parse_names(["eye | Foo-Bar"]))
    assert index.kinds_in("foobar_v2") == {EYE}  # the joined form of a multi-word name


def test_features_read_title_keywords_and_file_names_not_the_description():
    assert feature({"title": "RFMiD"}, "known_eye_dataset_name") == 1.0
    assert feature({"title": "Images", "keywords": ["ORIGA-light"]}, "known_eye_dataset_name") == 1.0
    inside = {"title": "Data", "file_names": ["images.zip"], "archive_contents": [arc("images.zip", {".png": 40}, ["OCTA500/10001.png"])]}
    assert feature(inside, "known_eye_dataset_name") == 1.0
    assert feature({"title": "Data", "file_names": ["ISIC_2019_Training_Input.zip"]}, "known_non_eye_dataset_name") == 1.0
    # a description citing a dataset is not the dataset
    cited = {"title": "A new vessel segmentation network", "description": "We evaluate on DRIVE and STARE."}
    assert feature(cited, "known_eye_dataset_name") == 0.0
    assert feature({"title": "Drive-thru queue photographs"}, "known_eye_dataset_name") == 0.0


def test_a_quarter_of_the_listed_datasets_never_reach_training():
    entries = dataset_entries()
    withheld = [spellings for _, spellings in entries if withheld_dataset(spellings)]
    assert 0.2 <= len(withheld) / len(entries) <= 0.3
    assert 100 <= len(entries) <= 250
    # no training record carries a withheld name, in any spelling
    withheld_index = NameIndex(parse_names(["eye | " + " | ".join(spellings) for spellings in withheld]))
    for record in known_name_variants():
        pieces = [record["title"], *record["file_names"], *record["archive_contents"][0]["sample_names"]]
        assert known_dataset_kinds(pieces, withheld_index) == set(), record["title"]
    assert all(r["split"] == "check" for r in known_name_variants(withheld=True))

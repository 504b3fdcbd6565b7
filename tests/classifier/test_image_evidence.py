"""What a curator reads in a wordless archive (issue 18, fourth pass): image geometry as archive
inspection sniffs it, class folders, eye-ish words that name other things, eye names of tables,
and the "OCT compound" of histology."""

from __future__ import annotations

import struct
import zlib

import pytest

from envision_spiders.classifier.image_evidence import (
    OCT,
    OCTA,
    RADIOGRAPH,
    TILE,
    class_folder_counts,
    geometry_shares,
    image_geometry,
)
from envision_spiders.classifier.training.raw import arc, archive_evidence_variants
from envision_spiders.inspection.report import image_facts
from tests.classifier import feature


def png_header(width: int, height: int, colour_type: int) -> bytes:
    """The first bytes of a PNG file (signature + IHDR), as a ranged read returns them."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def sniffed(width: int, height: int, colour_type: int = 0, name: str = "images/3fa29c01be7d.png") -> dict:
    """An image entry exactly as archive inspection stores it (grey: colour type 0, RGB: 2)."""
    return image_facts(name, png_header(width, height, colour_type))


def archive_record(image: dict, sample: str = "images/3fa29c01be7d.png", description: str = "") -> dict:
    entry = arc("images.zip", {".png": 1200}, [sample])
    entry["images"] = [image]
    return {"title": "Raw data", "description": description, "file_names": ["images.zip"], "archive_contents": [entry]}



# --- geometry -------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(512, 496), (768, 496), (1536, 496), (512, 885), (512, 1024), (200, 1024)])
def test_grey_images_at_oct_scanner_sizes_are_oct_b_scans(size):
    assert image_geometry(sniffed(*size)) == OCT


def test_colour_and_square_images_of_the_same_depths_are_not_oct():
    assert image_geometry(sniffed(512, 496, colour_type=2)) is None
    assert image_geometry(sniffed(1024, 1024)) is None  # microscopy fields are square
    assert image_geometry(sniffed(640, 480)) is None


def test_an_oct_volume_stack_is_oct():
    volume = {"format": "tiff", "width": 512, "height": 496, "frames": 49, "dims": "3D", "channels": 1}
    assert image_geometry(volume) == OCT
    z_stack = {"format": "tiff", "width": 512, "height": 512, "frames": 49, "dims": "3D", "channels": 1}
    assert image_geometry(z_stack) is None


def test_grey_en_face_squares_are_octa_and_colour_thumbnails_are_not():
    assert image_geometry(sniffed(304, 304)) == OCTA
    assert image_geometry(sniffed(400, 400)) == OCTA
    assert image_geometry(sniffed(400, 400, colour_type=2)) is None


def test_large_grey_near_square_pictures_are_radiographs_but_not_tiff_micrographs():
    assert image_geometry(sniffed(2500, 2048)) == RADIOGRAPH
    assert image_geometry(sniffed(2500, 2048, colour_type=2)) is None
    flat_mount = {"format": "tiff", "width": 2048, "height": 2048, "channels": 1}
    assert image_geometry(flat_mount) is None


def test_small_colour_squares_are_tiles():
    assert image_geometry(sniffed(224, 224, colour_type=2)) == TILE
    assert image_geometry(sniffed(224, 224)) is None


def test_geometry_shares_count_only_images_with_a_size():
    shares = geometry_shares([sniffed(512, 496), sniffed(2048, 1536, 2), {"format": "jpeg", "width": None, "height": None}])
    assert shares[OCT] == 0.5 and shares[RADIOGRAPH] == 0.0


def test_geometry_features_read_what_inspection_records():
    oct_record = archive_record(sniffed(512, 496))
    assert feature(oct_record, "images_oct_geometry") > 0.5
    assert feature(archive_record(sniffed(2048, 1536, 2)), "images_oct_geometry") == 0.0
    assert feature(archive_record(sniffed(2500, 2500)), "images_radiograph_geometry") > 0.5
    assert feature(archive_record(sniffed(256, 256, 2)), "images_tile_geometry") > 0.5


# --- class folders --------------------------------------------------------------------------

def test_class_folders_are_read_from_directories_not_file_stems():
    assert class_folder_counts(["OCT2017/train/CNV/CNV-1016-1.jpeg", "OCT2017/train/DRUSEN/x.jpeg"]) == (2, 0)
    assert class_folder_counts(["train/PNEUMONIA/person1_bacteria_1.jpeg", "train/NORMAL/IM-0001.jpeg"]) == (0, 1)
    assert class_folder_counts(["glaucoma.png", "cnv_001.png"]) == (0, 0)
    assert class_folder_counts(["data/Mild NPDR/1.png", "data/no-DR/2.png"]) == (2, 0)


def test_class_folder_features():
    eye = archive_record(sniffed(2048, 1536, 2), sample="train/glaucoma/3fa2.png")
    other = archive_record(sniffed(2048, 1536, 2), sample="train/malignant/3fa2.png")
    assert feature(eye, "eye_class_folders") > 0 and feature(eye, "non_eye_class_folders") == 0
    assert feature(other, "non_eye_class_folders") > 0 and feature(other, "eye_class_folders") == 0


# --- names and words that only look like the eye's ------------------------------------------

def test_weak_eye_words_in_names_need_other_eye_evidence():
    alone = archive_record(sniffed(512, 512), sample="disc/001.png")
    assert feature(alone, "names_eye_words") == 0.0
    with_eye = archive_record(sniffed(512, 512), sample="fundus/disc/001.png")
    assert feature(with_eye, "names_eye_words") == 0.5  # "fundus" and "disc"
    spine = archive_record(sniffed(512, 512), sample="fundus/disc/001.png", description="Lumbar spine MR slices.")
    assert feature(spine, "names_eye_words") == 0.25  # the organ leaves "disc" out


def test_eye_names_of_tables_and_sequences_count_only_next_to_images():
    tables = {"title": "Data", "file_names": ["OCT_thickness.csv", "m1_OD_retina.fastq.gz"]}
    assert feature(tables, "names_eye_words") == 0.0
    with_images = {"title": "Data", "file_names": ["OCT_thickness.csv", "scans.zip"],
                   "archive_contents": [arc("scans.zip", {".png": 300}, ["scans/001.png"])]}
    assert feature(with_images, "names_eye_words") > 0.0


def test_oct_embedding_compound_is_not_oct_imaging():
    histology = {"title": "Retina sections", "description": "Eyes were embedded in OCT compound and cryosectioned for RNA-seq."}
    assert feature(histology, "text_eye_imaging_modality") == 0.0
    assert feature(histology, "modality_with_eye") == 0.0
    for line in ("Retinas were frozen in O.C.T. medium.", "Tissue-Tek OCT blocks of the retina.",
                 "Eyecups in optimal cutting temperature compound."):
        assert feature({"title": "Retina", "description": line}, "text_eye_imaging_modality") == 0.0, line
    imaging = {"title": "Retina", "description": "OCT B-scans of the macula."}
    assert feature(imaging, "text_eye_imaging_modality") > 0.0


def test_fourth_pass_training_records_are_training_only_and_of_both_labels_per_kind():
    records = archive_evidence_variants()
    assert all(r["split"] == "train" and r["origin"] == "raw_variant" for r in records)
    for kind in ("raw_file_evidence", "raw_terse_title", "raw_non_eye_oct_omics"):
        labels = {r["label"] for r in records if r["category"] == kind}
        assert labels == {"EYE_IMAGING", "NEGATIVE"}, kind
    assert archive_evidence_variants() == records  # seeded

from __future__ import annotations

import gzip
import struct

import pytest

from envision_spiders.inspection.sniff import sniff
from tests.inspection import helpers as h


def test_png() -> None:
    facts = sniff(h.png(640, 480), "a/fundus.png")
    assert facts is not None
    assert (facts["name"], facts["format"], facts["width"], facts["height"]) == ("a/fundus.png", "png", 640, 480)
    assert (facts["dims"], facts["channels"], facts["bits"]) == ("2D", 3, 8)


def test_jpeg_after_exif_and_cut_before_sof() -> None:
    data = h.jpeg(3000, 2000, exif_bytes=20_000)
    facts = sniff(data)
    assert facts and (facts["format"], facts["width"], facts["height"], facts["channels"]) == ("jpeg", 3000, 2000, 3)
    cut = sniff(data[:4000])
    assert cut and cut["format"] == "jpeg" and cut["width"] is None


@pytest.mark.parametrize("big_endian", [False, True])
def test_tiff_single_and_multi_page(big_endian: bool) -> None:
    facts = sniff(h.tiff(1024, 496, big_endian=big_endian))
    assert facts and (facts["format"], facts["width"], facts["height"], facts["dims"], facts["frames"]) == (
        "tiff", 1024, 496, "2D", 1)
    stack = sniff(h.tiff(512, 496, pages=3, big_endian=big_endian))
    assert stack and stack["dims"] == "3D"


def test_imagej_stack_description() -> None:
    facts = sniff(h.tiff(512, 496, description="ImageJ=1.53\nimages=128\nslices=128\n"))
    assert facts and facts["frames"] == 128 and facts["depth"] == 128 and facts["dims"] == "3D"


@pytest.mark.parametrize(
    "syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]
)
def test_dicom_transfer_syntaxes(syntax: str) -> None:
    facts = sniff(h.dicom(rows=1536, columns=2048, modality="OP", body_part="EYE", transfer_syntax=syntax))
    assert facts is not None
    assert (facts["format"], facts["modality"], facts["body_part"], facts["width"], facts["height"]) == (
        "dicom", "OP", "EYE", 2048, 1536)
    assert facts["dims"] == "2D" and facts["laterality"] == "R" and facts["bits"] == 8
    assert facts["sop_class"] == "1.2.840.10008.5.1.4.1.1.77.1.5.1"


def test_dicom_multiframe_oct_is_3d_and_ultrasound_is_video() -> None:
    oct_ = sniff(h.dicom(rows=496, columns=512, modality="OPT", frames=49))
    assert oct_ and (oct_["dims"], oct_["frames"], oct_["depth"]) == ("3D", 49, 49)
    us = sniff(h.dicom(modality="US", frames=120))
    assert us and us["dims"] == "video"


def test_dicom_cut_short_keeps_what_it_read() -> None:
    data = h.dicom(private_bytes=10_000)
    facts = sniff(data[:2000])
    assert facts and facts["modality"] == "OP" and facts["width"] is None and facts["dims"] is None


def test_nifti() -> None:
    one = sniff(h.nifti1((256, 256, 128)), "brain.nii")
    assert one and (one["format"], one["width"], one["height"], one["depth"], one["dims"]) == (
        "nifti1", 256, 256, 128, "3D")
    be = sniff(h.nifti1((64, 64, 1, 10), big_endian=True))
    assert be and be["frames"] == 10 and be["dims"] == "3D"
    two = sniff(h.nifti2((300, 200)))
    assert two and (two["format"], two["width"], two["height"], two["dims"]) == ("nifti2", 300, 200, "2D")
    gz = sniff(gzip.compress(h.nifti1((10, 20, 30))), "x.nii.gz")
    assert gz and gz["format"] == "nifti1" and gz["depth"] == 30 and gz["compression"] == "gzip"


def test_other_formats() -> None:
    gif = sniff(b"GIF89a" + struct.pack("<HH", 320, 200) + bytes(20))
    bmp = sniff(b"BM" + bytes(12) + struct.pack("<IiiHH", 40, 100, -50, 1, 24) + bytes(30))
    jp2 = sniff(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x2djp2h\x00\x00\x00\x16ihdr"
                + struct.pack(">IIHBBBB", 480, 640, 3, 7, 7, 0, 0))
    nrrd = sniff(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 512 512 64\n\n")
    mha = sniff(b"ObjectType = Image\nNDims = 3\nDimSize = 100 80 40\nElementType = MET_SHORT\n")
    vol = sniff(b"HSF-OCT-103 " + struct.pack("<3I", 512, 97, 496) + bytes(100))
    avi = sniff(b"RIFF" + bytes(4) + b"AVI LIST" + bytes(4) + b"hdrlavih" + struct.pack("<I", 56)
                + struct.pack("<10I", 33333, 0, 0, 0, 250, 0, 1, 0, 720, 576) + bytes(20))
    mp4 = sniff(struct.pack(">I", 24) + b"ftypisom" + bytes(12))
    assert gif and (gif["format"], gif["width"], gif["height"]) == ("gif", 320, 200)
    assert bmp and (bmp["width"], bmp["height"], bmp["bits"]) == (100, 50, 24)
    assert jp2 and (jp2["format"], jp2["width"], jp2["height"], jp2["channels"]) == ("jpeg2000", 640, 480, 3)
    assert nrrd and (nrrd["width"], nrrd["height"], nrrd["depth"], nrrd["dims"]) == (512, 512, 64, "3D")
    assert mha and (mha["format"], mha["depth"]) == ("metaimage", 40)
    assert vol and (vol["format"], vol["width"], vol["height"], vol["depth"], vol["modality"]) == (
        "heidelberg-vol", 512, 496, 97, "OCT")
    assert avi and (avi["dims"], avi["width"], avi["height"], avi["frames"]) == ("video", 720, 576, 250)
    assert mp4 and (mp4["format"], mp4["dims"]) == ("mp4", "video")


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", bytes(1000), b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00\xff\xff\xff\x7f",
     bytes(128) + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff", b"\x1f\x8b\x08" + bytes(20)],
)
def test_junk_and_truncated_never_raise(data: bytes) -> None:
    sniff(data)

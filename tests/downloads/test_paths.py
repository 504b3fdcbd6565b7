from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from envision_spiders.downloads.paths import record_dir_name, sanitize_relative_name, unique_names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("images/fundus_001.jpg", "images/fundus_001.jpg"),
        ("../../etc/passwd", "etc/passwd"),
        ("/etc/shadow", "etc/shadow"),
        ("a/./b/../c.txt", "a/b/c.txt"),
        ("C:\\Windows\\system32\\x.dll", "Windows/system32/x.dll"),
        ("c:evil.txt", "evil.txt"),
        ("\\\\server\\share\\f.png", "server/share/f.png"),
        ("dir//double///slash.png", "dir/double/slash.png"),
        ("bell\x07name\x00.txt", "bellname.txt"),
        ("new\nline.csv", "newline.csv"),
        ("trailing.dots...", "trailing.dots"),
        ("what?.jpg", "what_.jpg"),
        ("CON.txt", "_CON.txt"),
        ("manifest.json", "_manifest.json"),
        ("sub/manifest.json", "sub/manifest.json"),
        ("big.bin.part", "_big.bin.part"),
        ("big.bin.part.json", "_big.bin.part.json"),
        ("Ünïcode/é.tif", "Ünïcode/é.tif"),
    ],
)
def test_sanitize(name: str, expected: str) -> None:
    assert sanitize_relative_name(name) == expected


@pytest.mark.parametrize("name", ["", "..", "../..", "/", "\\", "\x00\x01", "....", " / . / "])
def test_nothing_usable_left_gets_a_stable_unique_fallback(name: str) -> None:
    safe = sanitize_relative_name(name)
    assert safe.startswith("file-") and "/" not in safe
    assert sanitize_relative_name(name) == safe


def test_hostile_names_never_escape() -> None:
    hostile = ["../" * 20 + "x", "a/../../../b", "/abs", "C:/x", "..\\..\\y", "a/\x00/../z", ".../...."]
    for name in hostile:
        path = PurePosixPath(sanitize_relative_name(name))
        assert not path.is_absolute()
        assert ".." not in path.parts and "." not in path.parts and "" not in path.parts
        assert all(":" not in part and "\\" not in part for part in path.parts)


def test_long_segments_are_shortened_uniquely() -> None:
    a = sanitize_relative_name("x" * 300 + "a.nii.gz")
    b = sanitize_relative_name("x" * 300 + "b.nii.gz")
    assert a != b and a.endswith(".gz") and len(a.encode()) <= 200


def test_unique_names_case_insensitive_collisions() -> None:
    assert unique_names(["a.jpg", "A.jpg", "../a.jpg", "b/c"]) == ["a.jpg", "A~2.jpg", "a~3.jpg", "b/c"]


def test_record_dir_name_quotes_ids() -> None:
    assert record_dir_name("dryad", "doi:10.5061/dryad.x") == "dryad/doi%3A10.5061%2Fdryad.x"
    with pytest.raises(ValueError):
        record_dir_name("zenodo", "..")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CON .txt", "_CON .txt"),  # Windows ignores the space: still the console device
        ("con .tar.gz", "_con .tar.gz"),
        ("COM¹", "_COM¹"),  # superscript digits count as digits for Windows device names
        ("lpt³.log", "_lpt³.log"),
        ("COM0.dat", "_COM0.dat"),
        ("CONOUT$", "_CONOUT$"),
        ("AUX . ", "_AUX"),
        ("name. .", "name"),  # trailing dots and spaces go (Windows drops them)
        ("COMMON.txt", "COMMON.txt"),
        ("x.PART", "_x.PART"),  # our .part suffix, in any case
        ("x.Part.Json", "_x.Part.Json"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override: would read "invoiceexe.jpg"
        ("\u2066dir\u2069/\u200fa\u200e.png", "dir/a.png"),
        ("\ufeffbom.csv", "bom.csv"),
    ],
)
def test_sanitize_windows_devices_part_suffix_and_bidi_controls(name: str, expected: str) -> None:
    assert sanitize_relative_name(name) == expected


def test_no_bidi_control_survives() -> None:
    controls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    for char in controls:
        assert char not in sanitize_relative_name(f"a{char}b/{char}c.txt")


def test_a_file_and_a_folder_of_one_name_are_kept_apart() -> None:
    assert unique_names(["data", "data/x.png", "DATA/y.png"]) == ["data", "data~2/x.png", "data~2/y.png"]
    assert unique_names(["d/x.png", "d", "D"]) == ["d/x.png", "d~2", "D~3"]


def test_no_file_lands_on_another_files_part_names() -> None:
    names = unique_names(["big.bin", "big.bin.PART", "_big.bin", "big.bin.part.json"])
    assert len({n.lower() for n in names}) == 4
    claimed = {n.lower() for n in names}
    for name in names:
        assert f"{name}.part".lower() not in claimed and f"{name}.part.json".lower() not in claimed

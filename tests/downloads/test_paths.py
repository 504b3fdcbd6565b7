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

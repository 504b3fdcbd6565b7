from __future__ import annotations

from envision_spiders.inspection.kinds import archive_format, kind_of, portal_file_names, summarise, summarise_files
from envision_spiders.inspection.listing import ArchiveListing, SniffPicker, is_unsafe_path, sniff_worthy


def test_unsafe_paths() -> None:
    for name in ("../etc/passwd", "/abs/x.png", "a/../../b", "C:\\win\\x", "..\\x", "a\x00b"):
        assert is_unsafe_path(name), name
    for name in ("a/b.png", "..hidden/x", "x..y.png"):
        assert not is_unsafe_path(name), name


def test_listing_is_bounded() -> None:
    listing = ArchiveListing(sample_names=3, max_extensions=2)
    for i in range(1000):
        listing.add(f"d/{i}.{['png', 'csv', 'dcm', 'txt'][i % 4]}", 10)
    listing.add("d/", 0, is_dir=True)
    listing.add("../evil.png", 5)
    out = listing.as_dict()
    assert out["entries_listed"] == 1002 and out["files_listed"] == 1001 and out["dirs_listed"] == 1
    assert out["sample_names"] == ["d/0.png", "d/1.csv", "d/2.dcm"] and out["unsafe_names"] == 1
    assert out["extensions"] == {".png": 251, ".csv": 250, "(other)": 500}
    assert out["kinds"]["image"] == 251 and out["kinds"]["medical"] == 250
    assert out["uncompressed_size"] == 1000 * 10 + 5


def test_sniff_picker_spreads_across_extensions() -> None:
    picker: SniffPicker[str] = SniffPicker(5)
    for i in range(100):
        picker.offer(f"{i}.png", f"png{i}")
    picker.offer("IM000001", "dicom-noext")
    picker.offer("scan.dcm", "dcm0")
    picker.offer("notes.txt", "txt")
    picker.offer("DICOMDIR", "dir")
    assert picker.picked() == ["png0", "dcm0", "png1", "png2", "png3"]
    assert sniff_worthy("IM000001") and not sniff_worthy("readme.md")
    single: SniffPicker[str] = SniffPicker(3)
    single.offer("IM1", "a")
    single.offer("IM2", "b")
    assert single.picked() == ["a", "b"]


def test_archive_format_and_kinds() -> None:
    assert [archive_format(n) for n in ("a.ZIP", "b.tgz", "c.tar.gz", "d.tar", "e.gz", "f.7z", "g.tar.xz")] == [
        "zip", "tar.gz", "tar.gz", "tar", None, None, "tar.xz"]
    assert kind_of("x.nii.gz") == "medical" and kind_of("y.fastq.gz") == "genomics"


def test_counts_include_archive_entries() -> None:
    files = [{"name": "images.zip"}, {"name": "labels.csv"}, {"name": "reads.fastq.gz"}]
    contents = [
        {"name": "images.zip", "status": "complete", "files_listed": 3, "dirs_listed": 1, "entries_total": 4,
         "extensions": {".png": 2, ".dcm": 1}, "kinds": {"image": 2, "medical": 1},
         "sample_names": ["a/1.png", "a/2.png", "b.dcm"]},
        {"name": "big.zip", "status": "partial", "files_listed": 10, "dirs_listed": 0, "entries_total": 5000,
         "extensions": {".jpg": 10}, "kinds": {"image": 10}, "sample_names": []},
        {"name": "old.tar", "status": "complete", "files_listed": 2, "extensions": {".tif": 1, ".zip": 1},
         "sample_names": []},
    ]
    out = summarise(files, contents, name_limit=5)
    assert out["file_count"] == 3 + 3 + 5000 + 2
    assert (out["img_count"], out["medical_count"], out["archive_count"], out["genomics_count"]) == (13, 1, 2, 1)
    assert out["file_types"] == [".csv", ".dcm", ".fastq.gz", ".jpg", ".png", ".tif", ".zip"]
    assert out["file_names"] == ["images.zip", "labels.csv", "reads.fastq.gz", "images.zip/a/1.png",
                                 "images.zip/a/2.png"]
    assert summarise_files(["a.png"]) == {"file_types": [".png"], "file_count": 1, "img_count": 1,
                                          "medical_count": 0, "archive_count": 0, "genomics_count": 0}
    assert portal_file_names(["x"] * 10, limit=3) == ["x", "x", "x"]

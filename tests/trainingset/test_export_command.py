"""``scrapy export`` end to end over a store and download folders built here: the tree loads
with the real ``datasets`` (offline) and ``mlcroissant``, counts match the archives, splits
do not leak, the same seed gives the same bytes, and hostile archives write nothing outside DEST."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from envision_spiders.downloads.manifest import PENDING
from envision_spiders.trainingset.plan import SPLIT_DIR_NAMES
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.inspection.helpers import dicom
from tests.trainingset.builders import class_tar, image_bytes, kermany_zip, put_downloaded

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")  # torchvision's, for our formats
SPLIT = "train=0.7,val=0.15,test=0.15"


def _hostile_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../escape.png", image_bytes(900))
        zf.writestr("/tmp/abs-escape.png", image_bytes(901))
        link = zipfile.ZipInfo("fine/NORMAL/link.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../../../etc/passwd")
        zf.writestr("fine/NORMAL/ok.png", image_bytes(902))
    return buf.getvalue()


def _hostile_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        sym = tarfile.TarInfo("fine/NORMAL/escape-dir")
        sym.type, sym.linkname = tarfile.SYMTYPE, "/tmp"
        tf.addfile(sym)
        for name in ("fine/NORMAL/escape-dir/through-link.png", "../tar-escape.png"):
            data = image_bytes(len(name))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """zenodo:1 Kermany-style ZIP, figshare:22 tar.gz + a plain file, dryad:3 hostile archives,
    osf:4 an unfinished download, zenodo:5 a duplicate record."""
    data = tmp_path_factory.mktemp("store") / "data"
    put_downloaded(data, "zenodo", "1", {"OCT2017.zip": kermany_zip()}, doi="10.5281/zenodo.1", license="cc-by-4.0")
    put_downloaded(data, "figshare", "22", {"set.tar.gz": class_tar(dicom()), "extra/NORMAL/n1.png": image_bytes(3000)},
                   license="CC0-1.0")
    put_downloaded(data, "dryad", "3", {"evil.zip": _hostile_zip(), "evil.tar": _hostile_tar(),
                                        "broken.zip": b"PK\x03\x04" + bytes(200)}, license="cc0")
    put_downloaded(data, "osf", "4", {"later/CNV/p.png": image_bytes(4000)}, status=PENDING)
    put_downloaded(data, "zenodo", "5", {"copy/CNV/c.png": image_bytes(5000)}, duplicate_of="zenodo:1")
    return data


def expected_from_archives(data: Path) -> Counter[str]:
    """Images per class folder, read by this test from the download folders with the stdlib."""
    counts: Counter[str] = Counter()

    def add(name: str) -> None:
        if name.startswith("/") or ".." in name.split("/") or not name.lower().endswith((".png", ".jpeg")):
            return
        parents = [p for p in name.split("/")[:-1] if p.lower() not in SPLIT_DIR_NAMES]
        if parents:
            counts[parents[-1]] += 1

    for manifest_path in sorted((data / "downloads").glob("*/*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        if manifest["status"] != "complete" or manifest["source_id"] == "5":
            continue
        for entry in manifest["files"]:
            path = data / "downloads" / entry["path"]
            if path.name.endswith(".zip") and zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        if not stat.S_ISLNK(info.external_attr >> 16):
                            add(info.filename)
            elif ".tar" in path.name:
                with tarfile.open(path) as tf:
                    for member in tf.getmembers():
                        # the test's own rule for links: an entry below a symlinked folder is not a file
                        if member.isreg() and not member.name.startswith("fine/NORMAL/escape-dir/"):
                            add(member.name)
            elif not path.name.endswith(".zip"):
                add(entry["path"].split("/", 2)[2])
    return counts


def export(data: Path, dest: Path, *args: str) -> tuple[int, dict, str]:
    proc = subprocess.run(
        scrapy_command("export", str(dest), "--json", *args, "-s", f"ENVISION_DATA_DIR={data}"),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {}
    return proc.returncode, summary, proc.stderr


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.fixture(scope="module")
def exported(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    before = all_files(store.parent)
    code, summary, stderr = export(store, out / "dest", "--label-by", "folder", "--split", SPLIT, "--seed", "5")
    assert code == 0, stderr
    return out / "dest", summary, before


def test_datasets_loads_the_tree_offline_with_counts_equal_to_the_archives(store, exported, tmp_path, monkeypatch):
    dest, summary, _ = exported
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    loaded = datasets.load_dataset("imagefolder", data_dir=str(dest), cache_dir=str(tmp_path / "hf"))
    assert set(loaded) == {"train", "validation", "test"}  # datasets names "val" validation
    per_split = {name: Counter(loaded[name]["label"]) for name in loaded}
    total = sum(per_split.values(), Counter())
    assert total == expected_from_archives(store)
    assert total == {"CNV": 10 + 10 + 1 + 1 + 8, "DME": 20, "NORMAL": 20 + 1 + 1, "DRUSEN": 8}
    assert per_split["validation"] == summary["splits"]["val"]
    assert per_split["train"] == summary["splits"]["train"] and per_split["test"] == summary["splits"]["test"]
    first = loaded["train"][0]
    assert first["image"].size == (first["width"], first["height"])
    assert {r["license"] for r in loaded["train"]} <= {"cc-by-4.0", "CC0-1.0", "cc0"}
    # every label has images in every split (stratified), train the largest share
    for label, n in total.items():
        assert per_split["train"][label] >= 0.6 * n


def test_tree_is_an_imagefolder_layout_and_no_image_is_in_two_splits(exported):
    dest, summary, _ = exported
    seen: dict[str, set[str]] = defaultdict(set)
    for split in ("train", "val", "test"):
        entries = sorted(p.name for p in (dest / split).iterdir())
        assert "metadata.jsonl" in entries
        classes = [p for p in (dest / split).iterdir() if p.is_dir()]
        assert {p.name for p in classes} <= {"CNV", "DME", "NORMAL", "DRUSEN"}
        for cls in classes:  # what torchvision's ImageFolder would find: class dirs of images
            assert all(f.suffix.lower() in IMAGE_EXTENSIONS for f in cls.iterdir())
        on_disk = Counter(cls.name for cls in classes for _ in cls.iterdir())
        assert on_disk == summary["splits"][split]
        for line in (dest / split / "metadata.jsonl").read_text().splitlines():
            row = json.loads(line)
            assert (dest / split / row["file_name"]).is_file()
            seen[row["sha256"]].add(split)
    assert all(len(splits) == 1 for splits in seen.values())
    # the image the source had in both its train and test folders: both copies, one split
    rows = [json.loads(line) for split in ("train", "val", "test")
            for line in (dest / split / "metadata.jsonl").read_text().splitlines()]
    dup = [r for r in rows if r["path_in_archive"].endswith("/dup.jpeg")]
    assert len(dup) == 2 and len(seen[dup[0]["sha256"]]) == 1 and dup[0]["sha256"] == dup[1]["sha256"]


def test_same_seed_gives_byte_identical_metadata(store, exported, tmp_path):
    dest, _, _ = exported
    code, _, stderr = export(store, tmp_path / "again", "--label-by", "folder", "--split", SPLIT, "--seed", "5")
    assert code == 0, stderr
    for split in ("train", "val", "test"):
        assert (tmp_path / "again" / split / "metadata.jsonl").read_bytes() == (dest / split / "metadata.jsonl").read_bytes()
    assert (tmp_path / "again" / "croissant.json").read_bytes() == (dest / "croissant.json").read_bytes()
    code, _, _ = export(store, tmp_path / "other", "--label-by", "folder", "--split", SPLIT, "--seed", "6")
    assert (tmp_path / "other" / "train" / "metadata.jsonl").read_bytes() != (dest / "train" / "metadata.jsonl").read_bytes()


def test_hostile_archives_write_nothing_outside_dest_and_each_refusal_is_reported(store, exported):
    dest, summary, before = exported
    assert all_files(store.parent) == before  # the store and downloads are untouched
    # this test's own folders (the session's temp root also holds other tests' hostile names)
    outside = [*Path("/tmp").glob("*escape*.png"), *store.parent.rglob("*escape*"), *dest.parent.rglob("*escape*")]
    assert [p for p in outside if dest not in p.parents] == []
    assert not any("escape" in f for f in all_files(dest))
    assert not list(dest.rglob(".staging"))
    skipped = summary["skipped"]
    assert skipped["absolute or parent path"]["count"] == 3
    assert skipped["symlink"]["count"] == 2
    assert skipped["corrupt archive"]["examples"] == ["dryad:3/broken.zip: BadZipFile: File is not a zip file"]
    assert skipped["below a symlink"]["examples"] == ["dryad:3/evil.tar!fine/NORMAL/escape-dir/through-link.png"]
    assert summary["downloads_not_complete"] == ["osf:4 (pending)"]
    assert summary["datasets"] == ["dryad:3", "figshare:22", "zenodo:1"]


def test_croissant_validates_and_reads_back_through_mlcroissant(exported):
    dest, summary, _ = exported
    import mlcroissant as mlc

    dataset = mlc.Dataset(jsonld=str(dest / "croissant.json"))
    assert dataset.metadata.issues.errors == set()
    assert all("datePublished" in w for w in dataset.metadata.issues.warnings)
    for split in ("train", "val", "test"):
        rows = list(dataset.records(split))
        assert Counter(r[f"{split}/label"].decode() for r in rows) == summary["splits"][split]
        images = list(dataset.records(f"{split}-images"))
        assert Counter(r[f"{split}-images/label_folder"].decode() for r in images) == summary["splits"][split]
    sources = {r["sources/dataset"]: r for r in dataset.records("sources")}
    assert sources["zenodo:1"]["sources/doi"] == "10.5281/zenodo.1"
    assert sources["figshare:22"]["sources/license"] == "CC0-1.0"
    card = json.loads((dest / "croissant.json").read_text())
    assert "https://doi.org/10.5281/zenodo.1" in card["isBasedOn"]
    assert sorted(card["license"]) == ["CC0-1.0", "cc-by-4.0", "cc0"]


def test_plain_downloaded_images_are_hard_linked_not_copied(store, exported):
    dest, _, _ = exported
    linked = next(dest.glob("*/NORMAL/figshare-22-n1.png"))
    original = store / "downloads" / "figshare" / "22" / "extra" / "NORMAL" / "n1.png"
    assert os.stat(linked).st_ino == os.stat(original).st_ino


def test_dry_run_writes_nothing_and_reports_the_same_plan(store, exported, tmp_path):
    _, summary, _ = exported
    code, dry, stderr = export(store, tmp_path / "dry", "--label-by", "folder", "--split", SPLIT, "--seed", "5",
                               "--dry-run")
    assert code == 0, stderr
    assert not (tmp_path / "dry").exists()
    assert dry["splits"] == summary["splits"] and dry["dry_run"] is True


def test_balance_weights_and_dataset_groups(store, tmp_path):
    code, summary, stderr = export(store, tmp_path / "b", "--label-by", "folder", "--balance", "--weights",
                                   "--group-by", "dataset", "--split", "train=0.5,test=0.5", "--link", "copy")
    assert code == 0, stderr
    totals = sum((Counter(v) for v in summary["splits"].values()), Counter())
    assert set(totals.values()) == {8}  # every class capped at the smallest (DRUSEN, 8)
    assert summary["capped"] == 30 + 20 + 22 - 3 * 8
    rows = [json.loads(line) for p in (tmp_path / "b").glob("*/*.jsonl") for line in p.read_text().splitlines()]
    weights = {r["label"]: r["weight"] for r in rows}
    assert weights["CNV"] / weights["DRUSEN"] == pytest.approx(30 / 8, rel=1e-4)
    by_dataset = defaultdict(set)
    for p in (tmp_path / "b").glob("*/*.jsonl"):
        for line in p.read_text().splitlines():
            by_dataset[json.loads(line)["source"]].add(p.parent.name)
    assert all(len(v) == 1 for v in by_dataset.values())


def test_dicom_kept_as_files_when_named_and_labelled_by_modality(store, tmp_path):
    code, summary, stderr = export(store, tmp_path / "d", "--label-by", "modality", "--formats", "dicom")
    assert code == 0, stderr
    assert summary["splits"] == {"train": {"OP": 1}} and summary["formats"] == {"dicom": 1}
    row = json.loads((tmp_path / "d" / "train" / "other_files.jsonl").read_text())
    assert (row["modality"], row["width"], row["height"]) == ("OP", 768, 512)
    assert (tmp_path / "d" / "train" / "OP" / row["file_name"].split("/")[1]).read_bytes()[128:132] == b"DICM"


@pytest.mark.parametrize("args", [["--split", "train=0.5"], ["--label-by", "colour"], ["--formats", "webm"],
                                  ["--link", "reflink"], ["--max-per-label", "-1"],
                                  ["--seed", "x"], ["--group-by", "folder"]])
def test_bad_arguments_exit_2_with_one_line(store, tmp_path, args):
    proc = subprocess.run(scrapy_command("export", str(tmp_path / "x"), *args, "-s", f"ENVISION_DATA_DIR={store}"),
                          cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "error:" in proc.stderr.splitlines()[-1]
    assert not (tmp_path / "x").exists()


def test_dest_that_is_not_empty_is_refused(store, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    code, _, stderr = export(store, tmp_path / "full")
    assert code == 2 and "not an empty folder" in stderr
    assert all_files(tmp_path / "full") == {"keep.txt"}


def test_files_in_an_object_store_are_refused_with_a_clear_error(tmp_path):
    done = subprocess.run(
        scrapy_command("export", str(tmp_path / "out"), "-s", f"ENVISION_DATA_DIR={tmp_path}",
                       "-s", "FILES_STORE=s3://bucket/downloads"),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "FILES_STORE is s3://bucket/downloads: the export reads downloaded files from a local folder" in done.stderr
    assert not (tmp_path / "out").exists()

"""Labels, caps, weights, splits and names: pure, over hand-built samples."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from envision_spiders.trainingset.plan import (
    Sample,
    assign_splits,
    cap_per_label,
    field_value,
    folder_label,
    label_dirs,
    label_of,
    name_outputs,
    restore_weights,
)
from envision_spiders.trainingset.sources import DownloadedFile, DownloadedRecord

SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def record(source_id: str = "1", **fields) -> DownloadedRecord:
    return DownloadedRecord("zenodo", source_id, {"source": "zenodo", "source_id": source_id, **fields}, {}, ())


def sample(i: int, label: str, rec: DownloadedRecord | None = None, sha: str | None = None,
           member: str | None = None) -> Sample:
    rec = rec or record()
    file = DownloadedFile("a.zip", Path("/x/a.zip"), "a.zip", None)
    s = Sample(rec, file, member or f"{label}/{i}.png", None, sha or f"{i:064x}", 10, "png", True)
    s.label = label
    return s


@pytest.mark.parametrize(("path", "label"), [
    ("OCT2017/train/CNV/CNV-1.jpeg", "CNV"),
    ("OCT2017/CNV/test/x.png", "CNV"),
    ("Training/Validation/glaucoma/a.png", "glaucoma"),
    ("train/x.png", None),
    ("x.png", None),
])
def test_folder_label_skips_split_directories(path, label):
    assert folder_label(path) == label


def test_label_modes():
    rec = record(extra={"grading": {"scale": "ICDR"}}, keywords=["retina"], title="T")
    s = sample(1, "", rec, member="imgs/DME/1.png")
    s.modality = "OPT"
    assert label_of(s, "dataset") == ("zenodo-1", "")
    assert label_of(s, "modality") == ("OPT", "")
    assert label_of(s, "folder") == ("DME", "")
    assert label_of(s, "field:extra.grading.scale") == ("ICDR", "")
    assert label_of(s, "field:keywords") == ("retina", "")
    assert label_of(s, "field:nope") == (None, "no single value in field nope")
    s.modality = None
    assert label_of(s, "modality") == (None, "no modality")
    assert field_value({"a": [{"b": 1}]}, "a.0.b") == 1


def test_label_dirs_are_safe_and_distinct():
    dirs = label_dirs(["CNV", "cnv", "../x", "metadata.jsonl", "CON"])
    assert len(set(d.lower() for d in dirs.values())) == 5
    assert all("/" not in d and d not in {"..", "."} for d in dirs.values())
    assert dirs["metadata.jsonl"] == "_metadata.jsonl"
    assert dirs["CON"] == "_CON"


def _splits_of(samples):
    where = defaultdict(set)
    for s in samples:
        where[s.sha256].add(s.split)
    return where


def test_identical_images_never_straddle_splits_and_labels_are_stratified():
    samples = [sample(i, label) for label in ("A", "B") for i in range(0 if label == "A" else 1000,
                                                                          (0 if label == "A" else 1000) + 200)]
    # 40 copies of one image spread over both labels and datasets, 10 pairs of duplicates
    samples += [sample(5000 + i, "A", record(str(i)), sha="f" * 64) for i in range(40)]
    samples += [sample(6000 + i, "B", sha=f"{i:064x}") for i in range(10)]
    assign_splits(samples, SPLITS, seed=7)
    assert all(len(splits) == 1 for splits in _splits_of(samples).values())
    for label in ("A", "B"):
        counts = Counter(s.split for s in samples if s.label == label and s.sha256 != "f" * 64)
        total = sum(counts.values())
        assert abs(counts["train"] / total - 0.8) < 0.05 and counts["val"] >= 15 and counts["test"] >= 15


def test_split_is_deterministic_per_seed_and_independent_of_input_order():
    def run(seed, reverse=False):
        samples = [sample(i, "AB"[i % 2]) for i in range(300)]
        assign_splits(list(reversed(samples)) if reverse else samples, SPLITS, seed=seed)
        return {s.sha256: s.split for s in samples}

    assert run(1) == run(1) == run(1, reverse=True)
    assert run(1) != run(2)


def test_group_by_dataset_keeps_each_dataset_in_one_split():
    samples = [sample(d * 100 + i, "AB"[i % 2], record(str(d))) for d in range(30) for i in range(20)]
    samples.append(sample(99999, "A", record("0"), sha=samples[25].sha256))  # dataset 0 shares an image with 1
    assign_splits(samples, SPLITS, seed=3, group_by="dataset")
    by_dataset = defaultdict(set)
    for s in samples:
        by_dataset[s.record.key].add(s.split)
    assert all(len(v) == 1 for v in by_dataset.values())
    assert by_dataset["zenodo:0"] == by_dataset["zenodo:1"]
    assert {s.split for s in samples} == {"train", "val", "test"}


def test_cap_balance_and_weights_restore_the_distribution():
    samples = [sample(i, "A") for i in range(90)] + [sample(100 + i, "B") for i in range(10)]
    original = Counter(s.label for s in samples)
    kept, dropped = cap_per_label(samples, 10, seed=1)
    assert Counter(s.label for s in kept) == {"A": 10, "B": 10} and len(dropped) == 80
    assert cap_per_label(samples, 10, seed=1)[0] == kept
    restore_weights(original, kept)
    weighted = Counter()
    for s in kept:
        weighted[s.label] += s.weight
    assert weighted["A"] / weighted["B"] == pytest.approx(9.0)
    assert sum(weighted.values()) == pytest.approx(len(kept))


def test_output_names_are_distinct_and_inside_their_split_and_label():
    rec = record("a/b:c")
    samples = [sample(1, "CNV", rec, member="train/CNV/x.png"), sample(2, "CNV", rec, member="test/CNV/x.png"),
               sample(3, "CNV", rec, member="IM0001")]
    for s in samples:
        s.split = "train"
    samples[2].format = "dicom"
    name_outputs(samples)
    dests = [s.dest for s in samples]
    assert len(set(dests)) == 3
    assert all(d.startswith("train/CNV/") and d.count("/") == 2 for d in dests)
    assert dests[2].endswith(".dcm")

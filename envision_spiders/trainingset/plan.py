"""Labels, caps, weights, leak-free splits and output names for exported samples. Pure: no I/O.

Every choice that looks random is a hash of the seed and the sample's content or place, so the
same input and seed give the same tree, whatever order files were read in.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from envision_spiders.downloads.paths import sanitize_relative_name, unique_names
from envision_spiders.trainingset.sources import DownloadedFile, DownloadedRecord

# directory names that say which split a file was in, never which class it is
SPLIT_DIR_NAMES = frozenset(
    {"train", "training", "test", "testing", "val", "valid", "validation", "dev", "eval", "evaluation"}
)
# names imagefolder reads as metadata: a label folder may not take them
_METADATA_NAMES = frozenset({"metadata.jsonl", "metadata.csv", "metadata.parquet", "other_files.jsonl"})

_DEFAULT_SUFFIX = {"jpeg": "jpg", "dicom": "dcm", "nifti": "nii"}


@dataclass
class Sample:
    """One exported image (or DICOM/NIfTI file): where it came from and what it is."""

    record: DownloadedRecord
    file: DownloadedFile
    member: str | None  # path inside the archive; None for a plain downloaded file
    staged: Path | None  # extracted bytes waiting for their final name (archives only)
    sha256: str
    size: int
    format: str
    image: bool  # Pillow-loadable: listed in metadata.jsonl (else in other_files.jsonl)
    width: int | None = None
    height: int | None = None
    modality: str | None = None
    label: str | None = None
    split: str | None = None
    weight: float | None = None
    dest: str | None = None  # relative to DEST, set by name_outputs
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def inner_path(self) -> str:
        """Where it sits in its dataset: the archive member path, or the file's own name."""
        return self.member if self.member is not None else self.file.relative

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.record.key, self.file.relative, self.member or "")


def _seeded(seed: int, *parts: str) -> str:
    return hashlib.sha256("\0".join([str(seed), *parts]).encode("utf-8", "surrogatepass")).hexdigest()


# --- labels ------------------------------------------------------------------------------------


def folder_label(inner_path: str) -> str | None:
    """The class folder of ``a/train/CNV/x.jpeg`` is ``CNV``: the nearest parent directory that
    is not a split name; None when there is none."""
    parents = PurePosixPath(inner_path.replace("\\", "/")).parts[:-1]
    for part in reversed(parents):
        if part.lower() not in SPLIT_DIR_NAMES and part not in {"", ".", "/"}:
            return part
    return None


def field_value(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for key in path.split("."):
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def label_of(sample: Sample, label_by: str) -> tuple[str | None, str]:
    """(label, reason when None)."""
    if label_by == "dataset":
        return f"{sample.record.source}-{sample.record.source_id}", ""
    if label_by == "modality":
        return (sample.modality, "") if sample.modality else (None, "no modality")
    if label_by == "folder":
        label = folder_label(sample.inner_path)
        return (label, "") if label else (None, "no class folder")
    path = label_by[len("field:"):]
    value = field_value(sample.record.record, path)
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
        return None, f"no single value in field {path}"
    return str(value).strip(), ""


def label_dirs(labels: Iterable[str]) -> dict[str, str]:
    """A safe, distinct folder name per label (case-insensitively distinct, never a metadata name)."""
    ordered = sorted(set(labels))
    wanted = []
    for label in ordered:
        name = sanitize_relative_name(label.replace("/", "_").replace("\\", "_"), fallback="label")
        wanted.append("_" + name if name.lower() in _METADATA_NAMES else name)
    return dict(zip(ordered, unique_names(wanted)))


# --- caps and weights --------------------------------------------------------------------------


def cap_per_label(samples: list[Sample], cap: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(kept, dropped): at most ``cap`` per label, chosen by the seeded hash of each sample."""
    by_label: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_label[s.label or ""].append(s)
    kept: list[Sample] = []
    dropped: list[Sample] = []
    for label in sorted(by_label):
        ranked = sorted(by_label[label], key=lambda s: (_seeded(seed, s.sha256, *s.sort_key), s.sort_key))
        kept += ranked[:cap]
        dropped += ranked[cap:]
    kept.sort(key=lambda s: s.sort_key)
    return kept, dropped


def restore_weights(original: Counter[str], kept: list[Sample]) -> None:
    """Per-sample weight = original share of its label / kept share: weighting the kept samples
    restores the label distribution before capping."""
    kept_counts = Counter(s.label or "" for s in kept)
    total_original, total_kept = sum(original.values()), len(kept)
    for s in kept:
        label = s.label or ""
        s.weight = round((original[label] / total_original) / (kept_counts[label] / total_kept), 6)


# --- splits ------------------------------------------------------------------------------------


class _Groups:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def assign_splits(samples: list[Sample], splits: tuple[tuple[str, float], ...], seed: int,
                  group_by: str = "image") -> None:
    """Set ``sample.split``. Samples with the same sha256 (and, with ``group_by="dataset"``, of
    the same dataset) form one group that goes to one split. Groups are stratified by their
    (majority) label: within a label, in seeded order, each group goes to the split furthest
    below its target share."""
    groups = _Groups()
    for s in samples:
        key = f"sha256:{s.sha256}"
        groups.find(key)
        if group_by == "dataset":
            groups.union(key, f"dataset:{s.record.key}")
    members: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        members[groups.find(f"sha256:{s.sha256}")].append(s)
    by_label: dict[str, list[tuple[str, list[Sample]]]] = defaultdict(list)
    for root, group in members.items():
        counts = Counter(s.label or "" for s in group)
        label = min(counts, key=lambda lab: (-counts[lab], lab))
        by_label[label].append((_seeded(seed, root), group))
    order = {name: i for i, (name, _) in enumerate(splits)}
    for label in sorted(by_label):
        taken = dict.fromkeys(order, 0)
        total = 0
        for _rank, group in sorted(by_label[label], key=lambda g: g[0]):
            total += len(group)
            name = max(splits, key=lambda sp: (sp[1] * total - taken[sp[0]], sp[1], -order[sp[0]]))[0]
            taken[name] += len(group)
            for s in group:
                s.split = name


# --- names -------------------------------------------------------------------------------------


def name_outputs(samples: list[Sample]) -> None:
    """``dest = {split}/{label folder}/{source}-{source_id}-{file name}``, sanitised and made
    distinct (``~2``) in the samples' sort order."""
    dirs = label_dirs(s.label or "" for s in samples)
    ordered = sorted(samples, key=lambda s: s.sort_key)
    wanted = []
    for s in ordered:
        base = PurePosixPath(s.inner_path.replace("\\", "/")).name or "file"
        if "." not in base:  # a DICOM series' IM000001
            base += "." + _DEFAULT_SUFFIX.get(s.format, s.format)
        name = f"{s.record.source}-{s.record.source_id}-{base}".replace("/", "_").replace("\\", "_")
        wanted.append(f"{s.split}/{dirs[s.label or '']}/{name}")  # unique_names sanitises it
    for s, dest in zip(ordered, unique_names(wanted)):
        s.dest = dest

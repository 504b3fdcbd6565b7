"""The export's options, parsed and checked once (a bad value is a ValueError naming it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from envision_spiders.trainingset.formats import DEFAULT_FORMATS, FORMATS, ExportFormat

LABEL_MODES = ("dataset", "modality", "folder")
LINK_MODES = ("auto", "hardlink", "symlink", "copy")
GROUP_MODES = ("image", "dataset")
SPLIT_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class Budget:
    """Limits against archive bombs: bytes per entry, bytes in all, and compression ratio
    (uncompressed / compressed) above which an entry or a compressed stream is refused."""

    max_entry_bytes: int = 1 << 30
    max_total_bytes: int = 0  # 0: no limit
    max_ratio: float = 200.0
    ratio_floor: int = 1 << 20  # ratios are only judged past this many output bytes


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[ExportFormat, ...] = tuple(FORMATS[n] for n in DEFAULT_FORMATS)
    label_by: str = "dataset"  # dataset | modality | folder | field:PATH
    splits: tuple[tuple[str, float], ...] = (("train", 1.0),)
    seed: int = 0
    group_by: str = "image"
    max_per_label: int = 0
    balance: bool = False
    weights: bool = False
    link: str = "auto"
    dry_run: bool = False
    sources: tuple[str, ...] = ()
    budget: Budget = field(default_factory=Budget)

    @property
    def label_field(self) -> str | None:
        return self.label_by[len("field:"):] if self.label_by.startswith("field:") else None


def parse_label_by(text: str) -> str:
    if text in LABEL_MODES:
        return text
    if text.startswith("field:") and text[len("field:"):].strip("."):
        return text
    raise ValueError(f"--label-by {text!r}: expected dataset, modality, folder or field:PATH")


def parse_splits(text: str) -> tuple[tuple[str, float], ...]:
    """``"train=0.8,val=0.1,test=0.1"`` -> ((name, fraction), ...); fractions must sum to 1."""
    out: list[tuple[str, float]] = []
    for part in (p.strip() for p in text.split(",")):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or not name or not set(name) <= SPLIT_NAME_CHARS:
            raise ValueError(f"--split {text!r}: each part is NAME=FRACTION, NAME in [a-z0-9_-]")
        try:
            fraction = float(value)
        except ValueError:
            raise ValueError(f"--split {text!r}: {value!r} is not a number") from None
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"--split {text!r}: {fraction} is not between 0 and 1")
        if name in dict(out):
            raise ValueError(f"--split {text!r}: {name} given twice")
        out.append((name, fraction))
    if abs(sum(f for _, f in out) - 1.0) > 1e-6:
        raise ValueError(f"--split {text!r}: fractions sum to {sum(f for _, f in out):g}, not 1")
    return tuple(out)


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{option} {value!r}: expected one of {', '.join(choices)}")
    return value

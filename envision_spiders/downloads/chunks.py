"""Bookkeeping of a ranged download: chunk plan, progress sidecar, validators. Pure except
``load_progress``/``save_progress`` (small JSON files next to the ``.part`` file)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envision_spiders.jsoncodec import write_json_atomic

PROGRESS_VERSION = 1


def plan_chunks(size: int, chunk_size: int) -> list[tuple[int, int]]:
    """Half-open byte ranges covering ``size`` bytes in ``chunk_size`` pieces."""
    if size < 0 or chunk_size < 1:
        raise ValueError(f"bad plan: size={size} chunk_size={chunk_size}")
    return [(start, min(start + chunk_size, size)) for start in range(0, size, chunk_size)]


def compress(indexes: set[int]) -> list[list[int]]:
    """``{0,1,2,5}`` -> ``[[0, 3], [5, 6]]`` (half-open runs), so the sidecar stays small."""
    runs: list[list[int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return runs


def expand(runs: Any) -> set[int]:
    out: set[int] = set()
    for run in runs or []:
        start, end = int(run[0]), int(run[1])
        out.update(range(start, end))
    return out


def strong_validator(headers: Any) -> dict[str, str]:
    """The response's usable If-Range validator: a strong ETag, else Last-Modified.

    ``headers`` is a Scrapy ``Headers`` (bytes) or a plain mapping. Weak ETags (``W/``) cannot
    be used with If-Range (RFC 9110 §13.1.5).
    """

    def get(name: str) -> str | None:
        value = headers.get(name)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        return value.strip() if isinstance(value, str) and value.strip() else None

    etag, last_modified = get("ETag"), get("Last-Modified")
    if etag and not etag.startswith("W/"):
        return {"etag": etag}
    if last_modified:
        return {"last_modified": last_modified}
    return {}


def if_range_value(validator: dict[str, str]) -> str | None:
    return validator.get("etag") or validator.get("last_modified")


@dataclass
class Progress:
    """What a ``.part`` file holds: which chunks of which remote file, under which validator."""

    url: str
    size: int
    chunk_size: int
    validator: dict[str, str] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)

    def matches(self, url: str, size: int, chunk_size: int) -> bool:
        return (self.url, self.size, self.chunk_size) == (url, size, chunk_size)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROGRESS_VERSION,
            "url": self.url,
            "size": self.size,
            "chunk_size": self.chunk_size,
            "validator": self.validator,
            "done": compress(self.done),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        if data.get("version") != PROGRESS_VERSION:
            raise ValueError(f"unknown progress version {data.get('version')!r}")
        return cls(
            url=str(data["url"]),
            size=int(data["size"]),
            chunk_size=int(data["chunk_size"]),
            validator=dict(data.get("validator") or {}),
            done=expand(data.get("done")),
        )

    def bytes_done(self) -> int:
        return sum(end - start for i, (start, end) in enumerate(plan_chunks(self.size, self.chunk_size)) if i in self.done)


def load_progress(sidecar: Path, part: Path) -> Progress | None:
    """The saved progress, when both files exist and agree; None means "start from zero"."""
    if not sidecar.is_file() or not part.is_file():
        return None
    try:
        progress = Progress.from_json(json.loads(sidecar.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if part.stat().st_size != progress.size:
        return None
    return progress


def save_progress(sidecar: Path, progress: Progress) -> None:
    write_json_atomic(sidecar, progress.to_json())

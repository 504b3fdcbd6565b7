"""Bounded summaries of an archive's entries, built one entry at a time.

An archive may list a million entries; nothing here keeps more than the counters, a capped
extension table, the first N names and a few sniff candidates.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from typing import Any, Generic, TypeVar

from envision_spiders.inspection.kinds import extension_of, kind_of

T = TypeVar("T")

NO_EXTENSION = "(none)"
OTHER_EXTENSIONS = "(other)"
SNIFF_KINDS = frozenset({"image", "medical", "video"})
_DRIVE = re.compile(r"^[A-Za-z]:")


def is_unsafe_path(name: str) -> bool:
    """True for names that would escape an extraction directory: absolute, drive, ``..``."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or _DRIVE.match(normalised) or "\x00" in normalised:
        return True
    return ".." in normalised.split("/")


def entry_extension(name: str) -> str:
    return extension_of(name) or NO_EXTENSION


def sniff_worthy(name: str) -> bool:
    """Entries whose header is worth reading: images, medical volumes, videos, and files
    without an extension (DICOM series are often named ``IM000001``)."""
    base = posixpath.basename(name.replace("\\", "/"))
    if not base or base.upper() == "DICOMDIR" or base.startswith("."):
        return False
    return kind_of(name) in SNIFF_KINDS or not extension_of(name)


class SniffPicker(Generic[T]):
    """Picks up to ``count`` candidates, spreading the picks across extensions.

    Keeps at most ``count`` candidates per extension and ``max_buckets`` extensions, so memory
    stays bounded whatever the archive holds; :meth:`picked` takes them round-robin across
    extensions, and only then extension-less files.
    """

    def __init__(self, count: int, max_buckets: int = 32) -> None:
        self.count = count
        self.max_buckets = max_buckets
        self._buckets: dict[str, list[T]] = {}

    def offer(self, name: str, candidate: T) -> None:
        if self.count <= 0 or not sniff_worthy(name):
            return
        key = extension_of(name)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                return
            bucket = self._buckets[key] = []
        if len(bucket) < self.count:
            bucket.append(candidate)

    def picked(self) -> list[T]:
        queues = [list(items) for key, items in self._buckets.items() if key]
        picks: list[T] = []
        while len(picks) < self.count and any(queues):
            for queue in queues:
                if queue and len(picks) < self.count:
                    picks.append(queue.pop(0))
        # extension-less files (README, LICENSE... or a DICOM series) only fill what is left
        picks += self._buckets.get("", [])[: self.count - len(picks)]
        return picks


class ArchiveListing:
    """Counters over an archive's entries: what goes into ``archive_contents``."""

    def __init__(self, *, sample_names: int = 20, max_extensions: int = 100) -> None:
        self.sample_limit = sample_names
        self.max_extensions = max_extensions
        self.entries = 0
        self.dirs = 0
        self.files = 0
        self.uncompressed_size = 0
        self.compressed_size = 0
        self.unsafe_names = 0
        self.encrypted = 0
        self.extensions: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.sample_names: list[str] = []

    def add(
        self, name: str, size: int, *, is_dir: bool = False, compressed_size: int | None = None,
        encrypted: bool = False,
    ) -> None:
        self.entries += 1
        if is_unsafe_path(name):
            self.unsafe_names += 1
        if encrypted:
            self.encrypted += 1
        if is_dir:
            self.dirs += 1
            return
        self.files += 1
        self.uncompressed_size += max(size, 0)
        if compressed_size is not None:
            self.compressed_size += max(compressed_size, 0)
        ext = entry_extension(name)
        if ext in self.extensions or len(self.extensions) < self.max_extensions:
            self.extensions[ext] += 1
        else:
            self.extensions[OTHER_EXTENSIONS] += 1
        self.kinds[kind_of(name)] += 1
        if len(self.sample_names) < self.sample_limit:
            self.sample_names.append(name[:512])

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries_listed": self.entries,
            "files_listed": self.files,
            "dirs_listed": self.dirs,
            "extensions": dict(self.extensions.most_common()),
            "kinds": dict(self.kinds.most_common()),
            "uncompressed_size": self.uncompressed_size,
            "sample_names": list(self.sample_names),
            "unsafe_names": self.unsafe_names,
            "encrypted_entries": self.encrypted,
        }

"""What an export reads: stored records with a ``complete`` download folder, and their files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envision_spiders.downloads.manifest import COMPLETE, MANIFEST_NAME, load_manifest
from envision_spiders.downloads.paths import record_dir_name
from envision_spiders.state.store import RecordBackend


@dataclass(frozen=True)
class DownloadedFile:
    name: str  # the repository's name for it
    path: Path  # on disk
    relative: str  # sanitised name inside the record's folder
    sha256: str | None


@dataclass(frozen=True)
class DownloadedRecord:
    source: str
    source_id: str
    record: dict[str, Any]
    manifest: dict[str, Any]
    files: tuple[DownloadedFile, ...]

    @property
    def key(self) -> str:
        return f"{self.source}:{self.source_id}"

    @property
    def doi(self) -> str | None:
        return self.record.get("doi") or self.manifest.get("doi")

    @property
    def license(self) -> str | None:
        return self.record.get("license") or self.manifest.get("license")


def iter_downloaded(
    records: RecordBackend, files_store: str | Path, sources: list[str] | None = None,
    not_complete: list[str] | None = None,
) -> Iterator[DownloadedRecord]:
    """Canonical stored records (no ``duplicate_of``) of ``records`` (files or an object store)
    whose manifest under the local ``files_store`` is ``complete``, with their complete files, in
    the store's order. Records with a download folder that is not complete are appended to
    ``not_complete`` as ``source:source_id (status)``."""
    store = Path(files_store)
    for _where, record in records.iter_records(sources):
        if record.get("duplicate_of"):
            continue
        source, source_id = str(record.get("source")), str(record.get("source_id"))
        folder = store / record_dir_name(source, source_id)
        manifest = load_manifest(folder / MANIFEST_NAME)
        if manifest is None:
            continue
        if manifest.get("status") != COMPLETE:
            if not_complete is not None:
                not_complete.append(f"{source}:{source_id} ({manifest.get('status')})")
            continue
        prefix = record_dir_name(source, source_id) + "/"
        files = []
        for entry in manifest.get("files") or []:
            rel = str(entry.get("path") or "")
            if entry.get("status") != COMPLETE or not rel.startswith(prefix) or ".." in rel.split("/"):
                continue
            files.append(DownloadedFile(str(entry.get("name")), store / rel, rel[len(prefix):],
                                        entry.get("sha256")))
        yield DownloadedRecord(source, source_id, record, manifest, tuple(files))

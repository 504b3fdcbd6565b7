"""``manifest.json`` of a record's download folder: what was fetched, from where, and whether it verified.

Written atomically (``jsoncodec.write_json_atomic``) with status ``pending`` before any byte is
fetched, and ``complete`` / ``failed: ...`` afterwards, so a crash leaves ``pending``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envision_spiders.jsoncodec import write_json_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
COMPLETE = "complete"
PENDING = "pending"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def load_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def previous_files(manifest: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The files of an earlier manifest, by repository name."""
    if not manifest:
        return {}
    return {f["name"]: f for f in manifest.get("files") or [] if isinstance(f, dict) and "name" in f}


def file_entry(name: str, path: str, entry: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "url": entry.get("url"),
        "size": entry.get("size"),
        "repository_checksum": entry.get("checksum"),
        "md5": None,
        "sha256": None,
        "verification": None,
        "status": status,
        "completed_at": None,
    }


def record_status(files: list[dict[str, Any]]) -> str:
    """``complete`` when every selected file is complete, else ``failed: ...`` naming the first failure."""
    failed = [f for f in files if str(f.get("status", "")).startswith("failed")]
    pending = [f for f in files if f.get("status") == PENDING]
    if failed:
        first = failed[0]
        return f"failed: {len(failed)} of {len(files)} files ({first['name']}: {first['status'][len('failed: '):]})"
    if pending:
        return f"failed: {len(pending)} of {len(files)} files not finished"
    return COMPLETE


def new_manifest(item: dict[str, Any], files: list[dict[str, Any]], started_at: str, status: str) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "source": item.get("source"),
        "source_id": str(item.get("source_id")),
        "doi": item.get("doi"),
        "license": item.get("license"),
        "title": item.get("title"),
        "landing_url": item.get("url"),
        "label": item.get("label"),
        "confidence": item.get("confidence"),
        "status": status,
        "started_at": started_at,
        "updated_at": utc_now(),
        "finished_at": None if status == PENDING else utc_now(),
        "files": files,
    }


def write_manifest(path: Path, manifest: dict[str, Any], fsync: bool = False) -> None:
    manifest["updated_at"] = utc_now()
    write_json_atomic(path, manifest, fsync=fsync)

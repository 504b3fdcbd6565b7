"""The shape of one ``archive_contents`` entry: what the drivers fill in and the pipeline stores.

Pure: dicts in, dicts out. :func:`new_report` is the entry before inspection (every key present);
the drivers (``inspection/drivers.py``) set the listing, status and images; :func:`reusable`
says whether an earlier complete entry still describes the same file.
"""

from __future__ import annotations

from typing import Any

from envision_spiders.inspection.listing import ArchiveListing
from envision_spiders.inspection.sniff import sniff

STATUSES = ("complete", "partial", "error", "range_unsupported", "skipped")


def new_report(file: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The ``archive_contents`` entry for one archive file, before inspection."""
    return {
        "name": file.get("name") or "",
        "url": file.get("url"),
        "size": file.get("size"),
        "checksum": file.get("checksum"),
        "format": fmt,
        "status": "error",
        "error": None,
        "entries_total": None,
        "entries_listed": 0,
        "files_listed": 0,
        "dirs_listed": 0,
        "extensions": {},
        "kinds": {},
        "uncompressed_size": 0,
        "sample_names": [],
        "unsafe_names": 0,
        "encrypted_entries": 0,
        "images": [],
        "requests": 0,
        "bytes": 0,
    }


def finish_listing(report: dict[str, Any], listing: ArchiveListing) -> None:
    report.update(listing.as_dict())


def image_facts(name: str, data: bytes) -> dict[str, Any]:
    facts = sniff(data, name)
    if facts is None:
        return {"name": name, "format": None, "dims": None, "bytes_read": len(data)}
    facts["bytes_read"] = len(data)
    return facts


def reusable(previous: dict[str, Any] | None, file: dict[str, Any]) -> bool:
    """An earlier ``complete`` entry of the same file (same checksum, or same size without one)."""
    if not previous or previous.get("status") != "complete":
        return False
    checksum = file.get("checksum")
    if checksum:
        return previous.get("checksum") == checksum
    size = file.get("size")
    return size is not None and previous.get("size") == size

"""Downloader slots by rate class: a source's file requests apart from its API/search requests.

Scrapy keeps one download slot per host, and a spider's ``DOWNLOAD_DELAY`` is every slot's
default, so ranged reads of a repository's files (archive inspection) would queue behind its
search politeness even where the repository documents another limit for files (Zenodo: search
30/min, everything 100/min with a token). A spider that declares ``file_rate_settings``
(``bases/spider.py``) gets a slot of its own for them, ``file_slot(source)``, with the file
rate's delay in ``DOWNLOAD_SLOTS``; the inspection pipeline sends a record's file requests
there when that slot is configured (``meta["download_slot"]``, kept across redirects).
"""

from __future__ import annotations

from typing import Any

FILE_SLOT_SUFFIX = ":files"


def file_slot(source: str) -> str:
    """The download slot of ``source``'s file requests (used when DOWNLOAD_SLOTS has it)."""
    return f"{source}{FILE_SLOT_SUFFIX}"


def slot_for_rate(per_hour: float, concurrency: int = 1) -> dict[str, Any]:
    """A DOWNLOAD_SLOTS entry for a documented rate: ``3600 / per_hour`` seconds apart, no
    jitter (jitter would dip below the limit half the time)."""
    delay = round(3600.0 / per_hour, 3) if per_hour > 0 else 0.0
    return {"delay": delay, "jitter": 0, "concurrency": concurrency}

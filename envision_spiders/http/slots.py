"""Downloader slots by rate budget: a source's file requests apart from its API/search requests,
or all of its requests in one budget.

Scrapy keeps one download slot per host, and a spider's ``DOWNLOAD_DELAY`` is every slot's
default. Two ways a repository's documented limits map onto that:

* **A limit for files apart from search** (Zenodo: search 30/min, everything 100/min with a
  token): ranged reads of its files (archive inspection) would queue behind the search
  politeness. A spider that declares ``file_rate_settings`` (``bases/spider.py``) gets a slot of
  its own for them, ``file_slot(source)``, with the file rate's delay in ``DOWNLOAD_SLOTS``.
* **One overall rate for every request** (Figshare, Kaggle: about 1 request/s): its API and its
  file downloads are on different hosts (``api.figshare.com``, ``ndownloader.figshare.com``), so
  per-host slots would each take the whole rate. A spider that declares ``shared_rate`` sends all
  of its requests, API and files, to one slot, ``shared_slot(source)``, at its ``DOWNLOAD_DELAY``.

Archive inspection and gated downloads (a crawl's or ``scrapy download``'s) send a record's file
requests to :func:`budget_slot_of` its source: the file slot, else the shared slot, when
``DOWNLOAD_SLOTS`` has one (``meta["download_slot"]``). Both are *budget slots*: they stand for
the repository's limit, so a request that leaves the repository's origin (a 302 to a signed
object-store URL: S3, GCS) leaves the slot too (:func:`leaves_budget`, applied to redirect hops
by ``middlewares/slots.py`` and to later reads of the final URL by ``http/ranges.py``); Scrapy
would otherwise keep the hop in the slot it came from. It goes to :func:`object_store_slot` of
its host, with the store's own politeness (``ENVISION_OBJECT_STORE_SLOT``), not the
repository's delay, which a slot keyed by the host alone would get (it is every new slot's default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from envision_spiders.http.credentials import origin

FILE_SLOT_SUFFIX = ":files"
SHARED_SLOT_SUFFIX = ":all"
OBJECT_STORE_SLOT_SUFFIX = ":object-store"
SLOT_META = "download_slot"  # Scrapy's meta key of a request's downloader slot


def file_slot(source: str) -> str:
    """The download slot of ``source``'s file requests (used when DOWNLOAD_SLOTS has it)."""
    return f"{source}{FILE_SLOT_SUFFIX}"


def shared_slot(source: str) -> str:
    """The one download slot of every request of a source with one overall rate."""
    return f"{source}{SHARED_SLOT_SUFFIX}"


def object_store_slot(url: str) -> str:
    """The download slot of a request that left a budget slot for ``url``'s origin (an object store)."""
    return f"{urlsplit(url).hostname or ''}{OBJECT_STORE_SLOT_SUFFIX}"


def is_object_store_slot(slot: Any) -> bool:
    return isinstance(slot, str) and slot.endswith(OBJECT_STORE_SLOT_SUFFIX)


def budget_slot_of(source: str, slots: Iterable[str]) -> str | None:
    """The budget slot of ``source``'s file requests among the configured ``slots``: its file
    slot, else its shared slot, else None (Scrapy's per-host slot)."""
    configured = set(slots)
    return next((slot for slot in (file_slot(source), shared_slot(source)) if slot in configured), None)


def configured_budget_slots(settings: Any) -> set[str]:
    """The budget slots among ``DOWNLOAD_SLOTS`` (a crawl's spider adds its source's, ``scrapy
    download`` those of the stored records' sources): what :func:`budget_slot_of` chooses from."""
    return {slot for slot in settings.getdict("DOWNLOAD_SLOTS") if is_budget_slot(slot)}


def is_budget_slot(slot: Any) -> bool:
    """Whether ``slot`` stands for a repository's rate budget (a file or shared slot)."""
    return isinstance(slot, str) and slot.endswith((FILE_SLOT_SUFFIX, SHARED_SLOT_SUFFIX))


def slot_for_rate(per_hour: float, concurrency: int = 1) -> dict[str, Any]:
    """A DOWNLOAD_SLOTS entry for a documented rate: ``3600 / per_hour`` seconds apart, no
    jitter (jitter would dip below the limit half the time)."""
    delay = round(3600.0 / per_hour, 3) if per_hour > 0 else 0.0
    return {"delay": delay, "jitter": 0, "concurrency": concurrency}


def leaves_budget(slot: Any, from_url: str, to_url: str) -> bool:
    """Whether a request for ``to_url`` that came from ``from_url`` (a redirect, or a later
    read of where it led) must leave ``slot``: it is a budget slot and the origin changed."""
    return is_budget_slot(slot) and origin(from_url) != origin(to_url)

"""Which records and files are downloaded: pure functions over an item (no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Any

from itemadapter import ItemAdapter

from envision_spiders.items import SIDES, corroborated, record_owner

EYE_IMAGING = "EYE_IMAGING"
# the start of the gate's reason for a confident record with no eye evidence a curator could
# point to: it waits for a person (``scrapy report`` lists these), it is not a negative
NEEDS_REVIEW = "needs review"
OPEN_RECORD_ACCESS = {None, "", "open"}

_ALGORITHM_ALIASES = {"sha-256": "sha256", "sha-1": "sha1", "sha-512": "sha512", "md-5": "md5"}


def record_gate(
    item: Any, threshold: float, eye_evidence_required: bool = True,
    accepted: Collection[tuple[str, str]] = frozenset(),
) -> str | None:
    """``None`` when the record passes the gate, else the reason it does not.

    ``eye_evidence_required`` (``ENVISION_DOWNLOAD_REQUIRE_EYE_EVIDENCE``): a confident label is
    not enough on its own; the record must also show a kind of eye evidence a curator could point
    to (its ``eye_evidence`` field, classifier/features.py), other than left/right in file names
    alone. A record held back for that alone gets a reason starting with :data:`NEEDS_REVIEW`,
    unless its (source, source_id) is in ``accepted``: a curator reviewed it (the state's
    ``accepted_for_download()``, written by ``scrapy download --record``)."""
    adapter = ItemAdapter(item)
    label, confidence = adapter.get("label"), adapter.get("confidence")
    if adapter.get("duplicate_of"):
        return f"duplicate of {adapter.get('duplicate_of')}"
    if label != EYE_IMAGING:
        return f"label {label or 'missing'}"
    if not isinstance(confidence, (int, float)) or confidence < threshold:
        return f"confidence {confidence} below {threshold}"
    if adapter.get("access_type") not in OPEN_RECORD_ACCESS:
        return f"record access {adapter.get('access_type')}"
    if eye_evidence_required and record_owner(item) not in accepted:
        kinds = adapter.get("eye_evidence")
        if not isinstance(kinds, (list, tuple)):
            # a record labelled before the field existed: read it (imported here, as it pulls
            # numpy, which a download of records that have the field never needs)
            from envision_spiders.classifier.features import eye_evidence

            kinds = eye_evidence(adapter.asdict())
        if not corroborated(kinds):
            if SIDES in kinds:
                return f"{NEEDS_REVIEW}: confident, but its only eye evidence is left/right in file names"
            return f"{NEEDS_REVIEW}: confident, but no eye evidence a curator could point to"
    return None


def held_for_review(reason: str | None) -> bool:
    """Whether :func:`record_gate` held a record back for review alone: the eye-evidence rule is
    its last, so such a record met every other rule, and a curator's acceptance lets it through."""
    return bool(reason) and str(reason).startswith(NEEDS_REVIEW)


def file_gate(entry: dict[str, Any], has_token: bool = False) -> str | None:
    """``None`` when a file of a gated record is downloadable, else why not. A file whose
    access is ``token`` is downloadable only ``has_token`` (its source's, ``ENVISION_FILE_AUTH``)."""
    if entry.get("access") == "token" and not has_token:
        return "file access token: no token for its source"
    if entry.get("access") not in ("open", "token"):
        return f"file access {entry.get('access') or 'unknown'}"
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "no http(s) URL"
    return None


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # hashlib name
    hexdigest: str


def parse_checksum(value: Any) -> Checksum | None:
    """``"md5:<hex>"`` / ``"sha-256:<hex>"`` -> Checksum; None when absent or unusable here."""
    if not isinstance(value, str) or ":" not in value:
        return None
    algorithm, _, digest = value.partition(":")
    algorithm = _ALGORITHM_ALIASES.get(algorithm.strip().lower(), algorithm.strip().lower())
    digest = digest.strip().lower()
    if not digest or algorithm not in hashlib.algorithms_available:
        return None
    try:
        int(digest, 16)
    except ValueError:
        return None
    return Checksum(algorithm, digest)


class MultiHasher:
    """sha256 always, plus the repository's algorithm (md5 for Zenodo) when it gives one."""

    def __init__(self, repository: Checksum | None) -> None:
        names = ["sha256"]
        if repository and repository.algorithm not in names:
            names.append(repository.algorithm)
        self._hashes = {name: hashlib.new(name) for name in names}
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._hashes.values():
            h.update(data)
        self.size += len(data)

    def updaters(self, data: bytes | memoryview) -> list[Callable[[], None]]:
        """One call per algorithm that feeds it ``data``, to run in parallel threads (hashlib
        releases the GIL on large buffers); the size is counted now. Run every one of them,
        each once, before the next ``update``/``updaters``."""
        self.size += len(data)
        return [partial(h.update, data) for h in self._hashes.values()]

    def hexdigests(self) -> dict[str, str]:
        return {name: h.hexdigest() for name, h in self._hashes.items()}


def verify(
    digests: dict[str, str], size: int, repository: Checksum | None, expected_size: int | None
) -> tuple[bool, str]:
    """``(ok, verification text)`` for the manifest."""
    if expected_size is not None and size != expected_size:
        return False, f"size mismatch: {size} bytes, repository says {expected_size}"
    if repository is None:
        return True, "size only (the repository gives no checksum)" if expected_size is not None else "unverified"
    ours = digests.get(repository.algorithm)
    if ours != repository.hexdigest:
        return False, f"{repository.algorithm} mismatch: ours {ours}, repository {repository.hexdigest}"
    return True, f"{repository.algorithm} matches the repository"

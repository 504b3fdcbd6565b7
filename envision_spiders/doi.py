"""DOI normalisation: one spelling per DOI, whatever the repository wrote."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

_PREFIXES = re.compile(r"^\s*(?:doi:\s*|https?://(?:dx\.)?doi\.org/|https?://doi\.[a-z.]+/)", re.I)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
DOI_IN_TEXT = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>]+)", re.I)
_FIGSHARE_VERSION = re.compile(r"\.v\d+$")


def normalize_doi(value: str | None) -> str | None:
    """``https://doi.org/10.5281/ZENODO.1`` -> ``10.5281/zenodo.1``; None when not a DOI."""
    if not value:
        return None
    doi = _PREFIXES.sub("", value.strip())
    doi = doi.rstrip(".,;)").lower()
    doi = unquote(doi)
    return doi if _DOI.match(doi) else None


def strip_version_suffix(doi: str) -> str:
    """Figshare versions are ``<doi>.vN``; the bare DOI names the dataset across versions."""
    return _FIGSHARE_VERSION.sub("", doi)


def find_dois(text: str) -> list[str]:
    """Every DOI in free text, normalised, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in DOI_IN_TEXT.finditer(text or ""):
        doi = normalize_doi(match.group(1))
        if doi:
            seen.setdefault(doi)
    return list(seen)


def record_dois(record: Mapping[str, Any]) -> list[str]:
    """The DOIs that identify a record's dataset, normalised: its ``doi``, ``version_of`` and
    ``extra["alternate_dois"]``, each also without a Figshare ``.vN`` suffix."""
    candidates = [record.get("doi"), record.get("version_of")]
    candidates += (record.get("extra") or {}).get("alternate_dois", [])
    dois = []
    for value in candidates:
        doi = normalize_doi(value) if value else None
        if doi:
            dois.append(doi)
            bare = strip_version_suffix(doi)
            if bare != doi:
                dois.append(bare)
    return sorted(set(dois))

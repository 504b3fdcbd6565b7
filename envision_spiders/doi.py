"""DOI normalisation: one spelling per DOI, whatever the repository wrote."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

# Spellings of "this is a DOI" in front of one: doi:, info:doi/ (OpenURL), urn:doi:, and the
# resolver URLs with or without scheme, www. or dx. (doi.org and its older mirrors doi.*).
_PREFIXES = re.compile(
    r"^\s*(?:doi:\s*|info:doi/|urn:doi:|(?:https?://)?(?:www\.|dx\.)?doi\.org/|https?://doi\.[a-z.]+/)", re.I
)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
DOI_IN_TEXT = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>]+)", re.I)
# Figshare mints <dataset DOI>.v<N> per version: on figshare.com's prefix, and on the prefixes
# of Figshare-for-institutions portals (only a Figshare record says which those are).
# Elsewhere ".v2" is part of the DOI (10.5281/zenodo.x.v2 is no version of 10.5281/zenodo.x).
_FIGSHARE_VERSION = re.compile(r"\.v\d+$")
FIGSHARE_DOI_PREFIX = "10.6084/m9.figshare."
_TRAILING = ".,;:"


def normalize_doi(value: str | None) -> str | None:
    """``https://doi.org/10.5281/ZENODO.1`` -> ``10.5281/zenodo.1``; None when not a DOI."""
    if not value:
        return None
    if type(value) is str:
        return _normalized(value)
    return _normalize(value)


def _normalize(value: str) -> str | None:
    doi = unquote(_PREFIXES.sub("", value.strip()).lower())
    doi = _strip_trailing(doi)
    return doi if _DOI.match(doi) else None


# A crawl normalises each record's DOIs several times (its page object, then dedup's and the
# store's record_dois): ~2 µs each, a few hundred ns from this cache. Bounded, and only for
# strings (anything else from an API goes through _normalize and fails there as it did).
_normalized = functools.lru_cache(maxsize=4096)(_normalize)


def _strip_trailing(doi: str) -> str:
    """Drop sentence punctuation after a DOI, and a closing parenthesis only when it closes
    nothing inside the DOI (``10.1002/(sici)…(199711)…`` keeps its own parentheses)."""
    while doi:
        if doi[-1] in _TRAILING:
            doi = doi[:-1]
        elif doi[-1] == ")" and doi.count(")") > doi.count("("):
            doi = doi[:-1]
        else:
            break
    return doi


def strip_version_suffix(doi: str) -> str:
    """Figshare versions are ``<doi>.vN``; the bare DOI names the dataset across versions.
    For a DOI known to be Figshare's (``is_figshare_versioned`` says when that is known)."""
    return _FIGSHARE_VERSION.sub("", doi)


def is_figshare_versioned(doi: str, source: str | None = None) -> bool:
    """Whether ``.vN`` at the end of ``doi`` is a Figshare version: any DOI of a Figshare record
    (institutional portals mint on their own prefixes), else only ``10.6084/m9.figshare.*``."""
    return bool(_FIGSHARE_VERSION.search(doi)) and (source == "figshare" or doi.startswith(FIGSHARE_DOI_PREFIX))


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
    ``extra["alternate_dois"]``, a Figshare DOI also without its ``.vN`` suffix."""
    source = record.get("source")
    candidates = [record.get("doi"), record.get("version_of")]
    candidates += (record.get("extra") or {}).get("alternate_dois", [])
    dois = []
    for value in candidates:
        doi = normalize_doi(value) if value else None
        if doi:
            dois.append(doi)
            if is_figshare_versioned(doi, source):
                dois.append(strip_version_suffix(doi))
    return sorted(set(dois))

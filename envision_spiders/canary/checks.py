"""Pure drift checks over a canary crawl's records and listing pages (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from envision_spiders.schema import record_errors

# Record fields the spiders map from the APIs; a field filled in at least RELIABLE_SHARE of a
# source's stored records must be filled in at least one canary record.
MAPPED_FIELDS = ("title", "description", "url", "doi", "creators", "keywords", "license", "publication_date",
                 "modified", "files")
ALWAYS_MAPPED = ("title", "url")  # expected even with no stored record to compare with
RELIABLE_SHARE = 0.9


def filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def field_baseline(stored: Iterable[dict[str, Any]]) -> tuple[dict[str, float], int]:
    """``({field: share of records where it is filled}, number of records)``."""
    counts = dict.fromkeys(MAPPED_FIELDS, 0)
    total = 0
    for record in stored:
        total += 1
        for name in MAPPED_FIELDS:
            counts[name] += filled(record.get(name))
    return ({name: count / total for name, count in counts.items()} if total else {}), total


def record_drifts(source: str, records: list[dict[str, Any]], baseline: dict[str, float], stored: int) -> list[str]:
    """Schema breaks and mapped fields gone empty, one line each (none for a healthy sample)."""
    if not records:
        return [f"{source}: no record came back"]
    lines = []
    for record in records:
        errors = record_errors(record)
        if errors:
            lines.append(f"{source}: record {record.get('source_id')} breaks the schema: {errors[0]}"
                         + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
    expected = {name: share for name, share in baseline.items() if share >= RELIABLE_SHARE}
    if not stored:
        expected = dict.fromkeys(ALWAYS_MAPPED, 1.0)
    for name, share in expected.items():
        if not any(filled(record.get(name)) for record in records):
            before = f"filled in {share:.0%} of {stored} stored records" if stored else "always mapped"
            lines.append(f"{source}: field {name} is empty in all {len(records)} records ({before})")
    return lines


# --- listing pages ------------------------------------------------------------------------
def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _param(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _zenodo(url: str, data: Any) -> str | None:
    hits = data.get("hits") if isinstance(data, dict) else None
    if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
        return "search page has no hits.hits list"
    total, count = _int(hits.get("total")), len(hits["hits"])
    if total is None:
        return "search page has no hits.total"
    page, size = int(_param(url, "page") or 1), int(_param(url, "size") or count or 1)
    if total > (page - 1) * size + count and not (data.get("links") or {}).get("next"):
        return f"search page has no links.next although {total} hits remain past it"
    return None


def _json_api(total_of: Callable[[dict[str, Any]], Any], first_page: Callable[[str], bool]) -> Callable[[str, Any], str | None]:
    def check(url: str, data: Any) -> str | None:
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            return "listing page has no data list"
        total = _int(total_of(data))
        if first_page(url) and total is not None and total > len(data["data"]) and not (data.get("links") or {}).get("next"):
            return f"listing page has no links.next although total is {total}"
        return None

    return check


def _dryad(url: str, data: Any) -> str | None:
    if not isinstance(data, dict) or (data.get("count") and not isinstance(data.get("_embedded"), dict)):
        return "search page has no _embedded object"  # (Dryad leaves it out of an empty page)
    total, count = _int(data.get("total")), _int(data.get("count"))
    first = (_param(url, "page") or "1") == "1"
    if first and total is not None and count is not None and total > count and not (data.get("_links") or {}).get("next"):
        return f"search page has no _links.next although total is {total}"
    return None


def _array(url: str, data: Any) -> str | None:
    return None if isinstance(data, list) else "search page is not a JSON array"


def _nei(url: str, data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return "search page has no results list"
    return None if _int((data.get("meta") or {}).get("total")) is not None else "search page has no meta.total"


# source -> (is this URL a listing page?, its check)
LISTING_PROBES: dict[str, tuple[Callable[[str], bool], Callable[[str, Any], str | None]]] = {
    "zenodo": (lambda url: urlsplit(url).path.rstrip("/").endswith("/records"), _zenodo),
    "datacite": (lambda url: urlsplit(url).path.rstrip("/").endswith("/dois"),
                 _json_api(lambda d: (d.get("meta") or {}).get("total"), lambda url: _param(url, "page[cursor]") == "1")),
    "osf": (lambda url: urlsplit(url).path.rstrip("/").endswith("/nodes"),
            _json_api(lambda d: ((d.get("links") or {}).get("meta") or {}).get("total", (d.get("meta") or {}).get("total")),
                      lambda url: _param(url, "page") in (None, "1"))),
    "dryad": (lambda url: urlsplit(url).path.rstrip("/").endswith("/search"), _dryad),
    "figshare": (lambda url: urlsplit(url).path.rstrip("/").endswith("/articles/search"), _array),
    "kaggle": (lambda url: urlsplit(url).path.rstrip("/").endswith("/datasets/list"), _array),
    "nei": (lambda url: urlsplit(url).path.rstrip("/").endswith("/projects/search"), _nei),
}


def listing_drift(source: str, url: str, status: int, body: bytes) -> str | None:
    """One line when a listing page of ``source`` is not in its documented shape, else None."""
    probe = LISTING_PROBES.get(source)
    if probe is None or status != 200 or not probe[0](url):
        return None
    data = _json(body)
    problem = "listing page is not JSON" if data is None else probe[1](url, data)
    return f"{source}: {problem} ({url[:160]})" if problem else None

"""The record every spider emits. Field names keep the original pipeline's, so the portal keeps working.

Always handle items through ``itemadapter.ItemAdapter`` (or the helpers below, which read a
DatasetRecord directly and anything else through it); the JSON Schema in
``schema/record.schema.json`` is the contract for feeds and the per-record store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

import attrs


class FileEntry(TypedDict, total=False):
    """One file of a record, as the repository lists it."""

    name: str  # the file's own (relative) name; hostile input: never trust it as a path
    size: int | None  # bytes, when the repository says
    url: str | None  # download URL given by the API
    checksum: str | None  # "<algorithm>:<hex>" (md5, sha256, ...) as the repository gives it, else None
    mimetype: str | None
    access: str  # "open" | "token" (needs the source's token) | "restricted" | "link" (points elsewhere)


# the kinds of eye evidence a record can show (``eye_evidence``, written by the classifier:
# classifier/features.py reads them), strongest first; ``sides`` (left/right in file names) is the
# one that does not say *eye* on its own
SIDES = "sides"
EYE_EVIDENCE: tuple[str, ...] = ("words", "names", "dicom", "device", "folders", "dataset", "geometry", "eye_pair", SIDES)


def corroborated(kinds: Iterable[str]) -> bool:
    """Whether these kinds of eye evidence let a confident record through the download gate:
    any kind but ``sides`` on its own."""
    return any(kind != SIDES for kind in kinds)


@attrs.define(kw_only=True)
class DatasetRecord:
    # identity
    source: str
    source_id: str
    kind: str = "dataset"  # "dataset" | "grant" | "software" | ... as the repository types it
    doi: str | None = None  # normalised: lower-case, no resolver prefix
    url: str | None = None  # landing page
    api_url: str | None = None  # where the metadata came from
    # descriptive metadata
    title: str = ""
    description: str = ""
    keywords: list[str] = attrs.Factory(list)
    creators: list[str] = attrs.Factory(list)
    publication_date: str | None = None
    modified: str | None = None  # repository's last-modified stamp: drives incremental crawls
    access_type: str | None = None  # "open" | "restricted" | "embargoed" | "closed" | None
    license: str | None = None
    version: str | None = None
    version_of: str | None = None  # concept id / DOI that groups the versions of one dataset
    external_links: list[str] = attrs.Factory(list)
    related_dois: list[str] = attrs.Factory(list)
    # files and what they hold (portal counts include files inside inspected archives)
    files: list[FileEntry] = attrs.Factory(list)
    file_types: list[str] = attrs.Factory(list)
    file_names: list[str] = attrs.Factory(list)
    file_count: int = 0
    img_count: int = 0
    medical_count: int = 0
    archive_count: int = 0
    genomics_count: int = 0
    size_mb: float | None = None
    archive_contents: list[dict[str, Any]] = attrs.Factory(list)
    # classification (filled by the classifier pipeline)
    label: str | None = None
    confidence: float | None = None
    prob_eye_imaging: float | None = None
    prob_negative: float | None = None
    # the kinds of eye evidence in the record (classifier/features.py EYE_EVIDENCE); the download
    # gate wants one besides "sides"
    eye_evidence: list[str] | None = None
    # bookkeeping
    extra: dict[str, Any] = attrs.Factory(dict)  # source-specific facts worth keeping (grant years, ...)
    scraped_at: str | None = None
    duplicate_of: str | None = None  # "source:source_id" of the canonical record, when superseded


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in attrs.fields(DatasetRecord))
_FIELD_SET = frozenset(RECORD_FIELDS)


def record_to_dict(item: Any) -> dict[str, Any]:
    """A plain JSON-ready dict of an item. For a DatasetRecord, a new dict of its fields whose
    values are the record's own (its lists and dicts hold only JSON types, as the schema says):
    change the dict's keys freely, not what its values hold. ~2 µs, against ~19 µs for a deep
    copy (attrs.asdict) and ~10x that for ItemAdapter's."""
    if type(item) is DatasetRecord:
        return {name: getattr(item, name) for name in RECORD_FIELDS}
    from itemadapter import ItemAdapter

    return ItemAdapter(item).asdict()


def field_value(item: Any, name: str, default: Any = None) -> Any:
    """``ItemAdapter(item).get(name, default)``. A DatasetRecord's field is read directly: building
    an adapter costs ~2.5 µs (it asks each adapter class whether it fits, then lists the attrs
    fields), and the crawl's hot path asks this of every record in several places."""
    if type(item) is DatasetRecord:
        return getattr(item, name) if name in _FIELD_SET else default
    from itemadapter import ItemAdapter, is_item

    return ItemAdapter(item).get(name, default) if is_item(item) else default


def record_owner(item: Any) -> tuple[str, str] | None:
    """``(source, source_id)`` of an item that has both, as the state keys records; else None."""
    source, source_id = field_value(item, "source"), field_value(item, "source_id")
    if source is None or source_id is None:
        return None
    return str(source), str(source_id)

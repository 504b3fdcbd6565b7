"""Classify file names into kinds and compute the portal's file counts. Pure functions.

The counts include the entries listed inside inspected archives (``archive_contents``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".jp2"}
)
MEDICAL_EXTENSIONS = frozenset(
    {".dcm", ".dicom", ".nii", ".nii.gz", ".nrrd", ".mha", ".mhd", ".img", ".hdr", ".e2e", ".fda",
     ".fds", ".vol", ".oct", ".sdt"}
)
ARCHIVE_EXTENSIONS = frozenset(
    {".zip", ".tar", ".tar.gz", ".tgz", ".gz", ".bz2", ".tar.bz2", ".xz", ".tar.xz", ".7z", ".rar"}
)
GENOMICS_EXTENSIONS = frozenset(
    {".fastq", ".fq", ".fastq.gz", ".fq.gz", ".bam", ".sam", ".cram", ".vcf", ".vcf.gz", ".bed",
     ".fasta", ".fa", ".gtf", ".gff", ".h5ad", ".loom"}
)
TABULAR_EXTENSIONS = frozenset({".csv", ".tsv", ".xlsx", ".xls", ".parquet", ".json", ".sav", ".dta", ".rds"})
DOCUMENT_EXTENSIONS = frozenset({".pdf", ".doc", ".docx", ".txt", ".md", ".rtf", ".odt", ".pptx"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".wmv", ".mpg", ".mpeg"})

_DOUBLE_SUFFIXES = (".nii.gz", ".tar.gz", ".tar.bz2", ".tar.xz", ".fastq.gz", ".fq.gz", ".vcf.gz")

# Archives whose contents inspection can list, by extension -> format.
INSPECTABLE_ARCHIVES = {
    ".zip": "zip",
    ".tar": "tar",
    ".tar.gz": "tar.gz",
    ".tgz": "tar.gz",
    ".tar.bz2": "tar.bz2",
    ".tbz2": "tar.bz2",
    ".tar.xz": "tar.xz",
    ".txz": "tar.xz",
}
COUNTED_KINDS = ("image", "medical", "archive", "genomics")


def extension_of(name: str) -> str:
    """Lower-case extension with the dot, keeping known double suffixes (``.nii.gz``)."""
    base = posixpath.basename(name.replace("\\", "/")).lower()
    for suffix in _DOUBLE_SUFFIXES:
        if base.endswith(suffix):
            return suffix
    _, ext = posixpath.splitext(base)
    return ext


def kind_of(name: str) -> str:
    """One of image, medical, archive, genomics, tabular, document, video, other."""
    return kind_of_extension(extension_of(name))


def kind_of_extension(ext: str) -> str:
    """:func:`kind_of` for an extension as :func:`extension_of` gives it."""
    for kind, extensions in (
        ("image", IMAGE_EXTENSIONS),
        ("medical", MEDICAL_EXTENSIONS),
        ("archive", ARCHIVE_EXTENSIONS),
        ("genomics", GENOMICS_EXTENSIONS),
        ("tabular", TABULAR_EXTENSIONS),
        ("document", DOCUMENT_EXTENSIONS),
        ("video", VIDEO_EXTENSIONS),
    ):
        if ext in extensions:
            return kind
    return "other"


def archive_format(name: str) -> str | None:
    """``zip`` / ``tar`` / ``tar.gz`` / ``tar.bz2`` / ``tar.xz`` when inspection can list it."""
    return INSPECTABLE_ARCHIVES.get(extension_of(name))


def _archive_files(contents: Mapping[str, Any]) -> int:
    """Files inside one inspected archive: all of them when the total is known."""
    listed = int(contents.get("files_listed") or 0)
    total = contents.get("entries_total")
    if contents.get("status") != "complete" and isinstance(total, int):
        return max(listed, total - int(contents.get("dirs_listed") or 0))
    return listed


def summarise_files(
    file_names: list[str], archive_contents: Iterable[Mapping[str, Any]] | None = None
) -> dict:
    """The portal's counts over a record's own files plus the entries listed in its archives.

    ``file_count`` adds every file of an archive when its total is known (ZIP end record)
    even if only part was listed; the kind counts cover the listed entries.
    """
    extensions = [extension_of(name) for name in file_names]
    file_types = {ext for ext in extensions if ext}
    kinds = [kind_of_extension(ext) for ext in extensions]
    counts = {kind: kinds.count(kind) for kind in COUNTED_KINDS}
    file_count = len(file_names)
    for contents in archive_contents or ():
        for ext in contents.get("extensions") or {}:
            if ext.startswith("."):
                file_types.add(ext)
        inner_kinds = contents.get("kinds")
        if inner_kinds is None:  # older entries: derive from the extension table
            inner_kinds = {}
            for ext, n in (contents.get("extensions") or {}).items():
                kind = kind_of("x" + ext) if ext.startswith(".") else "other"
                inner_kinds[kind] = inner_kinds.get(kind, 0) + n
        for kind in COUNTED_KINDS:
            counts[kind] += int(inner_kinds.get(kind) or 0)
        file_count += _archive_files(contents)
    return {
        "file_types": sorted(file_types),
        "file_count": file_count,
        "img_count": counts["image"],
        "medical_count": counts["medical"],
        "archive_count": counts["archive"],
        "genomics_count": counts["genomics"],
    }


def portal_file_names(
    file_names: list[str],
    archive_contents: Iterable[Mapping[str, Any]] | None = None,
    *,
    limit: int = 200,
) -> list[str]:
    """The record's own names, then ``archive/entry`` samples from its archives, capped."""
    names = list(file_names[:limit])
    for contents in archive_contents or ():
        prefix = contents.get("name") or ""
        for inner in contents.get("sample_names") or []:
            if len(names) >= limit:
                return names
            names.append(f"{prefix}/{inner}")
    return names


def summarise(
    files: Iterable[Mapping[str, Any]],
    archive_contents: Iterable[Mapping[str, Any]] | None = None,
    *,
    name_limit: int = 200,
) -> dict:
    """All portal fields (counts, ``file_types``, ``file_names``) from ``files`` dicts."""
    names = [str(f.get("name") or "") for f in files]
    contents = list(archive_contents or ())
    summary = summarise_files(names, contents)
    summary["file_names"] = portal_file_names(names, contents, limit=name_limit)
    return summary

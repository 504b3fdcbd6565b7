"""File names from repositories and archives are hostile input: turn them into safe relative paths.

Pure functions, no I/O. The result never escapes the record's folder: no ``..``, no absolute
paths, no drive letters or UNC prefixes, no control characters, no empty segments.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote

# C0/C1 control characters and DEL; also characters Windows forbids in names
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FORBIDDEN = re.compile(r'[<>:"|?*]')
_DRIVE = re.compile(r"^[A-Za-z]:")
_RESERVED_WINDOWS = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
MAX_SEGMENT_BYTES = 200  # below the 255-byte limit of common file systems, room for ".part.json"
# our own bookkeeping files inside a record folder: a repository file may not shadow them
RESERVED_NAMES = {"manifest.json"}
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".part.json"


def _segment(raw: str) -> str | None:
    seg = _FORBIDDEN.sub("_", _CONTROL.sub("", raw)).strip().rstrip(".")
    if seg in {"", ".", ".."} or set(seg) <= {"."}:
        return None
    if seg.split(".")[0].lower() in _RESERVED_WINDOWS:
        seg = "_" + seg
    encoded = seg.encode("utf-8")
    if len(encoded) > MAX_SEGMENT_BYTES:  # keep the extension, make the cut unique with a hash
        digest = hashlib.sha256(encoded).hexdigest()[:12]
        suffix = PurePosixPath(seg).suffix[:20]
        keep = MAX_SEGMENT_BYTES - len(suffix.encode()) - 13
        head = encoded[:keep].decode("utf-8", "ignore")
        seg = f"{head}-{digest}{suffix}"
    return seg


def sanitize_relative_name(name: str, fallback: str = "file") -> str:
    """A safe POSIX relative path for a repository file name (``a/b.jpg`` stays ``a/b.jpg``).

    Backslashes count as separators; ``.``/``..``/empty segments are dropped; drive letters
    (``C:``), UNC (``\\\\host\\share``) and leading ``/`` are removed; control characters
    are stripped; over-long segments are shortened with a hash. A name with nothing usable
    left becomes ``fallback`` plus a short hash of the original, so distinct hostile names
    stay distinct. Our own ``manifest.json`` and ``*.part``/``*.part.json`` names are
    renamed with a leading ``_``.
    """
    text = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    text = _DRIVE.sub("", text)
    segments = [s for s in (_segment(raw) for raw in text.split("/")) if s]
    if not segments:
        return f"{fallback}-{hashlib.sha256(str(name).encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
    last = segments[-1]
    if (len(segments) == 1 and last.lower() in RESERVED_NAMES) or last.endswith((PART_SUFFIX, SIDECAR_SUFFIX)):
        segments[-1] = "_" + last
    return "/".join(segments)


def record_dir_name(source: str, source_id: str) -> str:
    """``{source}/{source_id}`` with both quoted into single safe segments (as the metadata store does)."""
    safe_source = quote(str(source), safe="-_")
    safe_id = quote(str(source_id), safe="-_.")
    if not safe_source or safe_id in {"", ".", ".."}:
        raise ValueError(f"unusable record id {source!r}:{source_id!r}")
    return f"{safe_source}/{safe_id}"


def unique_names(names: list[str]) -> list[str]:
    """Sanitised names, made unique case-insensitively (``a.jpg``, ``A.jpg`` -> ``A~2.jpg``)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        safe = sanitize_relative_name(name)
        candidate, n = safe, 1
        while candidate.lower() in seen:
            n += 1
            path = PurePosixPath(safe)
            candidate = str(path.with_name(f"{path.stem}~{n}{path.suffix}"))
        seen.add(candidate.lower())
        out.append(candidate)
    return out

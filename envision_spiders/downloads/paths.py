"""File names from repositories and archives are hostile input: turn them into safe relative paths.

Pure functions, no I/O. The result never escapes the record's folder: no ``..``, no absolute
paths, no drive letters or UNC prefixes, no control characters, no empty segments. Names are
also safe to show and to copy to Windows or macOS: no bidirectional controls (``U+202E``
makes ``gpj.exe`` read as ``exe.jpg``), no device names (``CON .txt``, ``COM¹``), no trailing
dots or spaces, and ``unique_names`` keeps a record's names apart case-insensitively, from
each other's folders, and from our ``.part``/``.part.json`` bookkeeping files.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote

# C0/C1 control characters and DEL; bidirectional controls (embeddings, overrides, isolates,
# marks); line/paragraph separators and the BOM; also characters Windows forbids in names
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]")
_FORBIDDEN = re.compile(r'[<>:"|?*]')
_DRIVE = re.compile(r"^[A-Za-z]:")
# Windows device names, whatever the extension; the superscript digits count as digits there
_DEVICE_DIGITS = "0123456789\u00b9\u00b2\u00b3"
_RESERVED_WINDOWS = {
    "con", "prn", "aux", "nul", "conin$", "conout$",
    *(f"com{d}" for d in _DEVICE_DIGITS), *(f"lpt{d}" for d in _DEVICE_DIGITS),
}
MAX_SEGMENT_BYTES = 200  # below the 255-byte limit of common file systems, room for ".part.json"
# our own bookkeeping files inside a record folder: a repository file may not shadow them
RESERVED_NAMES = {"manifest.json"}
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".part.json"


def _segment(raw: str) -> str | None:
    # Windows drops trailing dots and spaces: "a. ." is "a" there
    seg = _FORBIDDEN.sub("_", _CONTROL.sub("", raw)).strip().rstrip(". ")
    if seg in {"", ".", ".."} or set(seg) <= {"."}:
        return None
    # "CON .txt" and "con.tar.gz" are the console device too
    if seg.split(".")[0].rstrip(" ").lower() in _RESERVED_WINDOWS:
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
    # case-insensitively: on Windows and macOS "x.PART" is the part file of "x"
    if (len(segments) == 1 and last.lower() in RESERVED_NAMES) or last.lower().endswith((PART_SUFFIX, SIDECAR_SUFFIX)):
        segments[-1] = "_" + last
    return "/".join(segments)


def record_dir_name(source: str, source_id: str) -> str:
    """``{source}/{source_id}`` with both quoted into single safe segments (as the metadata store does)."""
    safe_source = quote(str(source), safe="-_")
    safe_id = quote(str(source_id), safe="-_.")
    if not safe_source or safe_id in {"", ".", ".."}:
        raise ValueError(f"unusable record id {source!r}:{source_id!r}")
    return f"{safe_source}/{safe_id}"


def _numbered(name: str, n: int) -> str:
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}~{n}{path.suffix}"))


def unique_names(names: list[str]) -> list[str]:
    """Sanitised names, one per input, that cannot overwrite each other on any file system.

    Compared case-insensitively (``a.jpg``, ``A.jpg`` -> ``A~2.jpg``). A file and a folder of
    one name cannot both exist: the later one is numbered (``data`` then ``data/x.png`` ->
    ``data~2/x.png``, and every later file of that folder follows it). A file's ``.part`` and
    ``.part.json`` names are taken with it, so no other file lands on them.
    """
    taken: set[str] = set()  # lower-cased file paths, with their .part/.part.json names
    folders: set[str] = set()  # lower-cased folder paths
    renamed_folders: dict[str, str] = {}  # lower-cased sanitised folder -> the folder used
    out: list[str] = []
    for name in names:
        parts = sanitize_relative_name(name).split("/")
        folder = ""
        for part in parts[:-1]:
            wanted = f"{folder}{part}"
            chosen = renamed_folders.get(wanted.lower())
            if chosen is None:
                chosen, n = wanted, 1
                while chosen.lower() in taken:  # a file has this name: number the folder
                    n += 1
                    chosen = f"{folder}{part}~{n}"
                renamed_folders[wanted.lower()] = chosen
                folders.add(chosen.lower())
            folder = chosen + "/"
        safe = folder + parts[-1]
        candidate, n = safe, 1
        while any(c in taken or c in folders for c in _claims(candidate)):
            n += 1
            candidate = _numbered(safe, n)
        taken.update(_claims(candidate))
        out.append(candidate)
    return out


def _claims(path: str) -> tuple[str, str, str]:
    """The lower-cased names a file occupies: itself and its download bookkeeping files."""
    lower = path.lower()
    return lower, lower + PART_SUFFIX, lower + SIDECAR_SUFFIX

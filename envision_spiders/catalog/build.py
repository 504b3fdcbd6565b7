"""Build ``catalog.sqlite`` from the record store, incrementally and without any lock on the store.

Each stored file is remembered in ``catalog_files`` with its mtime, size and SHA-1: a rebuild
reads only files whose mtime or size changed, rewrites only records whose bytes changed, and
drops records whose file is gone. Files are read, never locked: the store replaces them
atomically, so a build that runs beside a crawl sees each record either before or after a
write, and the next build catches up. The state DB is never opened. The catalog itself is in
WAL mode, so ``--where`` queries and datasette read while a build writes (in short batches).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from envision_spiders.catalog.datasette import datasette_metadata
from envision_spiders.catalog.fields import as_text, record_paths
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.db import format_owner
from envision_spiders.state.store import LocalRecords, RecordBackend

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
METADATA_FILE = "catalog.metadata.json"
SCHEMA_VERSION = 1
CONTAINS = "envision_contains"  # SQL function: ``~`` on a column value

# Top-level record fields copied into columns of ``records`` (for datasette, facets and the
# SQL prefilter of --where). Columns carry no type affinity: values keep their JSON type.
RECORD_COLUMNS = (
    "source", "source_id", "kind", "doi", "title", "url", "label", "confidence", "prob_eye_imaging",
    "license", "access_type", "publication_date", "modified", "version", "file_count", "img_count",
    "medical_count", "archive_count", "size_mb", "scraped_at",
)
FILE_COLUMNS = ("name", "size", "url", "checksum", "mimetype", "access")
ARCHIVE_COLUMNS = ("name", "format", "status", "size", "entries_total", "files_listed", "uncompressed_size")
IMAGE_COLUMNS = (
    "name", "format", "width", "height", "depth", "frames", "dims", "channels", "bits", "modality",
    "body_part", "laterality",
)


def _ddl() -> str:
    record_cols = ", ".join(f"{c}" for c in RECORD_COLUMNS[2:])
    return f"""
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, source, source_id, {record_cols},
    modalities, body_parts, image_formats, dims, archive_entries, images_sniffed,
    irregular INTEGER NOT NULL DEFAULT 0, path TEXT NOT NULL, record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_source ON records(source);
CREATE INDEX IF NOT EXISTS records_label ON records(label, confidence);
CREATE INDEX IF NOT EXISTS records_license ON records(license);
CREATE INDEX IF NOT EXISTS records_img_count ON records(img_count);
CREATE INDEX IF NOT EXISTS records_doi ON records(doi);
CREATE TABLE IF NOT EXISTS duplicates (
    key TEXT PRIMARY KEY, source, source_id, duplicate_of TEXT REFERENCES records(key), doi, title,
    path TEXT NOT NULL, record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS duplicates_of ON duplicates(duplicate_of);
CREATE TABLE IF NOT EXISTS files (
    record_id INTEGER NOT NULL REFERENCES records(id), position INTEGER, {", ".join(FILE_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS files_record ON files(record_id);
CREATE INDEX IF NOT EXISTS files_name ON files(name);
CREATE TABLE IF NOT EXISTS archives (
    id INTEGER PRIMARY KEY, record_id INTEGER NOT NULL REFERENCES records(id), position INTEGER,
    {", ".join(ARCHIVE_COLUMNS)}, images_sniffed INTEGER
);
CREATE INDEX IF NOT EXISTS archives_record ON archives(record_id);
CREATE TABLE IF NOT EXISTS archive_entries (
    record_id INTEGER NOT NULL REFERENCES records(id), archive_id INTEGER REFERENCES archives(id), name
);
CREATE INDEX IF NOT EXISTS archive_entries_record ON archive_entries(record_id);
CREATE INDEX IF NOT EXISTS archive_entries_name ON archive_entries(name);
CREATE TABLE IF NOT EXISTS images (
    record_id INTEGER NOT NULL REFERENCES records(id), archive_id INTEGER REFERENCES archives(id),
    {", ".join(IMAGE_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS images_record ON images(record_id);
CREATE INDEX IF NOT EXISTS images_modality ON images(modality);
CREATE INDEX IF NOT EXISTS images_format ON images(format);
CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(title, description, keywords, names);
CREATE TABLE IF NOT EXISTS catalog_files (
    path TEXT PRIMARY KEY, key TEXT NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, sha1 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fields (path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS builds (
    id INTEGER PRIMARY KEY, finished_at TEXT, seen INTEGER, read INTEGER, written INTEGER,
    removed INTEGER, unreadable INTEGER, seconds REAL
);
"""


def catalog_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / CATALOG_FILE


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit); ``readonly`` never writes."""
    if readonly:
        if not Path(path).exists():
            raise FileNotFoundError(f"no catalog at {path}: run `scrapy catalog` first")
        conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, isolation_level=None)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_ddl())
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.create_function(CONTAINS, 2, _contains, deterministic=True)
    return conn


def _contains(value: Any, text: str) -> bool:
    """``~`` on a column value, exactly as :meth:`Condition.matches` decides it."""
    return value is not None and text.casefold() in as_text(value).casefold()


@dataclass
class BuildSummary:
    catalog: str
    seen: int = 0  # stored files found
    read: int = 0  # files whose mtime/size changed (read and hashed)
    written: int = 0  # records (re)written into the catalog (their bytes changed)
    removed: int = 0  # records whose file is gone
    unreadable: int = 0  # files that are not a JSON record (left out, retried next build)
    records: int = 0  # canonical records in the catalog after the build
    duplicates: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scalar(value: Any) -> tuple[Any, bool]:
    """(column value, regular): lists, objects, booleans and non-finite numbers are irregular (the
    SQL prefilter cannot stand for them, so their record is always checked in Python)."""
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value, True
    if isinstance(value, float) and math.isfinite(value):
        return value, True
    return (json.dumps(value) if isinstance(value, list | dict) else str(value)), False


class _Writer:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.irregular = False

    def col(self, value: Any) -> Any:
        if type(value) in _PLAIN:
            return value
        value, regular = _scalar(value)
        self.irregular |= not regular
        return value

    def delete(self, key: str) -> None:
        row = self.conn.execute("SELECT id FROM records WHERE key = ?", (key,)).fetchone()
        if row:
            rid = row[0]
            for table in ("files", "archive_entries", "images", "archives"):
                self.conn.execute(f"DELETE FROM {table} WHERE record_id = ?", (rid,))
            self.conn.execute("DELETE FROM records_fts WHERE rowid = ?", (rid,))
            self.conn.execute("DELETE FROM records WHERE id = ?", (rid,))
        self.conn.execute("DELETE FROM duplicates WHERE key = ?", (key,))

    def insert(self, key: str, rel: str, record: dict[str, Any], text: str) -> None:
        if record.get("duplicate_of"):
            self.conn.execute(
                "INSERT INTO duplicates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, *(_scalar(record.get(c))[0] for c in ("source", "source_id", "duplicate_of", "doi", "title")),
                 rel, text),
            )
            return
        self.irregular = False
        files = [f for f in _list(record.get("files")) if isinstance(f, dict)]
        archives = [a for a in _list(record.get("archive_contents")) if isinstance(a, dict)]
        images = [(a, i) for a in archives for i in _list(a.get("images")) if isinstance(i, dict)]
        samples = [(a, n) for a in archives for n in _list(a.get("sample_names"))]
        columns = [self.col(record.get(c)) for c in RECORD_COLUMNS]
        facets = [
            _distinct(i.get(name) for _, i in images) for name in ("modality", "body_part", "format", "dims")
        ]
        cursor = self.conn.execute(
            f"INSERT INTO records (key, {', '.join(RECORD_COLUMNS)}, modalities, body_parts, image_formats, dims, "
            f"archive_entries, images_sniffed, irregular, path, record_json) VALUES "
            f"({', '.join('?' * (len(RECORD_COLUMNS) + 10))})",
            (key, *columns, *facets, sum(_int(a.get("entries_total")) for a in archives), len(images), 0, rel, text),
        )
        rid = cursor.lastrowid
        self.conn.executemany(
            f"INSERT INTO files VALUES (?, ?, {', '.join('?' * len(FILE_COLUMNS))})",
            [(rid, n, *(self.col(f.get(c)) for c in FILE_COLUMNS)) for n, f in enumerate(files)],
        )
        archive_ids: dict[int, int] = {}
        for n, archive in enumerate(archives):
            cur = self.conn.execute(
                f"INSERT INTO archives (record_id, position, {', '.join(ARCHIVE_COLUMNS)}, images_sniffed) "
                f"VALUES (?, ?, {', '.join('?' * len(ARCHIVE_COLUMNS))}, ?)",
                (rid, n, *(self.col(archive.get(c)) for c in ARCHIVE_COLUMNS), len(_list(archive.get("images")))),
            )
            archive_ids[id(archive)] = cur.lastrowid
        self.conn.executemany(
            "INSERT INTO archive_entries VALUES (?, ?, ?)",
            [(rid, archive_ids[id(a)], self.col(name)) for a, name in samples],
        )
        self.conn.executemany(
            f"INSERT INTO images VALUES (?, ?, {', '.join('?' * len(IMAGE_COLUMNS))})",
            [(rid, archive_ids[id(a)], *(self.col(i.get(c)) for c in IMAGE_COLUMNS)) for a, i in images],
        )
        names = [f.get("name") for f in files] + [name for _, name in samples] + [i.get("name") for _, i in images]
        self.conn.execute(
            "INSERT INTO records_fts (rowid, title, description, keywords, names) VALUES (?, ?, ?, ?, ?)",
            (rid, _text(record.get("title")), _text(record.get("description")),
             " ".join(map(_text, _list(record.get("keywords")))), " ".join(map(_text, names))),
        )
        if self.irregular:
            self.conn.execute("UPDATE records SET irregular = 1 WHERE id = ?", (rid,))


_PLAIN = frozenset({str, int, type(None)})


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _distinct(values: Iterable[Any]) -> str | None:
    found = sorted({str(v) for v in values if v not in (None, "")})
    return json.dumps(found) if found else None


def build_catalog(data_dir: str | Path, path: str | Path | None = None, batch: int = 500,
                  records: RecordBackend | None = None) -> BuildSummary:
    """Bring ``{data_dir}/catalog.sqlite`` (or ``path``) up to date with the store: ``records``
    (the files under ``data_dir`` by default; ``S3Records`` for ``ENVISION_STORE_URL``). The
    catalog itself is always a local file."""
    started = time.monotonic()
    data_dir = Path(data_dir)
    records = records if records is not None else LocalRecords(data_dir)
    path = Path(path) if path else catalog_path(data_dir)
    summary = BuildSummary(catalog=str(path))
    conn = connect(path)
    try:
        known = {row[0]: row[1:] for row in conn.execute("SELECT path, key, mtime_ns, size, sha1 FROM catalog_files")}
        seen: set[str] = set()
        present = {row[0] for row in known.values()}  # keys with rows in the catalog
        pending: list[tuple[str, int, int, str, dict[str, Any] | None, str, str]] = []
        paths: set[str] = set()
        for stored in records.listing():
            rel = stored.name
            seen.add(rel)
            old = known.get(rel)
            if old and old[1] == stored.stamp and old[2] == stored.size:
                continue
            try:
                raw = stored.read()
            except FileNotFoundError:  # replaced or removed under us: the next build sees it
                continue
            summary.read += 1
            digest = hashlib.sha1(raw).hexdigest()
            if old and old[3] == digest:  # touched, not changed
                pending.append((rel, stored.stamp, stored.size, digest, None, old[0], ""))
            else:
                try:
                    text = raw.decode("utf-8").rstrip("\n")
                    record = json.loads(text)
                    key = format_owner((record["source"], str(record["source_id"])))
                except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
                    summary.unreadable += 1
                    logger.warning("catalog: %s is not a stored record (%s): left out", rel, exc)
                    continue
                paths |= record_paths(record)
                pending.append((rel, stored.stamp, stored.size, digest, record, key, text))
            if len(pending) >= batch:
                summary.written += _flush(conn, pending, known, present, paths)
                pending, paths = [], set()
        summary.written += _flush(conn, pending, known, present, paths)
        summary.seen = len(seen)
        gone = [rel for rel in known if rel not in seen]
        for start in range(0, len(gone), batch):
            conn.execute("BEGIN IMMEDIATE")
            writer = _Writer(conn)
            for rel in gone[start : start + batch]:
                writer.delete(known[rel][0])
                conn.execute("DELETE FROM catalog_files WHERE path = ?", (rel,))
            conn.execute("COMMIT")
        summary.removed = len(gone)
        summary.records = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        summary.duplicates = conn.execute("SELECT count(*) FROM duplicates").fetchone()[0]
        summary.seconds = round(time.monotonic() - started, 3)
        conn.execute(
            "INSERT INTO builds (finished_at, seen, read, written, removed, unreadable, seconds) "
            "VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?, ?, ?, ?, ?, ?)",
            (summary.seen, summary.read, summary.written, summary.removed, summary.unreadable, summary.seconds),
        )
    finally:
        conn.close()
    write_json_atomic(path.with_name(METADATA_FILE), datasette_metadata(path))
    return summary


def _flush(
    conn: sqlite3.Connection, pending: list, known: dict[str, tuple], present: set[str], paths: set[str]
) -> int:
    if not pending:
        return 0
    written = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        writer = _Writer(conn)
        for rel, mtime_ns, size, digest, record, key, text in pending:
            if record is None:  # same bytes: only the file's mtime moved
                conn.execute("UPDATE catalog_files SET mtime_ns = ?, size = ? WHERE path = ?", (mtime_ns, size, rel))
                continue
            old = known.get(rel)
            if old and old[0] != key:
                writer.delete(old[0])
                present.discard(old[0])
            if key in present:  # only then are there rows to replace (a first build has none)
                writer.delete(key)
            present.add(key)
            writer.insert(key, rel, record, text)
            conn.execute("INSERT OR REPLACE INTO catalog_files VALUES (?, ?, ?, ?, ?)", (rel, key, mtime_ns, size, digest))
            written += 1
        conn.executemany("INSERT OR IGNORE INTO fields VALUES (?)", [(p,) for p in sorted(paths)])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return written

"""Building the catalog from a hand-made store: incremental rebuilds, duplicates, concurrency with
crawls (no state DB lock, WAL readers), and the exact meaning of conditions on odd values."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from envision_spiders.catalog import (
    FieldError,
    build_catalog,
    catalog_path,
    connect,
    parse_condition,
    select_records,
    values_at,
)
from envision_spiders.catalog.query import fts_query
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.store import record_path


def rec(source: str, source_id: str, **fields: Any) -> dict[str, Any]:
    return {"source": source, "source_id": source_id, "title": f"{source} {source_id}", "files": [], **fields}


def put(data: Path, record: dict[str, Any]) -> Path:
    path = record_path(data, record["source"], record["source_id"])
    write_json_atomic(path, record)
    return path


def keys(conn: sqlite3.Connection, *where: tuple[str, str, str], **kw: Any) -> list[str]:
    return [s.key for s in select_records(conn, [parse_condition(*w) for w in where], **kw)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    put(data, rec("zenodo", "1", label="EYE_IMAGING", confidence=0.9, keywords=["OCT", "retina"],
                  files=[{"name": "scans.zip", "size": 10}], doi="10.5281/zenodo.1"))
    put(data, rec("figshare", "7", label="NEGATIVE", confidence=0.2, files=[{"name": "a.csv", "size": 3}]))
    put(data, rec("datacite", "10.5281/zenodo.1", duplicate_of="zenodo:1", doi="10.5281/zenodo.1"))
    return data


def test_first_build_writes_every_record_and_links_duplicates(data):
    summary = build_catalog(data)
    assert (summary.seen, summary.read, summary.written, summary.records, summary.duplicates) == (3, 3, 3, 2, 1)
    conn = connect(catalog_path(data), readonly=True)
    assert conn.execute("SELECT key, duplicate_of FROM duplicates").fetchall() == [
        ("datacite:10.5281/zenodo.1", "zenodo:1")]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (catalog_path(data).with_name("catalog.metadata.json")).exists()


def test_rebuild_reads_only_changed_files_and_follows_moves_and_removals(data):
    build_catalog(data)
    assert build_catalog(data).read == 0
    z1 = record_path(data, "zenodo", "1")
    os.utime(z1, ns=(1, 1))  # touched, same bytes: read, hashed, nothing rewritten
    touched = build_catalog(data)
    assert (touched.read, touched.written) == (1, 0)
    # a crawl marks figshare:7 a copy of zenodo:1 and rewrites zenodo:1; another file disappears
    put(data, rec("figshare", "7", duplicate_of="zenodo:1"))
    put(data, rec("zenodo", "1", label="EYE_IMAGING", confidence=0.95))
    record_path(data, "datacite", "10.5281/zenodo.1").unlink()
    summary = build_catalog(data)
    assert (summary.read, summary.written, summary.removed, summary.records, summary.duplicates) == (2, 2, 1, 1, 1)
    conn = connect(catalog_path(data), readonly=True)
    assert keys(conn) == ["zenodo:1"]
    assert keys(conn, ("confidence", "=", "0.95")) == ["zenodo:1"]
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0  # the old child rows went with it
    assert conn.execute("SELECT count(*) FROM records_fts").fetchone()[0] == 1


def test_build_never_touches_the_state_db_and_readers_see_a_consistent_catalog(data):
    state = sqlite3.connect(data / "state.sqlite3", isolation_level=None)
    state.execute("CREATE TABLE t (x)")
    state.execute("BEGIN EXCLUSIVE")  # a crawl holding the state's write lock for the whole build
    try:
        assert build_catalog(data).written == 3
    finally:
        state.execute("ROLLBACK")
    writer = sqlite3.connect(catalog_path(data), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM records")
    reader = connect(catalog_path(data), readonly=True)
    assert keys(reader) == ["figshare:7", "zenodo:1"]  # WAL: the open write is invisible, not blocking
    writer.execute("ROLLBACK")


def test_a_file_that_is_not_a_record_is_left_out_and_retried(data, caplog):
    bad = record_path(data, "osf", "broken")
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    summary = build_catalog(data)
    assert (summary.unreadable, summary.records) == (1, 2)
    assert "not a stored record" in caplog.text
    put(data, rec("osf", "broken"))
    assert build_catalog(data).written == 1


def test_conditions_on_irregular_values_are_still_exact(tmp_path):
    data = tmp_path / "data"
    put(data, rec("x", "list-licence", license=["cc0-1.0", "mit"], confidence="0.8"))
    put(data, rec("x", "text-count", img_count="12", files=[{"name": "A.ZIP", "size": "big"}]))
    put(data, rec("x", "plain", license="mit", img_count=9, confidence=0.85, extra={"site": "Lyon"}))
    build_catalog(data)
    conn = connect(catalog_path(data), readonly=True)
    assert keys(conn, ("license", "=", "mit")) == ["x:list-licence", "x:plain"]
    assert keys(conn, ("license", "!=", "mit")) == ["x:list-licence"]  # some licence is not mit
    assert keys(conn, ("license", "~", "CC0")) == ["x:list-licence"]
    assert keys(conn, ("img_count", "!=", "9")) == ["x:text-count"]
    assert keys(conn, ("confidence", ">=", "0.8")) == ["x:list-licence", "x:plain"]  # "0.8" compares as text
    assert keys(conn, ("img_count", ">", "10")) == ["x:text-count"]  # 9 < 10 as numbers; "12" > "10" as text
    assert keys(conn, ("img_count", "=", "12")) == ["x:text-count"]
    assert keys(conn, ("files.size", "=", "big")) == ["x:text-count"]
    assert keys(conn, ("files.name", "~", "a.zip")) == ["x:text-count"]
    assert keys(conn, ("extra.site", "in", "Paris, Lyon")) == ["x:plain"]


def test_values_at_walks_lists_and_ends_on_object_keys():
    record = {"archive_contents": [{"images": [{"width": 5}, {"width": None}], "extensions": {".png": 2}},
                                   {"images": [{"width": 7}]}], "keywords": ["a", "b"]}
    assert values_at(record, "archive_contents.images.width") == [5, 7]
    assert values_at(record, "archive_contents.extensions") == [".png"]
    assert values_at(record, "keywords") == ["a", "b"]
    assert values_at(record, "files.name") == []


def test_unknown_fields_and_operators_are_refused():
    with pytest.raises(FieldError, match="unknown field 'nosuch'"):
        parse_condition("nosuch", "=", "1")
    with pytest.raises(FieldError, match="unknown operator 'like'"):
        parse_condition("label", "like", "EYE")
    assert parse_condition("extra.anything", "=", "1").field == "extra.anything"


def test_search_terms_become_quoted_fts_phrases():
    assert fts_query('slit-lamp OCT "x') == '"slit lamp" AND "OCT" AND "x"'
    with pytest.raises(FieldError):
        fts_query("-- !!")


@pytest.mark.parametrize("irregular", [False, True], ids=["sql-order", "python-order"])
def test_sort_puts_numbers_before_text_missing_last_ties_by_key_both_ways(tmp_path, irregular):
    data = tmp_path / "data"
    for sid, confidence in [("a", 0.5), ("b", "high"), ("c", None), ("d", 0.9), ("e", 0.5)]:
        put(data, rec("x", sid, confidence=confidence))
    if irregular:  # a list somewhere sends the ordering to Python, which must agree with SQL
        put(data, rec("x", "f", confidence=[0.1, 0.95]))
    build_catalog(data)
    conn = connect(catalog_path(data), readonly=True)
    ascending = ["x:a", "x:e", "x:d", "x:b", "x:c"]
    descending = ["x:b", "x:d", "x:a", "x:e", "x:c"]
    if irregular:  # sorted by its smallest value ascending, its largest descending
        ascending.insert(0, "x:f")
        descending.insert(1, "x:f")
    assert keys(conn, sort="confidence") == ascending
    assert keys(conn, sort="confidence:desc") == descending
    assert keys(conn, sort="confidence:desc", limit=2) == descending[:2]


def test_two_files_claiming_one_record_give_one_row(data):
    build_catalog(data)
    original = record_path(data, "zenodo", "1")
    (original.parent / "1-copy.json").write_bytes(original.read_bytes())  # copied by hand
    summary = build_catalog(data)
    assert (summary.written, summary.records) == (1, 2)
    conn = connect(catalog_path(data), readonly=True)
    assert keys(conn, ("source", "=", "zenodo")) == ["zenodo:1"]


def test_a_build_beside_a_writing_crawl_catches_up_on_the_next_build(tmp_path):
    data = tmp_path / "data"
    for n in range(300):
        put(data, rec("zenodo", str(n), confidence=0.0))
    stop = threading.Event()

    def crawl() -> None:  # rewrites records through the store's atomic writer while the build reads
        round_ = 0
        while not stop.is_set():
            round_ += 1
            for n in range(0, 300, 7):
                put(data, rec("zenodo", str(n), confidence=round_ / 1000))
            put(data, rec("figshare", str(round_)))

    writer = threading.Thread(target=crawl)
    writer.start()
    try:
        for _ in range(3):
            summary = build_catalog(data)
            assert summary.unreadable == 0  # never a half-written file
    finally:
        stop.set()
        writer.join()
    build_catalog(data)
    conn = connect(catalog_path(data), readonly=True)
    expected = {f"{r['source']}:{r['source_id']}": r for r in (
        json.loads(p.read_text()) for p in (data / "metadata").glob("*/*.json"))}
    assert {s.key: s.record for s in select_records(conn)} == expected

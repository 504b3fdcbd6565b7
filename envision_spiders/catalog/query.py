"""Selecting catalog records: ``--where`` conditions, ``--search`` words, ``--sort``, ``--limit``.

Conditions are evaluated in Python on the stored JSON (:class:`Condition.holds`), so their
meaning is exactly the one ``fields.py`` documents. SQL only narrows the candidates: the FTS5
index for ``--search``, and for a condition on a field that has a column (``label``,
``confidence``, ``files.name``, ``archive_contents.images.modality``, ...) a clause that is true
for every record the condition could hold for (records with irregular values always pass it).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

from envision_spiders.catalog.build import ARCHIVE_COLUMNS, CONTAINS, FILE_COLUMNS, IMAGE_COLUMNS, RECORD_COLUMNS
from envision_spiders.catalog.fields import (
    Condition,
    FieldError,
    as_number,
    as_text,
    is_known,
    parse_number,
    values_at,
)

# field path -> (table, column) whose rows hold exactly the values the path reaches
COLUMNS: dict[str, tuple[str, str]] = {name: ("records", name) for name in RECORD_COLUMNS}
COLUMNS.update({f"files.{c}": ("files", c) for c in FILE_COLUMNS})
COLUMNS.update({f"archive_contents.{c}": ("archives", c) for c in ARCHIVE_COLUMNS})
COLUMNS["archive_contents.sample_names"] = ("archive_entries", "name")
COLUMNS.update({f"archive_contents.images.{c}": ("images", c) for c in IMAGE_COLUMNS})



class Selected:
    """A selected record: its key, its text exactly as stored, and the record (parsed on demand).
    The text is read from the catalog on first use: SQL sorts and filters ids, not JSON."""

    __slots__ = ("_conn", "_record", "_text", "id", "key")

    def __init__(self, conn: sqlite3.Connection, rid: int, key: str) -> None:
        self._conn = conn
        self.id = rid
        self.key = key
        self._text: str | None = None
        self._record: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._conn.execute("SELECT record_json FROM records WHERE id = ?", (self.id,)).fetchone()[0]
        return self._text

    @property
    def record(self) -> dict[str, Any]:
        if self._record is None:
            self._record = json.loads(self.text)
        return self._record


def observed_fields(conn: sqlite3.Connection) -> frozenset[str]:
    return frozenset(row[0] for row in conn.execute("SELECT path FROM fields"))


def fts_query(text: str) -> str:
    """Every whitespace-separated term must occur; a term with punctuation is a phrase of its words."""
    phrases = []
    for term in text.split():
        words = re.findall(r"\w+", term)
        if words:
            phrases.append('"' + " ".join(words) + '"')
    if not phrases:
        raise FieldError(f"--search {text!r} has no words to look for")
    return " AND ".join(phrases)


def _prefilter(condition: Condition) -> tuple[str, list[Any], bool] | None:
    """A SQL clause over ``records r`` true for every record ``condition`` can hold for, and
    whether it is exact (true only for those) on records without irregular values."""
    target = COLUMNS.get(condition.field)
    if target is None:
        return None
    table, column = target
    col = f"{'r' if table == 'records' else 'c'}.{column}"
    clauses: list[str] = []
    params: list[Any] = []
    exact = True
    if condition.op == "~":  # the same Python test, on the column's value
        clauses = [f"{CONTAINS}({col}, ?)"]
        params = [condition.value]
    elif condition.op == "!=":  # some value that is not equal
        clauses = [f"({col} IS NOT NULL AND NOT ({col} = ? OR {col} = ?))"]
        params = [condition.value, condition.value if condition.number is None else condition.number]
    elif condition.op in ("=", "in"):
        for item in condition.items or (condition.value,):
            number = condition.number if condition.op == "=" else parse_number(item)
            clauses.append(f"{col} = ?")
            params.append(item)
            if number is not None:
                clauses.append(f"{col} = ?")
                params.append(number)
    elif condition.number is not None:  # numbers compare as numbers, text as text
        clauses = [f"(typeof({col}) IN ('integer', 'real') AND {col} {condition.op} ?)",
                   f"(typeof({col}) = 'text' AND {col} {condition.op} ?)"]
        params = [condition.number, condition.value]
    else:  # numbers compare as Python's text of them: left to Python
        clauses = [f"{col} {condition.op} ?", f"typeof({col}) IN ('integer', 'real')"]
        params = [condition.value]
        exact = False
    where = " OR ".join(clauses)
    if table == "records":
        return f"(r.irregular = 1 OR {where})", params, exact
    return f"(r.irregular = 1 OR r.id IN (SELECT c.record_id FROM {table} c WHERE {where}))", params, exact


def check_field(conn: sqlite3.Connection, path: str, what: str = "--sort") -> None:
    if not is_known(path, observed_fields(conn)):
        raise FieldError(f"unknown field {path!r} in {what} (scrapy catalog --fields lists them)")


def _sort_key(value: Any) -> tuple[int, float, str]:
    number = as_number(value)
    return (0, number, "") if number is not None else (1, 0.0, as_text(value))


def select_records(
    conn: sqlite3.Connection,
    conditions: list[Condition] = (),  # type: ignore[assignment]
    search: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
) -> list[Selected]:
    """The canonical records for which every condition holds and every search word occurs,
    sorted by ``sort`` (``FIELD`` or ``FIELD:desc``: by the smallest value ascending, the
    largest descending; records without the field last), else by key; at most ``limit``."""
    sort_field, descending = None, False
    if sort:
        sort_field, _, direction = sort.partition(":")
        if direction not in ("", "asc", "desc"):
            raise FieldError(f"--sort {sort!r}: the direction is asc or desc")
        descending = direction == "desc"
        check_field(conn, sort_field)
    where, params = ["1"], []
    check: list[Condition] = []  # conditions SQL does not decide exactly for regular records
    for condition in conditions:
        clause = _prefilter(condition)
        if clause:
            where.append(clause[0])
            params += clause[1]
        if not clause or not clause[2]:
            check.append(condition)
    if search:
        where.append("r.id IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
        params.append(fts_query(search))
    order = "r.key"
    sort_column = COLUMNS.get(sort_field or "", ("", ""))
    if sort_column[0] == "records" and not conn.execute("SELECT 1 FROM records WHERE irregular = 1 LIMIT 1").fetchone():
        # one plain value per record: SQL orders as _sort_key does (numbers before text, missing last)
        order = f"(r.{sort_column[1]} IS NULL), r.{sort_column[1]}{' DESC' if descending else ''}, r.key"
        sort_field = None
    sql = f"SELECT r.id, r.key, r.irregular FROM records r WHERE {' AND '.join(where)} ORDER BY {order}"
    matched = _matching(conn, conn.execute(sql, params).fetchall(), conditions, check)
    if sort_field is None:
        out = []
        for selected in matched:
            out.append(selected)
            if limit is not None and len(out) >= limit:
                break
        return out
    keyed, missing = [], []
    for selected in matched:
        values = values_at(selected.record, sort_field)
        if values:
            keys = [_sort_key(v) for v in values]
            keyed.append((max(keys) if descending else min(keys), selected))
        else:
            missing.append(selected)
    if descending:  # ties stay in key order either way
        keyed.sort(key=lambda pair: (_Desc(pair[0]), pair[1].key))
    else:
        keyed.sort(key=lambda pair: (pair[0], pair[1].key))
    ordered = [s for _, s in keyed] + missing
    return ordered[:limit] if limit is not None else ordered


class _Desc:
    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.key == other.key


def _matching(
    conn: sqlite3.Connection, rows: list[tuple[int, str, int]], conditions: list[Condition], check: list[Condition]
) -> Iterator[Selected]:
    for rid, key, irregular in rows:
        selected = Selected(conn, rid, key)
        if all(condition.holds(selected.record) for condition in (conditions if irregular else check)):
            yield selected

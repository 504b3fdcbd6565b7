"""Dotted field paths into a stored record, and the conditions ``--where`` builds from them.

Pure: records in, values out. A path walks dict keys; a list met on the way (``files``,
``archive_contents``, ``images``, ``keywords``) is walked element by element, so a path yields
every value it reaches, and a condition holds when *any* of them satisfies it. A path that ends
on an object (``archive_contents.extensions``) yields the object's keys. ``None`` is no value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from envision_spiders.inspection.report import new_report
from envision_spiders.schema import record_schema

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "in")

# the keys inspection's sniffers write into archive_contents[].images[] (inspection/sniff.py, drivers.py)
IMAGE_FIELDS = (
    "name", "format", "width", "height", "depth", "frames", "dims", "channels", "bits", "modality",
    "body_part", "laterality", "sop_class", "compression", "bytes_read", "error",
)
# objects whose keys are data, not schema: any key below them is a valid path
FREE_FORM = ("extra", "archive_contents.extensions", "archive_contents.kinds")


class FieldError(ValueError):
    """An unknown field or operator, or a value that cannot be compared: one line for the user."""


@cache
def schema_fields() -> tuple[str, ...]:
    """Every path the record schema and the inspection report define, in a stable order."""
    schema = record_schema()
    paths = list(schema["properties"])
    paths += [f"files.{name}" for name in schema["$defs"]["file"]["properties"]]
    paths += [f"archive_contents.{name}" for name in new_report({}, "")]
    paths += [f"archive_contents.images.{name}" for name in IMAGE_FIELDS]
    return tuple(dict.fromkeys(paths))


def is_known(path: str, observed: set[str] | frozenset[str] = frozenset()) -> bool:
    if path in observed or path in schema_fields():
        return True
    return any(path.startswith(prefix + ".") and len(path) > len(prefix) + 1 for prefix in FREE_FORM)


def record_paths(record: Any) -> set[str]:
    """The dotted paths present in ``record`` (lists walked, free-form objects not descended)."""
    found: set[str] = set()
    level: dict[str, list[Any]] = {"": [record]}
    while level:
        deeper: dict[str, list[Any]] = {}
        for base, nodes in level.items():
            dicts = [node for node in nodes if isinstance(node, dict)]
            keys: set[str] = set()
            for node in dicts:
                keys.update(node)
            for key in keys:
                path = f"{base}.{key}" if base else key
                found.add(path)
                if path in FREE_FORM:
                    continue
                below: list[Any] = []
                for node in dicts:
                    value = node.get(key)
                    if isinstance(value, list):
                        below.extend(value)
                    elif isinstance(value, dict):
                        below.append(value)
                if below:
                    deeper[path] = below
        level = deeper
    return found


def values_at(record: dict[str, Any], path: str) -> list[Any]:
    """Every non-null value ``path`` reaches in ``record``; lists are walked element by element."""
    nodes: list[Any] = [record]
    for part in path.split("."):
        reached: list[Any] = []
        for node in nodes:
            if isinstance(node, dict) and part in node:
                value = node[part]
                if isinstance(value, list):
                    reached.extend(value)
                else:
                    reached.append(value)
        nodes = reached
    values: list[Any] = []
    for node in nodes:
        if isinstance(node, dict):
            values.extend(node)
        elif isinstance(node, list):
            values.extend(v for v in node if v is not None)
        elif node is not None:
            values.append(node)
    return values


def non_empty(values: list[Any]) -> bool:
    return any(v != "" and v != [] and v != {} for v in values)


def as_number(value: Any) -> float | None:
    """A JSON number as float; strings and booleans are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Condition:
    """``FIELD OP VALUE``: numbers compare as numbers when both sides are numbers, else as text."""

    field: str
    op: str
    value: str
    number: float | None = None
    items: tuple[str, ...] = field(default=())

    def holds(self, record: dict[str, Any]) -> bool:
        return any(self.matches(value) for value in values_at(record, self.field))

    def matches(self, value: Any) -> bool:
        if self.op == "~":
            return self.value.casefold() in as_text(value).casefold()
        if self.op == "in":
            return any(_equal(value, item, parse_number(item)) for item in self.items)
        if self.op == "=":
            return _equal(value, self.value, self.number)
        if self.op == "!=":
            return not _equal(value, self.value, self.number)
        left: Any
        right: Any
        number = as_number(value)
        if number is not None and self.number is not None:
            left, right = number, self.number
        else:
            left, right = as_text(value), self.value
        if self.op == "<":
            return left < right
        if self.op == "<=":
            return left <= right
        if self.op == ">":
            return left > right
        return left >= right


def _equal(value: Any, text: str, number: float | None) -> bool:
    left = as_number(value)
    if left is not None and number is not None:
        return left == number
    return as_text(value) == text


def parse_condition(path: str, op: str, value: str, observed: set[str] | frozenset[str] = frozenset()) -> Condition:
    """A checked condition; :class:`FieldError` for an unknown field or operator."""
    if op not in OPERATORS:
        raise FieldError(f"unknown operator {op!r} in --where {path} {op} {value} (use one of: {' '.join(OPERATORS)})")
    if not is_known(path, observed):
        raise FieldError(f"unknown field {path!r} in --where (scrapy catalog --fields lists them)")
    items = tuple(item.strip() for item in value.split(",")) if op == "in" else ()
    return Condition(path, op, value, parse_number(value), items)

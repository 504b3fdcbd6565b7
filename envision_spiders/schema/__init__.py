"""The record's JSON Schema (the contract of feeds and of the per-record store)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


@cache
def record_schema() -> dict[str, Any]:
    return json.loads(files(__package__).joinpath("record.schema.json").read_text(encoding="utf-8"))


@cache
def record_validator() -> Draft202012Validator:
    # imported here: modules that only read the schema (the catalog's field list, loaded with
    # the catalog command by every `scrapy` invocation) do not pay jsonschema's ~25 ms import
    from jsonschema import Draft202012Validator

    return Draft202012Validator(record_schema())


def record_errors(record: dict[str, Any]) -> list[str]:
    """Every way ``record`` breaks the schema, as readable strings (empty when valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<record>'}: {e.message}"
        for e in record_validator().iter_errors(record)
    ]

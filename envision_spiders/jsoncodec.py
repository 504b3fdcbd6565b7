"""JSON encoding for the crawl's per-record writes: the record store's files and the JSON-lines feeds.

What enters: a record as a plain dict (or anything JSON-ready). What leaves: UTF-8 JSON bytes,
one line ending in a newline, written by orjson (here ~10x faster than the stdlib's C encoder on
a record: 1.3 µs against 12.5 µs). The parsed value is what the stdlib would have written: an
object orjson does not encode as the stdlib does (a key that is not a string, an integer beyond
64 bits, a float subclass such as numpy's, a type only ``default`` knows) makes orjson refuse
the whole value, which is then encoded by the stdlib exactly as before. One difference is
deliberate: a float that is not finite (NaN, ±Infinity, which are not JSON) is written as
``null`` where the stdlib wrote ``NaN``. Only whitespace differs otherwise (no blank after
``:`` and ``,``). Who calls it: ``state.store.record_bytes`` and the feeds' exporter
(``exports.feeds.RecordJsonLinesExporter``). Decoding stays with the stdlib: orjson reads an
integer beyond 64 bits as a float, and refuses NaN and lone surrogates, which API pages carry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_LINE = orjson.OPT_APPEND_NEWLINE
_SORTED_LINE = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SORT_KEYS
# dates and dataclasses go to ``default`` as they do with the stdlib, not to orjson's own formats
_AS_STDLIB = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_line(obj: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None) -> bytes:
    """``obj`` as one line of UTF-8 JSON (not ASCII-escaped) ending in ``\\n``; ``default`` turns
    an object JSON does not know into one it does (as ``json.dumps``' ``default``)."""
    try:
        return orjson.dumps(obj, default=default, option=(_SORTED_LINE if sort_keys else _LINE) | _AS_STDLIB)
    except TypeError:
        return (json.dumps(obj, ensure_ascii=False, sort_keys=sort_keys, default=default) + "\n").encode("utf-8")

"""jsoncodec.json_line: orjson's bytes, parsed as the stdlib's would be; the stdlib where orjson refuses."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import numpy as np
from scrapy.utils.serialize import ScrapyJSONEncoder

from envision_spiders.jsoncodec import json_line

RECORD = {
    "title": "Fundus photographs — Ångström & 眼底",
    "source": "zenodo",
    "size_mb": 302.112,
    "files": [{"name": "images.zip", "size": 302_100_000, "checksum": None}],
    "extra": {"version_order": 4, "communities": ["ophthalmology"], "flag": True},
    "confidence": 0.9375,
}


def stdlib(obj, sort_keys=False, default=None) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, sort_keys=sort_keys, default=default) + "\n").encode("utf-8")


def test_a_record_reads_back_as_the_stdlib_wrote_it_keys_sorted():
    line = json_line(RECORD, sort_keys=True)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == json.loads(stdlib(RECORD, sort_keys=True)) == RECORD
    assert list(json.loads(line)) == sorted(RECORD)
    assert "眼底".encode() in line  # UTF-8, not \\u escapes


def test_key_order_is_kept_without_sort_keys():
    assert list(json.loads(json_line(RECORD))) == list(RECORD)


def test_what_orjson_refuses_is_written_by_the_stdlib():
    for value in ({1: "int key"}, {"big": 2**70}, {"numpy": np.float64(1.5)}):
        assert json_line(value) == stdlib(value)


def test_default_sees_what_it_sees_with_the_stdlib():
    default = ScrapyJSONEncoder().default
    value = {"when": datetime.datetime(2026, 12, 5, 8, 0), "ids": {3}, "price": Decimal("1.10")}
    assert json.loads(json_line(value, default=default)) == json.loads(stdlib(value, default=default))


def test_a_float_that_is_not_finite_is_written_as_null():
    assert json.loads(json_line({"confidence": float("nan")})) == {"confidence": None}

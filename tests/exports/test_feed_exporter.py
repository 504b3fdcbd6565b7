"""The JSON-lines exporter of the feeds writes what Scrapy's exporter writes (parsed, in the same key order)."""

from __future__ import annotations

import io
import json

import attrs
from scrapy.exporters import JsonLinesItemExporter
from scrapy.settings.default_settings import FEED_EXPORTERS_BASE as DEFAULT_FEED_EXPORTERS

from envision_spiders import settings
from envision_spiders.exports.feeds import RecordJsonLinesExporter
from envision_spiders.items import DatasetRecord

RECORD = DatasetRecord(
    source="zenodo", source_id="7", doi="10.5281/zenodo.7", title="Fundus — Ångström 眼底",
    files=[{"name": "a.zip", "size": 10, "url": None, "checksum": "md5:00", "access": "open"}],
    file_names=["a.zip"], size_mb=0.0, extra={"version_order": 7, "communities": []}, confidence=0.5,
)


def export(exporter_class, items, **options) -> bytes:
    out = io.BytesIO()
    exporter = exporter_class(out, **options)
    exporter.start_exporting()
    for item in items:
        exporter.export_item(item)
    exporter.finish_exporting()
    return out.getvalue()


def lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines()]


def test_a_record_line_parses_as_scrapys_with_the_same_key_order():
    ours = export(RecordJsonLinesExporter, [RECORD, RECORD], encoding="utf-8")
    scrapys = export(JsonLinesItemExporter, [RECORD, RECORD], encoding="utf-8")
    assert lines(ours) == lines(scrapys)
    assert [list(line) for line in lines(ours)] == [list(line) for line in lines(scrapys)]
    assert ours != scrapys  # written directly (compact), not by Scrapy's path


def test_other_items_and_options_take_scrapys_path_unchanged():
    item = {"source": "zenodo", "source_id": "7"}
    assert export(RecordJsonLinesExporter, [item], encoding="utf-8") == export(JsonLinesItemExporter, [item], encoding="utf-8")
    for options in ({"encoding": "utf-8", "fields_to_export": ["source", "title"]}, {"encoding": "latin-1"},
                    {"encoding": None}, {"encoding": "utf-8", "sort_keys": True}):
        record = attrs.evolve(RECORD, title="Fundus, Angstrom")  # latin-1 can hold it
        assert export(RecordJsonLinesExporter, [record], **options) == export(JsonLinesItemExporter, [record], **options)


def test_json_lines_feeds_use_it_whatever_the_format_is_called():
    jsonlines = {name for name, path in DEFAULT_FEED_EXPORTERS.items() if path.endswith("JsonLinesItemExporter")}
    assert {name: settings.FEED_EXPORTERS.get(name) for name in jsonlines} == dict.fromkeys(
        jsonlines, "envision_spiders.exports.feeds.RecordJsonLinesExporter")

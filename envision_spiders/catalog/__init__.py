"""The catalog: a queryable SQLite copy of the per-record store, for people who want to look.

What enters: the stored record files (``{ENVISION_DATA_DIR}/metadata/{source}/{id}.json``), read
without any lock and never through the state DB. What leaves: ``{ENVISION_DATA_DIR}/catalog.sqlite``
(one row per canonical record with the record's JSON as stored, duplicates linked to it, child
tables for files, archives, archive entry samples and sniffed images, an FTS5 index) plus a
``catalog.metadata.json`` for datasette; selections of records (``--where``/``--search``) and the
per-source key coverage table. Who calls it: the ``scrapy catalog`` command
(``envision_spiders/commands/catalog.py``); tests and the benchmark call :func:`build_catalog`,
:func:`select_records` and :func:`coverage` directly.
"""

from envision_spiders.catalog.build import BuildSummary, build_catalog, catalog_path, connect
from envision_spiders.catalog.coverage import coverage
from envision_spiders.catalog.fields import Condition, FieldError, parse_condition, values_at
from envision_spiders.catalog.query import select_records

__all__ = [
    "BuildSummary",
    "Condition",
    "FieldError",
    "build_catalog",
    "catalog_path",
    "connect",
    "coverage",
    "parse_condition",
    "select_records",
    "values_at",
]

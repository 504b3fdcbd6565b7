"""The catalog and the report over an object store (ENVISION_STORE_URL=s3://…): the real
``scrapy catalog`` / ``scrapy report`` against a local S3-protocol server, the catalog itself a
local file that follows the objects as it follows files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from scrapy.settings import Settings

from envision_spiders.catalog import build_catalog
from envision_spiders.state.db import open_state
from envision_spiders.state.store import RecordStore, S3Records, StoreConfig, open_records
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.s3 import S3Server


def record(source_id: str, title: str, label: str = "EYE_IMAGING") -> dict:
    return {"source": "zenodo", "source_id": source_id, "doi": f"10.5281/zenodo.{source_id}", "title": title,
            "label": label, "confidence": 0.9, "scraped_at": "t1", "duplicate_of": None, "files": []}


def object_store(server: S3Server, tmp_path: Path) -> tuple[dict[str, str], RecordStore]:
    settings = {"ENVISION_DATA_DIR": str(tmp_path / "data"), "ENVISION_STORE_URL": f"s3://{server.bucket()}/crawl",
                **server.settings()}
    config = StoreConfig.from_settings(Settings(settings))
    return settings, RecordStore(config, open_state(None, tmp_path / "data"))


def test_catalog_follows_the_objects_it_is_built_from(s3_server: S3Server, tmp_path: Path) -> None:
    settings, store = object_store(s3_server, tmp_path)
    for n in range(3):
        store.write(record(str(n), f"fundus set {n}"), [f"10.5281/zenodo.{n}"], "m", "t1")
    records = open_records(StoreConfig.from_settings(Settings(settings)))
    assert isinstance(records, S3Records)
    data = tmp_path / "data"
    first = build_catalog(data, records=records)
    assert (first.read, first.written, first.seen) == (3, 3, 3)
    again = build_catalog(data, records=records)
    assert again.read == 0 and again.written == 0  # ETags unchanged: no object is read again
    store.write(record("1", "fundus set 1, second version"), ["10.5281/zenodo.1"], "m2", "t2")
    store.backend.client.delete_object(Bucket=store.backend.location.bucket, Key=store.backend.key(("zenodo", "2")))
    changed = build_catalog(data, records=records)
    assert changed.read == 1 and changed.seen == 2
    assert not (data / "metadata").exists()  # records stayed in the object store


def test_scrapy_catalog_and_report_read_the_object_store(s3_server: S3Server, tmp_path: Path) -> None:
    settings, store = object_store(s3_server, tmp_path)
    store.write(record("7", "OCT volumes of the macula"), ["10.5281/zenodo.7"], "m", "t1")
    store.write(record("8", "Chest radiographs", label="NEGATIVE"), ["10.5281/zenodo.8"], "m", "t1")

    def scrapy(*args: str) -> str:
        cmd = scrapy_command(*args)
        for key, value in settings.items():
            cmd += ["-s", f"{key}={value}"]
        done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    assert json.loads(scrapy("catalog"))["written"] == 2
    selected = [json.loads(line) for line in scrapy("catalog", "--where", "label", "=", "EYE_IMAGING", "--format", "jsonl").splitlines()]
    assert [r["source_id"] for r in selected] == ["7"]
    report = json.loads(scrapy("report"))["report"]
    assert report["records"] == 2 and report["eye_imaging"] == 1
    assert "OCT volumes of the macula" in (tmp_path / "data" / "report" / "index.html").read_text()

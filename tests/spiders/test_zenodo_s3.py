"""A whole crawl on object storage: ``scrapy crawl zenodo`` against the fake Zenodo with
``ENVISION_STORE_URL=s3://…`` (records and the portal feeds, through Scrapy's S3 feed storage)
and ``FILES_STORE=s3://…`` (gated downloads), on an S3-protocol server (moto) on loopback.
Checked through the object store's own listing and GETs; a second crawl skips every unchanged
record (existence by HEAD), and ``scrapy results`` reads the records back from the bucket."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from envision_spiders.downloads.paths import sanitize_relative_name
from tests.conftest import PROJECT_ROOT, run_crawl, scrapy_command, scrapy_env
from tests.labels import label_for
from tests.servers.nginx import NginxServer
from tests.servers.s3 import S3Server
from tests.servers.zenodo import FakeZenodo
from tests.spiders.test_zenodo_download import pipelines


def test_crawl_stores_records_feeds_and_downloads_in_the_bucket(
    s3_server: S3Server, nginx: NginxServer, tmp_path: Path
) -> None:
    s3, bucket, n = s3_server, s3_server.bucket(), 12
    payloads: dict[str, dict[str, bytes]] = {}
    for i in range(1, n + 1):
        recid = str(100000 + 2 * i)
        files = {f"images/{i}-eye.jpg": hashlib.sha256(f"s3img{i}".encode()).digest() * 500}
        for key, data in files.items():
            nginx.put(f"s3crawl/records/{recid}/files/{key}", data)
        payloads[recid] = files
    fake = FakeZenodo(n_records=n, html_base=f"{nginx.origin}/s3crawl", files_root=nginx.root / "s3crawl")
    settings = {
        **s3.settings(),
        "ENVISION_STORE_URL": f"s3://{bucket}/crawl",
        "FILES_STORE": f"s3://{bucket}/files",
        "ENVISION_DOWNLOAD": True,
        "ITEM_PIPELINES": pipelines(),
    }
    fake.start()
    try:
        zenodo = {"ZENODO_API_URL": f"{fake.base_url}/api"}
        first = run_crawl("zenodo", tmp_path, settings={**settings, **zenodo}, name="first")
        second = run_crawl("zenodo", tmp_path, settings={**settings, **zenodo}, name="second")
    finally:
        fake.stop()
    assert first.returncode == 0, first.log[-4000:]
    assert len(first.items) == n  # the local -O feed is unchanged

    keys = s3.keys(bucket)
    records = [k for k in keys if k.startswith("crawl/metadata/zenodo/")]
    assert len(records) == n
    stored = {json.loads(s3.get(bucket, k))["source_id"]: json.loads(s3.get(bucket, k)) for k in records}
    assert set(stored) == {item["source_id"] for item in first.items}
    assert not (tmp_path / "data" / "metadata").exists() and not (tmp_path / "data" / "feeds").exists()

    # the portal feeds went to the bucket through Scrapy's S3 feed storage, one pair per run
    feeds = sorted(k for k in keys if k.startswith("crawl/feeds/zenodo/"))
    assert len(feeds) == 4 and sum(k.endswith(".all.jsonl") for k in feeds) == 2
    all_lines = s3.get(bucket, min(k for k in feeds if k.endswith(".all.jsonl"))).decode().splitlines()
    assert sorted(json.loads(line)["source_id"] for line in all_lines) == sorted(stored)
    eye = s3.get(bucket, min(k for k in feeds if k.endswith(".eye_imaging.jsonl"))).decode().splitlines()
    assert eye and all(json.loads(line)["label"] == "EYE_IMAGING" for line in eye)

    # gated downloads: objects verified by hashing what the store gives back
    labels = {sid: label_for(rec["title"]) for sid, rec in stored.items()}
    gated = {sid for sid, (label, confidence) in labels.items()
             if label == "EYE_IMAGING" and confidence >= 0.80 and stored[sid]["access_type"] == "open"}
    assert gated == {"100006", "100012", "100024"}
    for recid in gated:
        manifest = json.loads(s3.get(bucket, f"files/zenodo/{recid}/manifest.json"))
        assert manifest["status"] == "complete"
        for name, data in payloads[recid].items():
            key = f"files/zenodo/{recid}/{sanitize_relative_name(name)}"
            assert s3.sha256(bucket, key) == hashlib.sha256(data).hexdigest()
    assert not [k for k in keys if k.startswith("files/") and k.split("/")[2] not in gated]

    # the second crawl found every record stored (HEAD) and unchanged
    assert second.returncode == 0, second.log[-4000:]
    assert second.stats["envision/incremental/unchanged"] == n and second.items == []

    # `scrapy results` reads the records from the bucket
    proc = subprocess.run(
        scrapy_command("results", "-s", f"ENVISION_DATA_DIR={tmp_path / 'data'}",
                       "-s", f"ENVISION_STORE_URL=s3://{bucket}/crawl",
                       *[a for k, v in s3.settings().items() for a in ("-s", f"{k}={v}")]),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["sources"]["zenodo"]["all"] == n

"""Done-means of gated downloads: ``scrapy crawl zenodo -s ENVISION_DOWNLOAD=1`` against the fake
Zenodo (record metadata) and nginx (the files) leaves verified files and manifests for exactly
the gated records.

Labels come from a test-only pipeline (``tests/labels.py``) in the classifier's slot, so the
gated set is known in advance and the test does not depend on the model's predictions.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from scrapy.utils.project import get_project_settings

from envision_spiders.downloads.paths import sanitize_relative_name
from tests.conftest import run_crawl
from tests.labels import label_for
from tests.servers.nginx import NginxServer
from tests.servers.zenodo import FakeZenodo


def pipelines() -> str:
    configured = dict(get_project_settings().getdict("ITEM_PIPELINES"))
    configured = {k: v for k, v in configured.items() if not k.endswith("ClassifierPipeline")}
    configured["tests.labels.TitleLabelPipeline"] = 400
    return json.dumps(configured)


def test_crawl_with_downloads_fetches_exactly_the_gated_records(nginx: NginxServer, tmp_path: Path) -> None:
    n = 12
    payloads: dict[str, dict[str, bytes]] = {}
    for i in range(1, n + 1):
        recid = str(100000 + 2 * i)
        files = {
            f"images/{i}-eye.jpg": hashlib.sha256(f"img{i}".encode()).digest() * 500,
            "labels.csv": f"id,grade\n{i},2\n".encode(),
        }
        if i == 6:
            files["volumes/big.bin"] = hashlib.sha512(b"big").digest() * (1_200_000 // 64)  # > chunk threshold
        for key, data in files.items():
            nginx.put(f"records/{recid}/files/{key}", data)
        payloads[recid] = files
    fake = FakeZenodo(n_records=n, html_base=nginx.origin, files_root=nginx.root)
    fake.start()
    try:
        result = run_crawl(
            "zenodo",
            tmp_path,
            settings={
                "ZENODO_API_URL": f"{fake.base_url}/api",
                "ENVISION_DOWNLOAD": True,
                "ITEM_PIPELINES": pipelines(),
                "ENVISION_DOWNLOAD_CHUNK_SIZE": 256 * 1024,
                "ENVISION_DOWNLOAD_CHUNK_THRESHOLD": 512 * 1024,
            },
        )
    finally:
        fake.stop()
    assert result.returncode == 0, result.log[-4000:]
    assert len(result.items) == n
    downloads = tmp_path / "data" / "downloads" / "zenodo"
    gated = set()
    for item in result.items:
        label, confidence = label_for(item["title"])
        assert (item["label"], item["confidence"]) == (label, confidence)
        if label == "EYE_IMAGING" and confidence >= 0.80 and item["access_type"] == "open":
            gated.add(item["source_id"])
    assert gated == {"100006", "100012", "100024"}  # fundus #6/#12 (0.95), slit-lamp #3 (0.91); #9 is restricted
    assert {p.name for p in downloads.iterdir()} == gated
    for recid in gated:
        man = json.loads((downloads / recid / "manifest.json").read_text())
        assert man["status"] == "complete" and man["doi"] == f"10.5281/zenodo.{recid}"
        assert {f["name"] for f in man["files"]} == set(payloads[recid])
        for entry in man["files"]:
            data = payloads[recid][entry["name"]]
            assert entry["status"] == "complete" and entry["md5"] == hashlib.md5(data).hexdigest()
            assert entry["url"].startswith(f"{nginx.origin}/records/{recid}/files/")
            assert (downloads / recid / sanitize_relative_name(entry["name"])).read_bytes() == data
    big = json.loads((downloads / "100012" / "manifest.json").read_text())
    assert {f["mode"] for f in big["files"]} == {"whole", "ranged"}
    assert result.stats["envision/download/records/complete"] == 3
    assert result.stats["envision/download/records/not_gated"] == n - 3

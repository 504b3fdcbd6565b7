"""Gated downloads from the fake Zenodo + a real nginx (``scrapy crawl … -s ENVISION_DOWNLOAD=1``,
``scrapy download``), then ``scrapy export``: only gated, complete records are exported, and the
tree loads with ``datasets`` offline with the counts the archives hold."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.store import record_path
from tests.conftest import PROJECT_ROOT, run_crawl, scrapy_command, scrapy_env
from tests.inspection.helpers import dicom
from tests.servers.nginx import NginxServer, find_nginx
from tests.servers.zenodo import FakeZenodo
from tests.spiders.test_zenodo_download import pipelines
from tests.trainingset.builders import class_tar, image_bytes, kermany_zip
from tests.trainingset.test_export_command import _hostile_zip, expected_from_archives


def _entry(nginx: NginxServer, key: str, name: str, data: bytes, md5: bytes | None = None) -> dict:
    return {"name": name, "size": len(data), "url": nginx.put(f"export/{key}/{name}", data),
            "checksum": "md5:" + hashlib.md5(md5 if md5 is not None else data).hexdigest(), "access": "open"}


def _store(data: Path, source: str, source_id: str, files: list[dict], **fields) -> None:
    record = {"source": source, "source_id": source_id, "title": f"{source} {source_id}", "label": "EYE_IMAGING",
              "confidence": 0.95, "eye_evidence": ["words"], "access_type": "open", "doi": f"10.1234/{source}.{source_id}",
              "license": "cc-by-4.0", "files": files, **fields}
    write_json_atomic(record_path(data, source, source_id), record)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(scrapy_command(*args), cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True,
                          timeout=180)


def test_downloaded_gated_records_export_and_load_with_datasets(nginx: NginxServer, tmp_path, monkeypatch):
    data = tmp_path / "data"
    _store(data, "zenodo", "1", [_entry(nginx, "z1", "OCT2017.zip", kermany_zip())])
    _store(data, "figshare", "22", [_entry(nginx, "f22", "set.tar.gz", class_tar(dicom())),
                                    _entry(nginx, "f22", "extra/NORMAL/n1.png", image_bytes(3000))])
    # not gated (NEGATIVE), and a download that fails its checksum: neither is exported
    _store(data, "zenodo", "8", [_entry(nginx, "z8", "neg/CNV/a.png", image_bytes(8000))], label="NEGATIVE")
    _store(data, "zenodo", "9", [_entry(nginx, "z9", "bad/CNV/b.png", image_bytes(9000), md5=b"other")])
    download = _run("download", "-s", f"ENVISION_DATA_DIR={data}", "-s", "DOWNLOAD_DELAY=0")  # local nginx
    assert download.returncode == 1, download.stderr[-2000:]  # zenodo:9 failed verification, as intended
    assert json.loads(download.stdout.strip().splitlines()[-1])["download"]["records/complete"] == 2

    dest = tmp_path / "dest"
    proc = _run("export", str(dest), "--json", "--label-by", "folder", "--split", "train=0.8,test=0.2", "--seed", "1",
                "-s", f"ENVISION_DATA_DIR={data}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["datasets"] == ["figshare:22", "zenodo:1"]
    assert summary["downloads_not_complete"][0].startswith("zenodo:9 (failed: 1 of 1 files (bad/CNV/b.png: md5 mismatch")

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    loaded = datasets.load_dataset("imagefolder", data_dir=str(dest), cache_dir=str(tmp_path / "hf"))
    per_split = {name: Counter(loaded[name]["label"]) for name in loaded}
    assert per_split == summary["splits"]
    assert sum(per_split.values(), Counter()) == expected_from_archives(data)
    assert {r["doi"] for r in loaded["train"]} == {"10.1234/zenodo.1", "10.1234/figshare.22"}


def test_crawl_gated_downloads_then_export(tmp_path, monkeypatch):
    """The whole chain: ``scrapy crawl zenodo -s ENVISION_DOWNLOAD=1`` against the fake Zenodo
    (files served by nginx), then ``scrapy export``: only the gated records' images come out."""
    if find_nginx() is None:
        pytest.skip("nginx is not installed")
    uploads = {
        100006: {"OCT2017.zip": kermany_zip()},  # #3 slit-lamp, 0.91: gated
        100012: {"set.tar.gz": class_tar(dicom()), "extra/NORMAL/n1.png": image_bytes(3000)},  # #6 fundus: gated
        100024: {"evil.zip": _hostile_zip()},  # #12 fundus: gated
        100002: {"below/CNV/a.png": image_bytes(6000)},  # #1 OCT, 0.70: below the threshold
        100018: {"closed/CNV/b.png": image_bytes(6001)},  # #9 slit-lamp, restricted
    }
    with NginxServer(tmp_path / "nginx") as nginx:  # its own root: the fake lists what is in it
        for recid, files in uploads.items():
            for name, payload in files.items():
                nginx.put(f"records/{recid}/files/{name}", payload)
        fake = FakeZenodo(n_records=12, html_base=nginx.origin, files_root=nginx.root)
        fake.start()
        try:
            crawl = run_crawl("zenodo", tmp_path, settings={
                "ZENODO_API_URL": f"{fake.base_url}/api", "ENVISION_DOWNLOAD": True, "ITEM_PIPELINES": pipelines()})
        finally:
            fake.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert crawl.stats["envision/download/records/complete"] == 3

    data, dest = tmp_path / "data", tmp_path / "dest"
    proc = _run("export", str(dest), "--json", "--label-by", "folder", "--split", "train=0.8,val=0.1,test=0.1",
                "-s", f"ENVISION_DATA_DIR={data}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["datasets"] == ["zenodo:100006", "zenodo:100012", "zenodo:100024"]
    assert summary["skipped"]["absolute or parent path"]["count"] == 2

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    loaded = datasets.load_dataset("imagefolder", data_dir=str(dest), cache_dir=str(tmp_path / "hf"))
    per_split = {name: Counter(loaded[name]["label"]) for name in loaded}
    total = sum(per_split.values(), Counter())
    assert total == expected_from_archives(data) == {"CNV": 30, "DME": 20, "NORMAL": 22, "DRUSEN": 8}
    assert per_split["validation"] == summary["splits"]["val"]
    assert {r["doi"] for r in loaded["train"]} == {"10.5281/zenodo.100006", "10.5281/zenodo.100012",
                                                   "10.5281/zenodo.100024"}

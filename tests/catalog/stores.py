"""A record store made by real crawls, for the catalog tests.

``crawl_store(tmp, nginx)`` runs ``scrapy crawlall`` over the seven fake repository APIs
(archive inspection and the classifier on), then the archive-inspection probe spider with the
store pipeline over archives that nginx serves (so stored records carry sniffed PNG/JPEG/
TIFF/DICOM facts). Returns the data dir; nothing is computed here from the catalog.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.inspection import corpus
from tests.inspection import helpers as img
from tests.servers.datacite import FakeDataCite
from tests.servers.dryad import FakeDryad
from tests.servers.figshare import FakeFigshare
from tests.servers.kaggle import FakeKaggle
from tests.servers.nei import FakeReporter
from tests.servers.nginx import NginxServer
from tests.servers.osf import FakeOSF
from tests.servers.zenodo import FakeZenodo

SOURCES = ("datacite", "dryad", "figshare", "kaggle", "nei", "osf", "zenodo")
COPIED_DOI = "10.5281/zenodo.100002"  # FakeZenodo's record 1
PROBE_SPIDER = PROJECT_ROOT / "tests" / "pipelines" / "inspect_spider.py"


def _run(cmd: list[str], settings: dict[str, Any], env: dict[str, str] | None = None) -> str:
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(env), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stderr


def crawl_fakes(data: Path) -> str:
    fakes = {
        "zenodo": FakeZenodo(n_records=30), "figshare": FakeFigshare(n_articles=20),
        "dryad": FakeDryad(n_eye=8, n_other=2), "osf": FakeOSF(n_eye=6, n_other=2, n_private=1),
        "datacite": FakeDataCite(n_eye=12, n_other=3), "kaggle": FakeKaggle(n_datasets=12),
        "nei": FakeReporter(n_projects=12),
    }
    for fake in fakes.values():
        fake.start()
    try:
        settings = {
            "ENVISION_DATA_DIR": str(data), "DOWNLOAD_DELAY": 0, "ENVISION_BACKOFF_BASE_DELAY": 0.1,
            "CLASSIFIER_ENABLED": True, "ENVISION_INSPECT_ENABLED": True, "LOG_LEVEL": "INFO",
            "ZENODO_API_URL": f"{fakes['zenodo'].base_url}/api",
            "FIGSHARE_API_URL": f"{fakes['figshare'].base_url}/v2",
            "DRYAD_API_URL": f"{fakes['dryad'].base_url}/api/v2",
            "OSF_API_URL": f"{fakes['osf'].base_url}/v2",
            "DATACITE_API_URL": fakes["datacite"].base_url, "DATACITE_PAGE_SIZE": 10,
            "KAGGLE_API_URL": f"{fakes['kaggle'].base_url}/api/v1", "KAGGLE_FILES_PAGE_SIZE": 5,
            "NEI_API_URL": f"{fakes['nei'].base_url}/v2", "NEI_PAGE_SIZE": 10,
        }
        env = {"KAGGLE_USERNAME": fakes["kaggle"].username, "KAGGLE_KEY": fakes["kaggle"].key}
        return _run(scrapy_command("crawlall", *SOURCES), settings, env)
    finally:
        for fake in fakes.values():
            fake.stop()


def probe_records(nginx: NginxServer) -> list[dict[str, Any]]:
    """Records whose archives hold real image headers: DICOM OPT/OP volumes and slices, PNG, TIFF."""
    archives = {
        "oct.zip": corpus.zip_bytes(
            [(f"oct/scan_{i:03d}.dcm", img.dicom(rows=496, columns=512, modality="OPT", frames=49)) for i in range(4)]
            + [("oct/readme.txt", b"OCT volumes")]),
        "fundus.zip": corpus.zip_bytes(
            [(f"fundus/img_{i:03d}.png", img.png(2048, 1536)) for i in range(3)]
            + [("fundus/slice.dcm", img.dicom(rows=1024, columns=1024, modality="OP", body_part="EYE"))]),
        "mixed.tar": corpus.tar_bytes([("mixed/a.tif", img.tiff(640, 480)), ("mixed/b.png", img.png(320, 240))]),
    }
    for name, data in archives.items():
        nginx.put(name, data)

    def file(name: str) -> dict[str, Any]:
        return {"name": name, "url": nginx.url(name), "size": len(archives[name]), "checksum": None}

    def record(source_id: str, title: str, files: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"source": "probe", "source_id": source_id, "title": title, "files": files,
                "file_names": [f["name"] for f in files], "file_count": len(files), **extra}

    return [
        record("oct", "Macular OCT volumes of glaucoma suspects", [file("oct.zip")], keywords=["OCT", "glaucoma"],
               label="EYE_IMAGING", confidence=0.97, license="cc-by-4.0", img_count=4, description="Spectralis volumes"),
        record("fundus", "Colour fundus photographs, diabetic retinopathy", [file("fundus.zip"), file("mixed.tar")],
               keywords=["fundus"], label="EYE_IMAGING", confidence=0.88, license="cc0-1.0", img_count=6,
               description="Wide-field retina images and one DICOM slice"),
        record("mixed", "Mixed microscopy images", [file("mixed.tar")], keywords=["microscopy"],
               label="NEGATIVE", confidence=0.71, license=None, img_count=2, description="Not eye related"),
        # the same dataset as the Zenodo crawl's first record: stored as a copy of it
        record("copy", "Retinal fundus photographs (mirror)", [file("fundus.zip")], doi=COPIED_DOI,
               label="EYE_IMAGING", confidence=0.9),
    ]


def crawl_probe(data: Path, tmp: Path, nginx: NginxServer) -> str:
    records = tmp / "probe-records.json"
    records.write_text(json.dumps(probe_records(nginx)))
    pipelines = {"tests.pipelines.inspect_spider.TokenInspectionPipeline": 300,
                 "envision_spiders.pipelines.store.StorePipeline": 800}
    settings = {"ENVISION_DATA_DIR": str(data), "CLASSIFIER_ENABLED": False, "LOG_LEVEL": "INFO",
                "ITEM_PIPELINES": json.dumps(pipelines)}
    return _run(scrapy_command("runspider", str(PROBE_SPIDER), "-a", f"records={records}"), settings)


def crawl_store(tmp: Path, nginx: NginxServer) -> Path:
    data = tmp / "data"
    crawl_fakes(data)
    crawl_probe(data, tmp, nginx)
    return data

"""``scrapy catalog --serve``: datasette on loopback answers faceted, full-text JSON queries."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from envision_spiders.catalog import build_catalog
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.store import record_path
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.nginx import free_port


def test_serve_answers_a_faceted_full_text_query_on_loopback(tmp_path: Path):
    data = tmp_path / "data"
    for n, (source, label, licence, modality) in enumerate([
        ("zenodo", "EYE_IMAGING", "cc-by-4.0", "OPT"), ("zenodo", "NEGATIVE", "cc0-1.0", None),
        ("figshare", "EYE_IMAGING", "cc-by-4.0", "OP"), ("dryad", "EYE_IMAGING", None, "OPT"),
    ]):
        images = [{"name": "a.dcm", "format": "dicom", "modality": modality}] if modality else []
        record = {"source": source, "source_id": str(n), "title": f"retina scans {n}" if n != 1 else "chest x-ray",
                  "label": label, "license": licence, "files": [{"name": "a.zip"}],
                  "archive_contents": [{"name": "a.zip", "images": images}]}
        write_json_atomic(record_path(data, source, str(n)), record)
    build_catalog(data)
    port = free_port()
    proc = subprocess.Popen(scrapy_command("catalog", "--serve", "--port", str(port), "-s", f"ENVISION_DATA_DIR={data}"),
                            cwd=PROJECT_ROOT, env=scrapy_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/catalog/records.json?_search=retina&_shape=objects"
        deadline, answer = time.monotonic() + 60, None
        while answer is None:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    answer = json.load(response)
            except OSError:
                assert time.monotonic() < deadline, "datasette did not start"
                time.sleep(0.2)  # waiting for another process to listen
    finally:
        proc.terminate()  # the command exec'd datasette: this pid is the server
        proc.wait(timeout=20)
    assert answer["filtered_table_rows_count"] == 3
    assert sorted(r["title"] for r in answer["rows"]) == ["retina scans 0", "retina scans 2", "retina scans 3"]
    facets = {name: {f["value"]: f["count"] for f in facet["results"]} for name, facet in answer["facet_results"].items()}
    assert facets["source"] == {"zenodo": 1, "figshare": 1, "dryad": 1}
    assert facets["label"] == {"EYE_IMAGING": 3}
    assert facets["license"] == {"cc-by-4.0": 2}
    assert facets["modalities"] == {"OPT": 2, "OP": 1}


def test_serve_without_a_catalog_is_a_usage_error(tmp_path: Path):
    proc = subprocess.run(scrapy_command("catalog", "--serve", "-s", f"ENVISION_DATA_DIR={tmp_path}"),
                          cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no catalog at" in proc.stderr

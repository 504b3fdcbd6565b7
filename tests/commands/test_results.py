"""``scrapy results`` rebuilds the seed pipeline's results files from the store."""

from __future__ import annotations

import json
import subprocess

from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.store import record_path
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env


def put(data_dir, source, source_id, **fields):
    record = {"source": source, "source_id": source_id, "title": source_id, **fields}
    write_json_atomic(record_path(data_dir, source, source_id), record)


def test_results_files_list_canonical_records_and_sort_eye_imaging_by_confidence(tmp_path):
    data = tmp_path / "data"
    put(data, "zenodo", "1", label="EYE_IMAGING", confidence=0.91)
    put(data, "zenodo", "2", label="EYE_IMAGING", confidence=0.99)
    put(data, "zenodo", "3", label="NEGATIVE", confidence=0.97)
    put(data, "zenodo", "4", label="EYE_IMAGING", confidence=0.95, duplicate_of="figshare:9")
    put(data, "figshare", "9", label="EYE_IMAGING", confidence=0.95)
    proc = subprocess.run(
        scrapy_command("results", "-s", f"ENVISION_DATA_DIR={data}"),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["sources"] == {"figshare": {"all": 1, "eye_imaging": 1}, "zenodo": {"all": 3, "eye_imaging": 2}}
    results = data / "results"
    all_zenodo = json.loads((results / "zenodo_all_results.json").read_text())
    assert [r["source_id"] for r in all_zenodo] == ["1", "2", "3"]
    eye = json.loads((results / "zenodo_eye_imaging.json").read_text())
    assert [r["source_id"] for r in eye] == ["2", "1"]

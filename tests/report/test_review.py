"""``scrapy report`` lists the confident records the download gate holds for review (no eye
evidence but left/right in file names), and their cards say which eye evidence they show."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from envision_spiders.catalog import build_catalog, catalog_path
from envision_spiders.report.site import card_name, write_report
from envision_spiders.state.db import STATE_FILE
from tests.catalog.test_catalog_build import put, rec
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env

PAWS = ["raw/dog01_left_fore.jpg", "raw/dog01_right_fore.jpg"]


def test_confident_records_without_eye_evidence_are_listed_for_review_not_counted_as_gated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    put(data, rec("zenodo", "1", title="Colour fundus photographs", label="EYE_IMAGING", confidence=0.97,
                  eye_evidence=["words"], files=[{"name": "f.zip", "size": 10, "access": "open", "url": "https://h/f.zip"}]))
    put(data, rec("figshare", "2", title="Raw data", label="EYE_IMAGING", confidence=0.99, eye_evidence=["sides"],
                  file_names=PAWS, files=[{"name": "raw.zip", "size": 20, "access": "open", "url": "https://h/raw.zip"}]))
    # labelled before the field existed: the report reads the record's evidence itself
    put(data, rec("dryad", "3", title="Photographs", label="EYE_IMAGING", confidence=0.95, file_names=PAWS))
    build_catalog(data)
    out = tmp_path / "report"
    write_report(catalog_path(data), out, tmp_path / "downloads", 0.8)
    html = (out / "index.html").read_text()
    assert '<span id="review-count">2</span>' in html
    review = html[html.index('id="review"'):]
    assert "figshare" in review and "dryad" in review and "zenodo" not in review
    assert "records behind the download gate" in html and "10 B</span> in 1 records" in html
    card = (out / "cards" / card_name("figshare:2")).read_text()
    assert "<th>eye evidence</th><td>sides</td>" in card and "needs review" in card
    # with the rule off the old gate applies and nothing waits
    write_report(catalog_path(data), out, tmp_path / "downloads", 0.8, eye_evidence_required=False)
    assert 'id="review-count"' not in (out / "index.html").read_text()


def test_a_record_a_curator_accepted_is_not_listed_for_review_and_counts_as_gated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for source_id in ("2", "3"):
        put(data, rec("figshare", source_id, title="Raw data", label="EYE_IMAGING", confidence=0.99,
                      eye_evidence=["sides"], file_names=PAWS,
                      files=[{"name": "raw.zip", "size": 20, "access": "open", "url": "https://h/raw.zip"}]))
    build_catalog(data)
    out = tmp_path / "report"
    write_report(catalog_path(data), out, tmp_path / "downloads", 0.8, accepted={("figshare", "2")})
    html = (out / "index.html").read_text()
    review = html[html.index('id="review"'):]
    assert '<span id="review-count">1</span>' in html and card_name("figshare:3") in review
    assert card_name("figshare:2") not in review
    assert '<span id="accepted-count">1</span>' in html and "20 B</span> in 1 records" in html
    assert "passes the gate" in (out / "cards" / card_name("figshare:2")).read_text()
    write_report(catalog_path(data), out, tmp_path / "downloads", 0.8, accepted={("figshare", "2"), ("figshare", "3")})
    html = (out / "index.html").read_text()
    assert 'id="review-count"' not in html and '<span id="accepted-count">2</span>' in html


def test_scrapy_report_on_records_without_a_state_reads_them_and_creates_no_state(tmp_path: Path) -> None:
    """Records copied from another machine have no state file beside them: the report (which only
    reads) shows them and leaves the data directory without one."""
    data = tmp_path / "data"
    put(data, rec("zenodo", "1", label="EYE_IMAGING", confidence=0.95, prob_eye_imaging=0.95, eye_evidence=["words"]))
    done = subprocess.run(scrapy_command("report", "-s", f"ENVISION_DATA_DIR={data}"), cwd=PROJECT_ROOT,
                          env=scrapy_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["report"]["records"] == 1
    assert not (data / STATE_FILE).exists()

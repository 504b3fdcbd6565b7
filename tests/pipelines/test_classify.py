"""ClassifierPipeline: settings contract in-process; batching and scoring in a real crawl."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from envision_spiders.classifier import ClassifierConfigError
from envision_spiders.pipelines.classify import ClassifierPipeline
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env


def test_disabled_is_scrape_only_mode():
    crawler = get_crawler(settings_dict={"CLASSIFIER_ENABLED": False})
    with pytest.raises(NotConfigured, match="scrape-only"):
        ClassifierPipeline.from_crawler(crawler)


def test_bad_model_path_fails_at_start_naming_the_setting():
    crawler = get_crawler(settings_dict={"CLASSIFIER_MODEL": "/no/such/dir"})
    with pytest.raises(ClassifierConfigError, match="CLASSIFIER_MODEL='/no/such/dir'"):
        ClassifierPipeline.from_crawler(crawler)


@pytest.mark.parametrize(
    ("name", "value"),
    [("CLASSIFIER_BATCH_SIZE", 0), ("CLASSIFIER_MAX_LENGTH", -3), ("CLASSIFIER_HEAD", "/no/head.json")],
)
def test_bad_settings_are_named(name, value):
    with pytest.raises(ClassifierConfigError, match=name):
        ClassifierPipeline.from_crawler(get_crawler(settings_dict={name: value}))


def test_construction_does_not_load_the_model():
    pipeline = ClassifierPipeline.from_crawler(get_crawler())
    assert pipeline.classifier.loaded is False
    assert pipeline.batch_size == 64


SPIDER = textwrap.dedent(
    """
    import json
    import scrapy
    from envision_spiders.items import DatasetRecord

    RECORDS = json.loads({records!r})

    class ItemsSpider(scrapy.Spider):
        name = "items"

        async def start(self):
            for i, rec in enumerate(RECORDS):
                yield DatasetRecord(source="test", source_id=str(i), **rec)
    """
)

RECORDS = [
    {"title": "Colour fundus photographs for diabetic retinopathy", "description": "<p>Fundus images with DR grades.</p>"},
    {"title": "Retinal OCT volumes of AMD", "description": "Spectral-domain OCT B-scans.", "keywords": ["OCT"]},
    {"title": "Visual field thresholds in glaucoma", "description": "Humphrey perimetry values in CSV; no images."},
    {"title": "Chest X-ray images for pneumonia", "description": "Paediatric chest radiographs."},
    {"title": "Supplementary data", "file_names": ["OCT_scans.zip"],
     "archive_contents": [{"name": "OCT_scans.zip", "extensions": {".png": 812}}]},
]


def run_items_crawl(tmp_path: Path, settings: dict) -> tuple[subprocess.CompletedProcess, list[dict], dict]:
    spider = tmp_path / "items_spider.py"
    spider.write_text(SPIDER.format(records=json.dumps(RECORDS)))
    out, stats_file = tmp_path / "items.jsonl", tmp_path / "stats.json"
    merged = {
        "ENVISION_DATA_DIR": str(tmp_path / "data"),
        "ENVISION_STATS_FILE": str(stats_file),
        "ITEM_PIPELINES": json.dumps({"envision_spiders.pipelines.classify.ClassifierPipeline": 400}),
        "FEEDS": "{}",
        "LOG_LEVEL": "INFO",
        **settings,
    }
    cmd = scrapy_command("runspider", str(spider), "-O", str(out))
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=180)
    items = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return proc, items, stats


def test_crawl_classifies_every_item_in_batches(tmp_path):
    proc, items, stats = run_items_crawl(tmp_path, {"CLASSIFIER_BATCH_SIZE": 2, "CLASSIFIER_MAX_WAIT": 0.5})
    assert proc.returncode == 0, proc.stderr
    assert len(items) == 5
    by_title = {item["title"]: item for item in items}
    for item in items:
        assert item["label"] in {"EYE_IMAGING", "NEGATIVE"}
        assert abs(item["prob_eye_imaging"] + item["prob_negative"] - 1) < 1e-6
        assert item["confidence"] == max(item["prob_eye_imaging"], item["prob_negative"])
    assert by_title["Colour fundus photographs for diabetic retinopathy"]["label"] == "EYE_IMAGING"
    assert by_title["Retinal OCT volumes of AMD"]["label"] == "EYE_IMAGING"
    assert by_title["Visual field thresholds in glaucoma"]["label"] == "NEGATIVE"
    assert by_title["Chest X-ray images for pneumonia"]["label"] == "NEGATIVE"
    assert by_title["Supplementary data"]["label"] == "EYE_IMAGING"
    # each record says which eye evidence it shows (the download gate reads it)
    assert "words" in by_title["Colour fundus photographs for diabetic retinopathy"]["eye_evidence"]
    assert by_title["Chest X-ray images for pneumonia"]["eye_evidence"] == []
    assert stats["envision/classify/items"] == 5
    # 5 items in batches of at most 2: at least 3 batches (the last one flushed by the timer or on close)
    assert stats["envision/classify/batches"] >= 3
    assert stats["envision/classify/label/EYE_IMAGING"] == 3
    assert stats["envision/classify/label/NEGATIVE"] == 2
    assert stats["envision/classify/model_load_seconds"] > 0


def test_crawl_in_scrape_only_mode_leaves_items_unlabelled(tmp_path):
    proc, items, stats = run_items_crawl(tmp_path, {"CLASSIFIER_ENABLED": False})
    assert proc.returncode == 0, proc.stderr
    assert len(items) == 5 and all(item.get("label") is None for item in items)
    assert not any(key.startswith("envision/classify/") for key in stats)


def test_crawl_with_a_bad_model_path_says_which_setting(tmp_path):
    proc, items, _ = run_items_crawl(tmp_path, {"CLASSIFIER_MODEL": "/no/such/model"})
    assert "CLASSIFIER_MODEL='/no/such/model': no such model directory" in proc.stderr
    assert items == []

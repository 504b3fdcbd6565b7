"""A record the classifier failed on is stored unlabelled, not fresh, and scored by the next run."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import textwrap
from pathlib import Path

from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env

SPIDER = textwrap.dedent(
    """
    import scrapy
    from envision_spiders.items import DatasetRecord

    class ItemsSpider(scrapy.Spider):
        name = "items"

        async def start(self):
            for i, title in enumerate(["Retinal OCT volumes", "Chest X-rays", "Retina fundus photos"]):
                yield DatasetRecord(source="test", source_id=str(i), title=title, modified="2026-01-01T00:00:00Z")
    """
)


def crawl(tmp_path: Path, name: str, **settings: str) -> dict:
    spider = tmp_path / "items_spider.py"
    spider.write_text(SPIDER)
    stats_file = tmp_path / f"{name}.stats.json"
    merged = {
        "ENVISION_DATA_DIR": str(tmp_path / "data"),
        "ENVISION_STATS_FILE": str(stats_file),
        "ITEM_PIPELINES": json.dumps({"tests.pipelines.flaky_classifier.FlakyClassifierPipeline": 400,
                                      "envision_spiders.pipelines.store.StorePipeline": 800}),
        "FEEDS": "{}",
        "ENVISION_FEEDS": "{}",
        "CLASSIFIER_MAX_WAIT": "0.1",
        **settings,
    }
    cmd = scrapy_command("runspider", str(spider))
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(stats_file.read_text())


def stored(tmp_path: Path) -> dict[str, dict]:
    folder = tmp_path / "data" / "metadata" / "test"
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def owed(tmp_path: Path) -> set[tuple[str, str]]:
    return set(sqlite3.connect(tmp_path / "data" / "state.sqlite3").execute("SELECT source, source_id FROM unclassified"))


def test_a_record_whose_scoring_failed_is_scored_by_the_next_incremental_crawl(tmp_path):
    first = crawl(tmp_path, "first", TEST_CLASSIFIER_FAILS="True")
    assert first["envision/classify/errors"] == 3 and first["envision/classify/unclassified"] == 3
    assert all(record["label"] is None for record in stored(tmp_path).values())
    assert owed(tmp_path) == {("test", "0"), ("test", "1"), ("test", "2")}
    # same `modified` stamps: an incremental crawl would skip them, but they still owe a label
    second = crawl(tmp_path, "second")
    assert "envision/incremental/unchanged" not in second
    assert second["envision/classify/items"] == 3 and second["envision/classify/owed_cleared"] == 3
    labels = {sid: record["label"] for sid, record in stored(tmp_path).items()}
    assert labels == {"0": "EYE_IMAGING", "1": "NEGATIVE", "2": "EYE_IMAGING"}
    assert owed(tmp_path) == set()
    # labelled and stored: fresh again
    third = crawl(tmp_path, "third")
    assert third["envision/incremental/unchanged"] == 3 and "envision/classify/items" not in third


def test_scrapy_classify_unlabeled_scores_the_owed_records_and_makes_them_fresh(tmp_path):
    crawl(tmp_path, "first", TEST_CLASSIFIER_FAILS="True")
    proc = subprocess.run(
        # no feeds, as in the crawls (with feeds, the newly labelled records would be owed to them)
        scrapy_command("classify", "--unlabeled", "--no-results", "-s", f"ENVISION_DATA_DIR={tmp_path / 'data'}",
                       "-s", "ENVISION_FEEDS={}"),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["records"] == 3
    assert all(record["label"] in {"EYE_IMAGING", "NEGATIVE"} for record in stored(tmp_path).values())
    assert owed(tmp_path) == set()
    assert crawl(tmp_path, "after")["envision/incremental/unchanged"] == 3


def test_a_record_relabelled_by_scrapy_classify_is_emitted_again_by_the_next_crawl(tmp_path):
    feed = tmp_path / "feed-%(name)s-%(time)s.jsonl"
    feeds = json.dumps({str(feed): {"format": "jsonlines"}})
    crawl(tmp_path, "first", FEEDS=feeds)
    assert owed_to_feeds(tmp_path) == set()  # the first crawl's feed has all three
    # an older head had called the chest X-rays eye imaging; the real classifier says otherwise
    path = tmp_path / "data" / "metadata" / "test" / "1.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "label": "EYE_IMAGING", "prob_eye_imaging": 0.9, "prob_negative": 0.1}))
    proc = subprocess.run(
        scrapy_command("classify", "--no-results", "-s", f"ENVISION_DATA_DIR={tmp_path / 'data'}"),
        cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["records"] == 3 and summary["relabelled"] == 1
    assert stored(tmp_path)["1"]["label"] == "NEGATIVE"
    assert owed_to_feeds(tmp_path) == {("test", "1")}  # only the record whose label changed
    after = crawl(tmp_path, "after", FEEDS=feeds)
    assert after["envision/incremental/unchanged"] == 2
    lines = [json.loads(line) for path in tmp_path.glob("feed-items-*.jsonl") for line in path.read_text().splitlines()]
    assert sorted(line["source_id"] for line in lines) == ["0", "1", "1", "2"]  # first crawl's three, then "1"
    assert owed_to_feeds(tmp_path) == set()


def owed_to_feeds(tmp_path: Path) -> set[tuple[str, str]]:
    return set(sqlite3.connect(tmp_path / "data" / "state.sqlite3").execute("SELECT source, source_id FROM undelivered"))

"""The catalog of a store made by real crawls (seven fake repository APIs with archive
inspection and the classifier on, plus archives on nginx sniffed for image facts): every
selection is checked against the stored files read and filtered independently here."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envision_spiders.catalog import catalog_path, connect, parse_condition, select_records
from envision_spiders.catalog.fields import record_paths
from envision_spiders.catalog.query import observed_fields
from envision_spiders.jsoncodec import write_json_atomic
from tests.catalog.stores import COPIED_DOI, SOURCES, crawl_store
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env

pytestmark = pytest.mark.slow  # two crawls (~30 s) serve the module

Record = dict[str, Any]


@pytest.fixture(scope="module")
def data(nginx, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = crawl_store(tmp_path_factory.mktemp("catalog"), nginx)
    proc = catalog(data)
    assert proc.returncode == 0, proc.stderr
    return data


def catalog(data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(scrapy_command("catalog", *args, "-s", f"ENVISION_DATA_DIR={data}"), cwd=PROJECT_ROOT,
                          env=scrapy_env(), capture_output=True, text=True, timeout=120)


def stored(data: Path) -> dict[str, tuple[Record, str]]:
    """Every stored file: key -> (record, text as stored)."""
    out = {}
    for path in sorted((data / "metadata").glob("*/*.json")):
        text = path.read_text(encoding="utf-8")
        record = json.loads(text)
        out[f"{record['source']}:{record['source_id']}"] = (record, text.rstrip("\n"))
    return out


def canonical(data: Path) -> dict[str, Record]:
    return {k: r for k, (r, _) in stored(data).items() if not r.get("duplicate_of")}


def images(r: Record) -> list[Record]:
    return [i for a in r.get("archive_contents") or [] for i in a.get("images") or []]


def num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def test_one_row_per_canonical_record_duplicates_linked_child_tables_complete(data):
    records = canonical(data)
    assert {r["source"] for r in records.values()} == {*SOURCES, "probe"}
    conn = sqlite3.connect(catalog_path(data))
    assert {k for (k,) in conn.execute("SELECT key FROM records")} == set(records)
    # the probe's copy of a Zenodo record is linked to it, not listed as a record
    zenodo_key = next(k for k, r in records.items() if r.get("doi") == COPIED_DOI)
    assert conn.execute("SELECT key, duplicate_of FROM duplicates").fetchall() == [("probe:copy", zenodo_key)]
    # files, archives, samples and sniffed images: one row per element of the stored lists
    for key, record in records.items():
        rid = conn.execute("SELECT id FROM records WHERE key = ?", (key,)).fetchone()[0]
        names = [n for (n,) in conn.execute("SELECT name FROM files WHERE record_id = ? ORDER BY position", (rid,))]
        assert names == [f["name"] for f in record["files"]], key
        rows = conn.execute("SELECT format, width, height, depth, frames, dims, modality, body_part FROM images "
                            "WHERE record_id = ?", (rid,)).fetchall()
        expected = [tuple(i.get(c) for c in ("format", "width", "height", "depth", "frames", "dims", "modality",
                                             "body_part")) for i in images(record)]
        assert sorted(rows, key=repr) == sorted(expected, key=repr), key
        samples = conn.execute("SELECT count(*) FROM archive_entries WHERE record_id = ?", (rid,)).fetchone()[0]
        assert samples == sum(len(a.get("sample_names") or []) for a in record.get("archive_contents") or [])
    oct_images = images(records["probe:oct"])
    assert len(oct_images) == 4 and {(i["modality"], i["width"], i["height"]) for i in oct_images} == {("OPT", 512, 496)}
    # classifier and inspection really ran on the crawled sources
    assert all(r["label"] in ("EYE_IMAGING", "NEGATIVE") for k, r in records.items() if not k.startswith("probe:"))
    assert any(r.get("archive_contents") for k, r in records.items() if not k.startswith("probe:"))


CASES: list[tuple[list[tuple[str, str, str]], Callable[[Record], bool]]] = [
    ([("label", "=", "EYE_IMAGING")], lambda r: r.get("label") == "EYE_IMAGING"),
    ([("source", "!=", "zenodo")], lambda r: r["source"] != "zenodo"),
    ([("prob_eye_imaging", "<", "0.5")], lambda r: num(r.get("prob_eye_imaging")) and r["prob_eye_imaging"] < 0.5),
    ([("confidence", "<=", "0.97")], lambda r: num(r.get("confidence")) and r["confidence"] <= 0.97),
    ([("confidence", ">", "0.9"), ("label", "=", "EYE_IMAGING")],
     lambda r: num(r.get("confidence")) and r["confidence"] > 0.9 and r.get("label") == "EYE_IMAGING"),
    ([("archive_contents.images.width", ">=", "1024")], lambda r: any(num(i.get("width")) and i["width"] >= 1024
                                                                      for i in images(r))),
    ([("archive_contents.images.modality", "=", "OPT")], lambda r: any(i.get("modality") == "OPT" for i in images(r))),
    ([("archive_contents.images.modality", "!=", "OPT")],  # any image whose modality is something else
     lambda r: any(i.get("modality") not in (None, "OPT") for i in images(r))),
    ([("archive_contents.images.format", "in", "png, tiff")],
     lambda r: any(i.get("format") in ("png", "tiff") for i in images(r))),
    ([("files.name", "~", "ZIP")], lambda r: any("zip" in f["name"].lower() for f in r["files"])),
    ([("keywords", "~", "retin")], lambda r: any("retin" in k.lower() for k in r.get("keywords") or [])),
    ([("source", "in", "nei,osf,kaggle")], lambda r: r["source"] in ("nei", "osf", "kaggle")),
    ([("archive_contents.status", "=", "error")],
     lambda r: any(a.get("status") == "error" for a in r.get("archive_contents") or [])),
    ([("license", "=", "cc-by-4.0"), ("files.size", ">", "100000")],
     lambda r: r.get("license") == "cc-by-4.0" and any(num(f.get("size")) and f["size"] > 100000 for f in r["files"])),
    ([("title", ">=", "O")], lambda r: r["title"] >= "O"),
]


@pytest.mark.parametrize(("where", "predicate"), CASES, ids=[" & ".join(" ".join(w) for w in c[0]) for c in CASES])
def test_where_selects_exactly_the_records_that_match_computed_independently(data, where, predicate):
    expected = sorted(k for k, r in canonical(data).items() if predicate(r))
    conn = connect(catalog_path(data), readonly=True)
    conditions = [parse_condition(*w, observed_fields(conn)) for w in where]
    assert [s.key for s in select_records(conn, conditions)] == expected
    assert expected, "the case selects nothing: it would prove little"
    assert len(expected) < len(canonical(data)) or where[0][1] == "!=", "the case selects everything"


def words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"\w+", text)}


def test_search_matches_title_description_keywords_and_file_and_entry_names(data):
    def haystack(r: Record) -> set[str]:
        names = [f["name"] for f in r["files"]]
        names += [n for a in r.get("archive_contents") or [] for n in a.get("sample_names") or []]
        names += [i.get("name") or "" for i in images(r)]
        return words(" ".join([r.get("title") or "", r.get("description") or "", *(r.get("keywords") or []), *names]))

    conn = connect(catalog_path(data), readonly=True)
    for text in ("fundus", "glaucoma OCT", "scan_001", "dcm"):
        expected = sorted(k for k, r in canonical(data).items() if words(text) <= haystack(r))
        assert [s.key for s in select_records(conn, search=text)] == expected, text
        assert expected, text


def test_command_prints_jsonl_exactly_as_stored_sorted_and_limited(data):
    proc = catalog(data, "--where", "label", "=", "EYE_IMAGING", "--sort", "confidence:desc", "--limit", "5",
                   "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    files = stored(data)
    eye = [k for k, r in canonical(data).items() if r.get("label") == "EYE_IMAGING"]
    expected = sorted(eye, key=lambda k: (-files[k][0]["confidence"], k))[:5]
    assert proc.stdout.splitlines() == [files[k][1] for k in expected]


def test_command_table_and_csv(data):
    table = catalog(data, "--where", "archive_contents.images.modality", "=", "OPT")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["key", "label", "confidence", "img_count", "license", "title",
                                "archive_contents.images.modality"]
    assert lines[1].startswith("probe:oct ") and lines[-1] == "(1 record)"
    csv_out = catalog(data, "--search", "fundus", "--format", "csv", "--sort", "source")
    assert csv_out.returncode == 0, csv_out.stderr
    assert csv_out.stdout.splitlines()[0] == "key,label,confidence,img_count,license,title,source"
    fields = catalog(data, "--fields").stdout.split()
    seen = set().union(*(record_paths(r) for r, _ in stored(data).values()))
    assert {"archive_contents.images.modality", "files.name", "label"} <= set(fields) and seen <= set(fields)


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "labels", "=", "EYE_IMAGING"], "unknown field 'labels'"),
    (["--where", "archive_contents.images.colour", "=", "red"], "unknown field 'archive_contents.images.colour'"),
    (["--where", "label", "==", "EYE_IMAGING"], "unknown operator '=='"),
    (["--sort", "nosuch:desc"], "unknown field 'nosuch'"),
    (["--sort", "label:up"], "the direction is asc or desc"),
    (["--where", "label", "="], "expected 3 arguments"),
    (["--limit", "ten"], "--limit 'ten' is not a whole number"),
    (["--search", "!! ?"], "has no words to look for"),
    (["--where", "label", "=", "EYE_IMAGING", "--format", "json"], "--format json applies to --coverage"),
])
def test_bad_selection_is_one_error_line_and_exit_status_2(data, args, message):
    proc = catalog(data, *args)
    assert proc.returncode == 2, proc.stdout
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert proc.stdout == ""


def test_coverage_per_source_matches_the_stored_files(data):
    proc = catalog(data, "--coverage", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["sources"]
    by_source: dict[str, list[Record]] = {}
    for record, _ in stored(data).values():
        by_source.setdefault(record["source"], []).append(record)
    assert set(report) == set(by_source)

    def carried(value: Any) -> bool:
        return value not in (None, "", [], {})

    checks: dict[str, Callable[[Record], bool]] = {
        "title": lambda r: carried(r.get("title")),
        "doi": lambda r: carried(r.get("doi")),
        "license": lambda r: carried(r.get("license")),
        "keywords": lambda r: any(carried(k) for k in r.get("keywords") or []),
        "files.checksum": lambda r: any(carried(f.get("checksum")) for f in r["files"]),
        "archive_contents.images.modality": lambda r: any(carried(i.get("modality")) for i in images(r)),
        "confidence": lambda r: carried(r.get("confidence")),
    }
    for source, records in by_source.items():
        assert report[source]["records"] == len(records)
        for field, check in checks.items():
            share = round(sum(map(check, records)) / len(records), 4)
            assert report[source]["coverage"][field] == share, (source, field)
    table = catalog(data, "--coverage")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split() == ["field", *sorted(by_source)]


def open_in_chromium(url: str, screenshot: Path, click_card: bool = True) -> dict[str, Any]:
    """Load ``url`` in headless Chromium: console errors, requests, the numbers shown, sorting, a card."""
    from playwright.sync_api import sync_playwright

    from envision_spiders.http.browser import CHROMIUM_ARGS, DEFAULT_CHROMIUM_PATHS

    seen: dict[str, Any] = {"errors": [], "requests": []}
    with sync_playwright() as p:
        chromium = next(path for path in DEFAULT_CHROMIUM_PATHS if Path(path).exists())
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: m.type in ("error", "warning") and seen["errors"].append(m.text))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(url)
            seen["totals"] = page.eval_on_selector_all(
                "td[data-total]", "cells => Object.fromEntries(cells.map(c => [c.dataset.total, c.textContent]))")
            seen["grand"] = page.text_content("#grand-total")
            seen["eye"] = page.text_content("#eye-count")
            seen["eye_bytes"] = page.get_attribute("#eye-bytes", "data-bytes")
            page.screenshot(path=str(screenshot))
            page.click("#eye th:nth-child(2)")  # confidence, ascending
            seen["sorted"] = page.eval_on_selector_all("#eye tbody tr", "rows => rows.map(r => r.cells[1].dataset.v)")
            seen["first_title"] = page.text_content("#eye tbody tr:first-child a.card")
            if click_card:
                page.click("#eye tbody tr:first-child a.card")
                page.wait_for_load_state()
                seen["card_url"] = page.url
                seen["card_title"] = page.text_content("#card-title")
        finally:
            browser.close()
    return seen


def test_report_opens_offline_in_chromium_and_shows_the_catalogs_numbers(data, tmp_path):
    data = Path(shutil.copytree(data, tmp_path / "data"))  # this test adds a record
    proc = subprocess.run(scrapy_command("report", "-s", f"ENVISION_DATA_DIR={data}"), cwd=PROJECT_ROOT,
                          env=scrapy_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = data / "report"
    records = canonical(data)
    eye = {k: r for k, r in records.items() if r.get("label") == "EYE_IMAGING"}
    assert len(list((report / "cards").glob("*.html"))) == len(eye)
    shot = tmp_path / "report.png"  # the test's artifact
    seen = open_in_chromium((report / "index.html").as_uri(), shot)
    assert seen["errors"] == []
    assert seen["requests"] and all(u.startswith(report.as_uri() + "/") for u in seen["requests"]), seen["requests"]
    by_source: dict[str, int] = {}
    for r in records.values():
        by_source[r["source"]] = by_source.get(r["source"], 0) + 1
    assert {s: int(t.split()[0]) for s, t in seen["totals"].items()} == by_source
    assert int(seen["grand"]) == len(records) and int(seen["eye"]) == len(eye)
    sizes = sum(f["size"] for r in eye.values() for f in r["files"] if isinstance(f.get("size"), int))
    assert int(seen["eye_bytes"]) == sizes
    confidences = [float(v) for v in seen["sorted"]]
    assert confidences == sorted(confidences) and len(confidences) == len(eye)
    assert seen["card_url"].startswith((report / "cards").as_uri())
    assert seen["card_title"] == seen["first_title"]
    assert shot.stat().st_size > 10_000
    # cards: what is inside the archives, and the copies merged into a record
    from envision_spiders.report.site import card_name

    oct_card = (report / "cards" / card_name("probe:oct")).read_text()
    assert "512×496" in oct_card and "oct/scan_000.dcm" in oct_card and "OPT" in oct_card
    zenodo_key = next(k for k, r in records.items() if r.get("doi") == COPIED_DOI)
    assert "probe:copy" in (report / "cards" / card_name(zenodo_key)).read_text()
    # a record more in one source: the next report shows the change
    extra = dict(eye["probe:oct"], source_id="oct-2", title="Second OCT set")
    write_json_atomic(data / "metadata" / "probe" / "oct-2.json", extra)
    again = subprocess.run(scrapy_command("report", "-s", f"ENVISION_DATA_DIR={data}"), cwd=PROJECT_ROOT,
                           env=scrapy_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    html = (report / "index.html").read_text()
    assert re.search(r'data-total="probe">4 <span class="up">\+1</span>', html)
    assert re.search(r'data-total="zenodo">\d+ <span class="muted">±0</span>', html)


def test_report_table_pages_and_filters_in_chromium(data, tmp_path):
    """The EYE_IMAGING table shows ENVISION_REPORT_PAGE_ROWS rows at a time, pages with next /
    previous, and a filter keeps the rows whose text holds it (sorting starts again at page 1)."""
    from playwright.sync_api import sync_playwright

    from envision_spiders.http.browser import CHROMIUM_ARGS, DEFAULT_CHROMIUM_PATHS

    out = tmp_path / "report"
    proc = subprocess.run(scrapy_command("report", "-s", f"ENVISION_DATA_DIR={data}", "--out", str(out),
                                         "-s", "ENVISION_REPORT_PAGE_ROWS=2"),
                          cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    eye = [r for r in canonical(data).values() if r.get("label") == "EYE_IMAGING"]
    assert len(eye) > 4, "the fixture needs more than two pages of EYE_IMAGING records"
    visible = "rows => rows.filter(r => !r.hidden).map(r => r.cells[0].dataset.v)"
    with sync_playwright() as p:
        chromium = next(path for path in DEFAULT_CHROMIUM_PATHS if Path(path).exists())
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "index.html").as_uri())
            first = page.eval_on_selector_all("#eye tbody tr", visible)
            assert len(first) == 2 and page.text_content("#eye-shown") == f"1–2 of {len(eye)}"
            assert page.is_disabled("#eye-prev") and not page.is_disabled("#eye-next")
            page.click("#eye-next")
            second = page.eval_on_selector_all("#eye tbody tr", visible)
            assert len(second) == 2 and not set(second) & set(first)
            assert page.text_content("#eye-shown") == f"3–4 of {len(eye)}"
            pages = [first, second]
            while not page.is_disabled("#eye-next"):
                page.click("#eye-next")
                pages.append(page.eval_on_selector_all("#eye tbody tr", visible))
            assert sorted(t for shown in pages for t in shown) == sorted(str(r.get("title") or "") for r in eye)
            word = "OCT"
            page.fill("#eye-filter", word)
            matching = [r for r in eye if word.lower() in " ".join(
                [str(r.get("title") or ""), str(r.get("license") or ""), r["source"]]).lower()]
            shown = page.eval_on_selector_all("#eye tbody tr", visible)
            assert 0 < len(matching) and len(shown) == min(2, len(matching))
            assert f"of {len(matching)} matching (of {len(eye)})" in page.text_content("#eye-shown")
            page.fill("#eye-filter", "no record has this text")
            assert page.eval_on_selector_all("#eye tbody tr", visible) == []
            assert page.text_content("#eye-shown") == f"none of {len(eye)} match"
            page.fill("#eye-filter", "")
            page.click("#eye th:nth-child(2)")  # sorting goes back to page 1
            assert page.text_content("#eye-shown") == f"1–2 of {len(eye)}"
            assert errors == []
        finally:
            browser.close()

"""Catalog build speed and query latency on a synthetic store.

    .venv/bin/python bench/catalog_bench.py [--n 100000] [--dir /tmp/catalog-bench]

Writes ``--n`` synthetic stored records (files, archive contents with sniffed images for one
record in three, one record in twenty a duplicate) through the store's own writer function,
then times: the first build (records/s), a rebuild with nothing changed, a rebuild after 1 %
of the files changed, and typical ``--where``/``--search`` queries including reading the matching records' text, as
``--format jsonl`` prints it (median of 5 runs each).
Also checks that the state DB is never needed: a build runs while another connection holds
the state DB's write lock. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envision_spiders.catalog import build_catalog, catalog_path, connect, coverage, parse_condition  # noqa: E402
from envision_spiders.catalog.query import observed_fields, select_records  # noqa: E402
from envision_spiders.jsoncodec import write_json_atomic  # noqa: E402
from envision_spiders.state.store import record_path  # noqa: E402

SOURCES = ("zenodo", "figshare", "dryad", "osf", "datacite", "kaggle", "nei")
WORDS = "retina fundus OCT glaucoma macula cornea cataract diabetic retinopathy vessel segmentation".split()
MODALITIES = ("OP", "OPT", "OT", "XC", "SC")


def synthetic_record(i: int, rng: random.Random) -> dict:
    source = SOURCES[i % len(SOURCES)]
    eye = rng.random() < 0.4
    files = [{"name": f"part{k}.zip", "size": rng.randrange(10**3, 10**10), "url": f"https://example.org/{i}/{k}",
              "checksum": None, "mimetype": "application/zip"} for k in range(rng.randrange(1, 5))]
    archives = []
    if i % 3 == 0:
        for f in files[:2]:
            images = [{"name": f"img/{n:04d}.dcm", "format": "dicom", "width": rng.choice((512, 768, 1024)),
                       "height": rng.choice((496, 768, 1024)), "depth": rng.choice((None, 49, 128)),
                       "frames": None, "dims": rng.choice(("2D", "3D")), "modality": rng.choice(MODALITIES),
                       "body_part": "EYE", "bytes_read": 4096} for n in range(rng.randrange(1, 9))]
            archives.append({"name": f["name"], "format": "zip", "status": "complete", "size": f["size"],
                             "entries_total": 1000, "files_listed": 990, "sample_names": [i["name"] for i in images],
                             "extensions": {".dcm": 990}, "images": images})
    title = " ".join(rng.choice(WORDS) for _ in range(6)) + f" #{i}"
    record = {
        "source": source, "source_id": str(i), "kind": "dataset", "doi": f"10.9999/bench.{i}",
        "title": title, "description": " ".join(rng.choice(WORDS) for _ in range(80)),
        "keywords": rng.sample(WORDS, 3), "license": rng.choice(("cc-by-4.0", "cc0-1.0", None)),
        "files": files, "file_names": [f["name"] for f in files], "file_count": len(files),
        "img_count": rng.randrange(0, 5000), "archive_contents": archives,
        "label": "EYE_IMAGING" if eye else "NEGATIVE", "confidence": round(rng.random(), 4),
        "scraped_at": "2026-12-01T00:00:00Z",
    }
    if i % 20 == 19:
        record["duplicate_of"] = f"{SOURCES[(i - 1) % len(SOURCES)]}:{i - 1}"
    return record


def timed(fn, runs: int = 5) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        n = len([selected.text for selected in fn()])  # as --format jsonl prints them
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1), n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dir", default="/tmp/catalog-bench")
    opts = parser.parse_args()
    data = Path(opts.dir)
    shutil.rmtree(data, ignore_errors=True)
    rng = random.Random(0)
    t = time.perf_counter()
    for i in range(opts.n):
        record = synthetic_record(i, rng)
        write_json_atomic(record_path(data, record["source"], record["source_id"]), record)
    write_s = time.perf_counter() - t
    # a crawl holding the state DB's write lock for the whole build must not block it
    state = sqlite3.connect(data / "state.sqlite3", isolation_level=None)
    state.execute("CREATE TABLE IF NOT EXISTS t (x)")
    state.execute("BEGIN EXCLUSIVE")
    first = build_catalog(data)
    state.execute("ROLLBACK")
    again = build_catalog(data)
    for i in range(0, opts.n, 100):  # 1 % of the records change
        path = record_path(data, SOURCES[i % len(SOURCES)], str(i))
        record = json.loads(path.read_text())
        record["confidence"] = 0.5
        write_json_atomic(path, record)
    changed = build_catalog(data)
    conn = connect(catalog_path(data), readonly=True)
    known = observed_fields(conn)

    def where(*triples: tuple[str, str, str], **kw):
        return lambda: select_records(conn, [parse_condition(*t, known) for t in triples], **kw)

    queries = {
        "label = EYE_IMAGING, confidence >= 0.9": where(("label", "=", "EYE_IMAGING"), ("confidence", ">=", "0.9")),
        "source = zenodo, sort confidence:desc, limit 20": where(("source", "=", "zenodo"), sort="confidence:desc",
                                                                 limit=20),
        "archive_contents.images.modality = OPT": where(("archive_contents.images.modality", "=", "OPT")),
        "archive_contents.images.width >= 1024, dims = 3D": where(("archive_contents.images.width", ">=", "1024"),
                                                                  ("archive_contents.images.dims", "=", "3D")),
        "files.name ~ part3 (SQL function)": where(("files.name", "~", "part3")),
        "--search 'glaucoma cornea', limit 50": where(search="glaucoma cornea", limit=50),
        "keywords in fundus,OCT (no column: Python on every record)": where(("keywords", "in", "fundus,OCT")),
    }
    latency = {name: dict(zip(("ms", "matches"), timed(fn), strict=True)) for name, fn in queries.items()}
    t = time.perf_counter()
    coverage(conn)
    coverage_s = time.perf_counter() - t
    print(json.dumps({
        "records": opts.n,
        "store_write_s": round(write_s, 1),
        "first_build_s": first.seconds, "first_build_records_per_s": round(opts.n / first.seconds),
        "first_build_ran_under_state_write_lock": True,
        "rebuild_unchanged_s": again.seconds, "rebuild_unchanged_read": again.read,
        "rebuild_1pct_changed_s": changed.seconds, "rebuild_1pct_written": changed.written,
        "catalog_mb": round(catalog_path(data).stat().st_size / 2**20, 1),
        "query_ms": latency, "coverage_s": round(coverage_s, 2),
    }, indent=1))


if __name__ == "__main__":
    main()

"""Gated downloads benchmark, on nginx over loopback, side by side in one run.

1. 2,000 small files (20-200 KB, 40 records x 50 files): ``scrapy download`` as a user runs it
   (its default ``ENVISION_DOWNLOAD_PROCESSES = 0``: one process per CPU from 500 files) vs the
   ``gbif-dl`` package's asyncio downloader (aiohttp, 128 connections by default, one process)
   -> files/s, on the download phase and on the process wall (start-up, gating, hashing,
   manifests included); then ``scrapy download --processes 1`` on the process wall.
2. One 2 GiB file (``--big-mib 0`` skips it): ``scrapy download`` (ranged, verified md5 + sha256)
   vs ``curl -o`` and vs ``curl -o`` then ``sha256sum`` (the issue's peer: a download that is
   also verified) -> MB/s, and the peak RSS of the scrapy process (``os.wait4`` rusage of that
   child alone).

Our package's bytecode is compiled first (``compileall``), as pip does when it installs a package
(gbif-dl's is): with ``PYTHONDONTWRITEBYTECODE`` set, every run would otherwise compile it again.

``--runs N`` repeats both N times and prints min / median / max of each figure and of the
ratio computed within each run (the machine's load moves absolute figures; ratios are what count).

Usage (from the project root)::

    .venv/bin/python bench/download_bench.py [--tmp DIR] [--small 2000] [--big-mib 2048]
        [--runs 3] [--gbif-python PYTHON]   # an interpreter with gbif-dl (bench/requirements.txt)

Files are written under ``--tmp`` (default: a temp dir on the project's disk) and removed at the end.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envision_spiders.jsoncodec import write_json_atomic  # noqa: E402
from envision_spiders.state.store import record_path  # noqa: E402
from tests.servers.nginx import NginxServer  # noqa: E402

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"  # gbif-dl sniffs types

GBIF_SCRIPT = r"""
import json, sys, time
from gbif_dl.stores.dl_async import download
items = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
stats = download(items, root=sys.argv[2], loglevel="CRITICAL")
print(json.dumps({"seconds": time.perf_counter() - t0, "stats": stats}))
"""


def run_child(cmd: list[str], **kw: Any) -> tuple[int, float, int, str]:
    """(exit code, wall seconds, peak RSS bytes of that child, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    # communicate() reaped it: take the rusage via a wrapper below instead when RSS matters
    return proc.returncode, wall, 0, out + ("" if proc.returncode == 0 else err[-3000:])


def run_child_rss(cmd: list[str], **kw: Any) -> tuple[int, float, int, str]:
    out_file = tempfile.TemporaryFile(mode="w+")
    err_file = tempfile.TemporaryFile(mode="w+")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    err_file.seek(0)
    text = out_file.read() + ("" if proc.returncode == 0 else err_file.read()[-3000:])
    return proc.returncode, wall, usage.ru_maxrss * 1024, text


def manifest_phase(downloads: Path) -> float:
    """Seconds from the first record's start to the last record's finish, from the manifests."""
    starts, ends = [], []
    for path in downloads.rglob("manifest.json"):
        man = json.loads(path.read_text())
        assert man["status"] == "complete", (path, man["status"])
        starts.append(datetime.fromisoformat(man["started_at"]))
        ends.append(datetime.fromisoformat(man["finished_at"]))
    return (max(ends) - min(starts)).total_seconds()


def scrapy_download(data: Path, settings: dict[str, Any]) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", "download", "-s", f"ENVISION_DATA_DIR={data}", "-s", "LOG_LEVEL=WARNING"]
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def env() -> dict[str, str]:
    # nginx listens on loopback: let the network fence (docs/security.md) reach it
    e = dict(os.environ, PYTHONPATH=str(ROOT), TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="",
             ENVISION_FENCE_ALLOW="127.0.0.0/8,localhost")
    for key in [k for k in e if k.endswith("_TOKEN")]:
        del e[key]
    return e


def store_record(data: Path, sid: str, files: list[dict[str, Any]]) -> None:
    write_json_atomic(
        record_path(data, "bench", sid),
        # labelled as the classifier writes it: the gate also wants eye evidence
        {"source": "bench", "source_id": sid, "label": "EYE_IMAGING", "confidence": 0.99, "eye_evidence": ["words"],
         "access_type": "open", "files": files},
    )


def bench_small(ng: NginxServer, work: Path, n: int, gbif_python: str) -> dict[str, Any]:
    rng = random.Random(42)
    per_record = 50
    data = work / "small-data"
    items, total = [], 0
    for r in range(0, n, per_record):
        files = []
        for i in range(r, min(r + per_record, n)):
            size = rng.randint(20_000, 200_000)
            body = JPEG_HEAD + rng.randbytes(size - len(JPEG_HEAD))
            url = ng.put(f"small/{i:05d}.jpg", body)
            files.append({"name": f"img/{i:05d}.jpg", "size": size, "url": url,
                          "checksum": "md5:" + hashlib.md5(body).hexdigest(), "access": "open"})
            items.append({"url": url, "basename": f"{i:05d}", "label": "bench"})
            total += size
        store_record(data, f"r{r // per_record:03d}", files)
    # ours: concurrency comparable to gbif-dl's 128 connections
    settings = {"CONCURRENT_REQUESTS": 128, "CONCURRENT_REQUESTS_PER_DOMAIN": 128,
                "ENVISION_DOWNLOAD_CONCURRENCY": 128, "ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST": 128}
    code, wall, _, out = run_child(scrapy_download(data, settings), cwd=ROOT, env=env())
    if code != 0:
        raise SystemExit(f"scrapy download failed: {out}")
    ours_phase = manifest_phase(data / "downloads")
    # ours again in one process (a fresh downloads folder)
    shutil.rmtree(data / "downloads")
    code, pwall, _, out = run_child(scrapy_download(data, settings) + ["--processes", "1"], cwd=ROOT, env=env())
    if code != 0:
        raise SystemExit(f"scrapy download --processes 1 failed: {out}")
    # gbif-dl
    items_file = work / "gbif-items.json"
    items_file.write_text(json.dumps(items))
    script = work / "gbif_run.py"
    script.write_text(GBIF_SCRIPT)
    code, gwall, _, gout = run_child([gbif_python, str(script), str(items_file), str(work / "gbif-out")])
    if code != 0:
        raise SystemExit(f"gbif-dl failed: {gout}")
    g = json.loads(gout.strip().splitlines()[-1])
    if g["stats"]["success"] != n:
        raise SystemExit(f"gbif-dl did not fetch every file: {g['stats']}")
    return {"files": n, "bytes": total, "ours_phase": ours_phase, "ours_wall": wall,
            "ours_one_process_wall": pwall, "gbif_phase": g["seconds"], "gbif_wall": gwall}


def bench_big(ng: NginxServer, work: Path, mib: int) -> dict[str, Any]:
    size = mib * 1024 * 1024
    path = ng.root / "big" / "volume.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    md5 = hashlib.md5()
    block = os.urandom(16 * 1024 * 1024)
    with path.open("wb") as fh:
        for n in range(size // len(block)):
            chunk = bytes([n % 256]) + block[1:]  # cheap but not repeating block-for-block
            fh.write(chunk)
            md5.update(chunk)
    url = ng.url("big/volume.bin")
    # curl first (warms nginx's page cache the same way for both)
    curl_out = work / "curl.bin"
    code, curl_wall, _, out = run_child(["curl", "-sS", "-o", str(curl_out), url])
    if code != 0:
        raise SystemExit(f"curl failed: {out}")
    assert curl_out.stat().st_size == size
    code, sum_wall, _, out = run_child(["sha256sum", str(curl_out)])
    if code != 0:
        raise SystemExit(f"sha256sum failed: {out}")
    curl_out.unlink()
    data = work / "big-data"
    store_record(data, "big", [{"name": "volume.bin", "size": size, "url": url,
                                "checksum": "md5:" + md5.hexdigest(), "access": "open"}])
    code, wall, rss, out = run_child_rss(scrapy_download(data, {}), cwd=ROOT, env=env())
    if code != 0:
        raise SystemExit(f"scrapy download (big) failed: {out}")
    phase = manifest_phase(data / "downloads")
    (data / "downloads" / "bench" / "big" / "volume.bin").unlink()
    path.unlink()
    return {"bytes": size, "curl_wall": curl_wall, "sha256sum_wall": sum_wall, "ours_phase": phase, "ours_wall": wall,
            "ours_rss": rss}


def figures(small: dict[str, Any], big: dict[str, Any] | None) -> dict[str, tuple[float, float]]:
    """measure -> (ours, peer) of one run."""
    mb = 1e6
    n = small["files"]
    small_figures = {
        "small files/s (download phase) | gbif-dl": (n / small["ours_phase"], n / small["gbif_phase"]),
        "small files/s (process wall) | gbif-dl": (n / small["ours_wall"], n / small["gbif_wall"]),
        "small files/s (process wall, --processes 1) | gbif-dl": (n / small["ours_one_process_wall"], n / small["gbif_wall"]),
    }
    if big is None:
        return small_figures
    size = big["bytes"] / mb
    checked = big["curl_wall"] + big["sha256sum_wall"]
    return {
        **small_figures,
        "big file MB/s (download phase) | curl": (size / big["ours_phase"], size / big["curl_wall"]),
        "big file MB/s (process wall) | curl": (size / big["ours_wall"], size / big["curl_wall"]),
        "big file MB/s (process wall, verified) | curl + sha256sum": (size / big["ours_wall"], size / checked),
        "big file peak RSS MB | -": (big["ours_rss"] / mb, 0.0),
    }


GOALS = {"small files/s (process wall)": ">= 1.2x", "big file MB/s (process wall, verified)": ">= 0.8x",
         "big file peak RSS MB": "<= 300 MB"}


def spread(values: list[float], digits: int = 0) -> str:
    """``min / median / max`` (one value: itself)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tmp", default=None, help="work directory (default: a temp dir next to the project)")
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--big-mib", type=int, default=2048, help="size of the big file; 0 = no big file")
    parser.add_argument("--runs", type=int, default=1, help="repeat N times: min / median / max")
    parser.add_argument("--gbif-python", default=sys.executable)
    args = parser.parse_args()
    runs: list[dict[str, tuple[float, float]]] = []
    # gbif-dl runs from the bytecode pip compiled when it installed it; our package is an editable
    # install, and where PYTHONDONTWRITEBYTECODE is set (this machine) Python would compile its ~95
    # modules from source at every `scrapy` start (~0.1 s of each process wall): compile them
    # once, as pip does for an installed package
    compileall.compile_dir(ROOT / "envision_spiders", quiet=1)
    load_start = os.getloadavg()
    raw = []
    for _ in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="download-bench-", dir=args.tmp or ROOT.parent))
        try:
            with NginxServer(work / "nginx") as ng:
                small = bench_small(ng, work, args.small, args.gbif_python)
                big = bench_big(ng, work, args.big_mib) if args.big_mib > 0 else None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs.append(figures(small, big))
        raw.append({"small": small, "big": big})
    load = os.getloadavg()
    print(f"{args.runs} run(s); {args.small} small files, " + (f"one {args.big_mib} MiB file; " if args.big_mib > 0 else "no big file; ") +
          f"load average (1 min) {load_start[0]:.1f} at the start, {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          f"at the end on {os.cpu_count()} CPUs (scrapy download's default there: one process per CPU from 500 files)")
    print("| measure | envision-spiders | peer | ratio | goal |\n|---|---|---|---|---|")
    for key in runs[0]:
        measure, peer = key.split(" | ")
        ours = [r[key][0] for r in runs]
        theirs = [r[key][1] for r in runs]
        if peer == "-":
            print(f"| {measure} | {spread(ours)} | | | {GOALS.get(measure, '')} |")
            continue
        ratios = [o / t for o, t in zip(ours, theirs)]
        goal = GOALS.get(measure, "")
        print(f"| {measure} | {spread(ours)} | {peer} {spread(theirs)} | {spread(ratios, 2)}x | {goal} |")
    print(json.dumps(raw, default=str))


if __name__ == "__main__":
    main()

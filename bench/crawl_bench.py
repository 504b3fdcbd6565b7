"""Crawl throughput benchmark (not a test): spider + pipelines against the local fake Zenodo.

Runs the real ``scrapy crawl zenodo`` in a subprocess, delays off, page size 100 (token),
classifier and archive inspection off (they have benchmarks of their own), and prints:
records/s, peak RSS of the crawl process, and the request count of an unchanged re-crawl.

The limit it is compared with is the disk's: the rate at which the store's own atomic writer
(temp file, optional fsync, rename) writes the very records the crawl stored, one after the
other, into a fresh directory on the same file system, measured in the same run (each timed
phase after an ``os.sync()``, so neither waits on the writeback of the crawls before it). Both figures
come twice: with the store's default (no fsync: the page cache's rate) and with
``ENVISION_STORE_FSYNC=True`` (every record on the disk before it counts as stored: issue 15's
measure, goal >= 0.7x); the durable crawl runs once with each ``ENVISION_STORE_FSYNC_BARRIER``
(``filesystem``: one syncfs a page, the default; ``file``: an fsync a file), so the two are paired
in one run. Not with ``--s3`` (no local record files then).

    .venv/bin/python bench/crawl_bench.py [--records 10000] [--no-fsync-run] [--s3 [--s3-latency-ms 30]]
        [-s ENVISION_STATE_URL=postgresql://…]

``--s3`` stores the records and feeds in an S3-protocol server on loopback (moto's, as the
tests start it) with ``ENVISION_STORE_URL`` instead of files under the data directory;
``--s3-latency-ms`` puts a proxy in front of it that holds every request that long (a real
object store's round trip is 20-100 ms; moto's on loopback ~1 ms).
With a state URL, point it at an empty database: the re-crawl figures assume the first crawl
found nothing stored.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envision_spiders.jsoncodec import write_json_atomic  # noqa: E402
from envision_spiders.state.store import METADATA_DIR, iter_stored_paths, load_record  # noqa: E402
from tests.conftest import scrapy_command, scrapy_env  # noqa: E402
from tests.servers.latency import LatencyProxy  # noqa: E402
from tests.servers.s3 import S3Server  # noqa: E402
from tests.servers.zenodo import FakeZenodo  # noqa: E402


def crawl(fake: FakeZenodo, data_dir: Path, name: str, extra: dict[str, str]) -> tuple[dict, float, float, float]:
    stats_file = data_dir.parent / f"{name}.stats.json"
    settings = {
        "ZENODO_API_URL": f"{fake.base_url}/api",
        "ENVISION_DATA_DIR": str(data_dir),
        "ENVISION_STATS_FILE": str(stats_file),
        "DOWNLOAD_DELAY": "0",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
        "CLASSIFIER_ENABLED": "False",
        "ENVISION_INSPECT_ENABLED": "False",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    cmd = scrapy_command("crawl", "zenodo")  # the two default feeds (ENVISION_FEEDS) are written
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    # /usr/bin/time is not always there: take the child's peak RSS from getrusage instead,
    # running each crawl in a fresh helper process so the maximum is this crawl's own.
    runner = (
        "import resource, subprocess, sys, time, json;"
        "t=time.perf_counter(); rc=subprocess.call(sys.argv[1:]);"
        "print(json.dumps({'rc': rc, 'wall': time.perf_counter()-t,"
        "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
        "'cpu': resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime"
        "+ resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", runner, *cmd], cwd=ROOT, env=scrapy_env({"ZENODO_ACCESS_TOKEN": fake.token}),
        capture_output=True, text=True, check=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    if figures["rc"] != 0:
        raise SystemExit(f"crawl {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(stats_file.read_text()), figures["wall"], figures["maxrss_kb"] / 1024, figures["cpu"]


def disk_write_rate(stored: Path, target: Path, fsync: bool, limit: int = 3000) -> float:
    """Atomic JSON writes/s of the store's writer on this file system: the records a crawl
    stored under ``stored`` (up to ``limit``), read first, then written one by one into
    ``target`` (fresh files, as a first crawl creates them)."""
    records = [load_record(path) for path in list(iter_stored_paths(stored))[:limit]]
    os.sync()  # the dirty pages of the crawls before are not this writer's to wait for
    started = time.perf_counter()
    for n, record in enumerate(records):
        write_json_atomic(target / METADATA_DIR / record["source"] / f"{n}.json", record, fsync=fsync)
    return len(records) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="extra Scrapy setting for every crawl")
    parser.add_argument("--s3", action="store_true", help="records and feeds in an S3 server on loopback (moto)")
    parser.add_argument("--s3-latency-ms", type=float, default=0.0,
                        help="with --s3: hold every object-store request this long (a remote store's round trip)")
    parser.add_argument("--no-fsync-run", action="store_true", help="leave out the ENVISION_STORE_FSYNC=True crawl")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    with tempfile.TemporaryDirectory(prefix="envision-bench-") as tmp, FakeZenodo(n_records=args.records) as fake:
        s3 = None
        proxy = None
        if args.s3:
            (Path(tmp) / "s3").mkdir()
            s3 = S3Server(Path(tmp) / "s3").start()
            extra.update(s3.settings(), ENVISION_STORE_URL=f"s3://{s3.bucket('bench')}/crawl")
            if args.s3_latency_ms:
                proxy = LatencyProxy(s3.endpoint, args.s3_latency_ms / 1000).__enter__()
                extra["AWS_ENDPOINT_URL"] = proxy.endpoint
                print(f"object store round trip    +{args.s3_latency_ms:g} ms a request (proxy)")
        try:
            run_all(args.records, extra, fake, Path(tmp), disk=not args.s3, durable=not args.no_fsync_run)
        finally:
            if proxy is not None:
                proxy.__exit__(None, None, None)
            if s3 is not None:
                s3.stop()


def run_all(records: int, extra: dict[str, str], fake: FakeZenodo, tmp: Path, disk: bool, durable: bool) -> None:
    fake.all_records()  # build the fake's data before timing
    # memory should not grow with the number of records: a fifth of the run first, apart
    fifth = FakeZenodo(n_records=max(1, records // 5))
    with fifth:
        fifth.all_records()
        # its own embedded state: a shared ENVISION_STATE_URL would hand the main crawl these records as unchanged
        small, _, small_rss, _ = crawl(fifth, tmp / "fifth", "fifth", {**extra, "ENVISION_STATE_URL": ""})
    data_dir = tmp / "data"
    first, wall, rss, cpu = crawl(fake, data_dir, "first", {"ENVISION_STORE_FSYNC": "False", **extra})
    n = first.get("item_scraped_count", 0)
    elapsed = first["elapsed_time_seconds"]
    calls_before = len(fake.calls)
    second, wall2, rss2, _ = crawl(fake, data_dir, "second", extra)
    recrawl_requests = len(fake.calls) - calls_before
    print(f"records crawled            {n}")
    print(f"search requests            {first['downloader/request_count']}")
    print(f"crawl time (engine)        {elapsed:.2f} s   (process wall incl. start-up {wall:.2f} s, "
          f"CPU {cpu:.2f} s = {cpu / max(n, 1) * 1000:.3f} ms/record)")
    print(f"records/s (engine)         {n / elapsed:,.0f}")
    print(f"records/s (process wall)   {n / wall:,.0f}")
    print(f"peak RSS first crawl       {rss:.0f} MB   ({small.get('item_scraped_count', 0)} records: {small_rss:.0f} MB)")
    print(f"unchanged re-crawl         {recrawl_requests} requests (all search pages), "
          f"{second.get('envision/incremental/unchanged', 0)} records skipped, "
          f"{second.get('item_scraped_count', 0)} re-processed, {wall2:.2f} s, peak RSS {rss2:.0f} MB")
    if not disk:
        return
    rows = [("fsync off (default)", n / elapsed, disk_write_rate(data_dir, tmp / "disk-plain", fsync=False))]
    if durable:
        # each its own embedded state, as the fifth's: the records of the first crawl are not unchanged to it
        # the fsync'd rate moves a lot from one minute to the next: taken right before and right
        # after the durable crawls, and the higher of the two is the limit (the harder one to come near)
        before = disk_write_rate(data_dir, tmp / "disk-fsync-before", fsync=True)
        durable_rates = {}
        for barrier in ("filesystem", "file"):
            os.sync()  # nor the crawl's: each timed phase starts with nothing dirty
            durable_stats, _, _, _ = crawl(fake, tmp / f"durable-{barrier}", f"durable-{barrier}", {
                **extra, "ENVISION_STORE_FSYNC": "True", "ENVISION_STORE_FSYNC_BARRIER": barrier,
                "ENVISION_STATE_URL": "",
            })
            durable_rates[barrier] = durable_stats.get("item_scraped_count", 0) / durable_stats["elapsed_time_seconds"]
        after = disk_write_rate(tmp / "durable-file", tmp / "disk-fsync", fsync=True)
        print(f"disk fsync'd writes/s      {before:,.0f} before the durable crawls, {after:,.0f} after")
        rows.append(("fsync on, syncfs a batch", durable_rates["filesystem"], max(before, after)))
        rows.append(("fsync on, fsync a file", durable_rates["file"], max(before, after)))
    print()
    print(f"{'':28}{'records/s':>12}{'disk atomic writes/s':>24}{'ratio':>9}")
    for label, ours, limit in rows:
        print(f"{label:28}{ours:>12,.0f}{limit:>24,.0f}{ours / limit:>8.2f}x")
    print("(disk: the store's writer, one record after another, the crawl's own records, same file system;"
          " issue 15's goal: >= 0.7x with fsync on;\n"
          " 'syncfs a batch' is ENVISION_STORE_FSYNC_BARRIER=filesystem, the default; 'fsync a file' is =file)")


if __name__ == "__main__":
    main()

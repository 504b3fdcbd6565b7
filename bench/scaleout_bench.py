"""Downloads on one node vs two (not a test): does a second node double the throughput when the
network, not the CPU, is the limit?

nginx on loopback serves ``--files`` files of ``--mib`` MiB, each in its own gated record, at
``--rate`` bytes/s per connection (``limit_rate``: a stand-in for a repository's per-connection
bandwidth). The records are stored once; then, per run, a fresh bucket on an S3-protocol server
(moto, loopback) and a fresh PostgreSQL database (the state, with the download leases):

- one node: one ``scrapy download`` (``ENVISION_NODE_NAME=node-a``);
- two nodes: two ``scrapy download`` processes started together (``node-a``, ``node-b``), the
  same state and the same bucket, the same per-node concurrency.

Printed per run: bytes stored, wall time (start of the first process to the end of the last),
MB/s, how many records each node downloaded; then min/median/max over ``--runs`` and the ratio
of the medians. Every object is re-hashed against its sha256 after each run (an unverified or
missing file is an error, not a figure).

    .venv/bin/python bench/scaleout_bench.py [--files 16] [--mib 4] [--rate 1m] [--concurrency 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envision_spiders.jsoncodec import write_json_atomic  # noqa: E402
from envision_spiders.state.store import record_path  # noqa: E402
from tests.conftest import scrapy_command, scrapy_env  # noqa: E402
from tests.servers.nginx import NginxServer  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.s3 import S3Server  # noqa: E402


def make_files(nginx: NginxServer, data_dir: Path, count: int, mib: int) -> dict[str, str]:
    """``count`` records of one file each (served by nginx's rate-limited location); key -> sha256."""
    digests = {}
    for i in range(count):
        body = b"".join(hashlib.sha256(f"{i}/{n}".encode()).digest() * 32768 for n in range(mib))  # 1 MiB each
        name = f"scaleout/{i}.bin"
        nginx.put(name, body)
        digests[f"zenodo/{i}/{i}.bin"] = hashlib.sha256(body).hexdigest()
        write_json_atomic(record_path(data_dir, "zenodo", str(i)), {
            "source": "zenodo", "source_id": str(i), "title": f"fundus {i}", "label": "EYE_IMAGING",
            "confidence": 0.95, "access_type": "open",
            "files": [{"name": f"{i}.bin", "size": len(body), "url": nginx.url(name, location="slow"),
                       "checksum": "md5:" + hashlib.md5(body).hexdigest(), "access": "open"}],
        })
    return digests


def start_node(name: str, data_dir: Path, settings: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = scrapy_command("download", "-s", f"ENVISION_DATA_DIR={data_dir}", "-s", "LOG_LEVEL=INFO", "-s", "DOWNLOAD_DELAY=0")
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    out = log.with_suffix(".out").open("wb")
    err = log.open("wb")
    with out, err:
        return subprocess.Popen(cmd, cwd=ROOT, env=scrapy_env({"ENVISION_NODE_NAME": name}), stdout=out, stderr=err)


def one_run(nodes: int, data_dir: Path, s3: S3Server, pg: PostgresServer, base: dict[str, str],
            digests: dict[str, str], logs: Path, tag: str) -> dict[str, float | int | list[int]]:
    bucket = s3.bucket("scaleout")
    settings = {**base, **s3.settings(), "FILES_STORE": f"s3://{bucket}/dl",
                "ENVISION_STATE_URL": pg.create_database()}
    started = time.perf_counter()
    procs = [start_node(f"node-{chr(97 + n)}", data_dir, settings, logs / f"{tag}-{n}.log") for n in range(nodes)]
    codes = [proc.wait() for proc in procs]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"scrapy download failed ({codes}); logs in {logs}")
    per_node = []
    for n in range(nodes):
        summary = json.loads((logs / f"{tag}-{n}.out").read_text().strip().splitlines()[-1])["download"]
        per_node.append(int(summary.get("records/complete", 0)) - int(summary.get("files/already_present", 0)))
    stored = 0
    for key, sha in digests.items():
        if s3.sha256(bucket, f"dl/{key}") != sha:
            raise SystemExit(f"{key}: the stored object does not hash to the file's sha256")
        stored += s3.client.head_object(Bucket=bucket, Key=f"dl/{key}")["ContentLength"]
    return {"bytes": stored, "wall": wall, "mbps": stored / wall / 1e6, "per_node": per_node}


def describe(values: list[float]) -> str:
    return f"min {min(values):.2f}  median {statistics.median(values):.2f}  max {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--mib", type=int, default=4, help="MiB per file")
    parser.add_argument("--rate", default="1m", help="nginx limit_rate per connection (bytes/s; k, m suffixes)")
    parser.add_argument("--concurrency", type=int, default=2, help="file requests in flight per node")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = {
        "ENVISION_DOWNLOAD_CONCURRENCY": str(args.concurrency),
        "ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST": str(args.concurrency),
        "ENVISION_DOWNLOAD_CHUNK_THRESHOLD": str((args.mib + 1) * 1024 * 1024),  # one request per file
        "ENVISION_DOWNLOAD_PROGRESS_INTERVAL": "0",
        "ENVISION_PROGRESS_INTERVAL": "0",
    }
    with tempfile.TemporaryDirectory(prefix="envision-scaleout-bench-") as tmp:
        tmp_path = Path(tmp)
        for sub in ("nginx", "s3", "logs"):
            (tmp_path / sub).mkdir()
        pg = PostgresServer()
        pg.start()
        s3 = S3Server(tmp_path / "s3").start()
        try:
            with NginxServer(tmp_path / "nginx", slow_rate=args.rate) as nginx:
                data_dir = tmp_path / "data"
                digests = make_files(nginx, data_dir, args.files, args.mib)
                print(f"{args.files} files x {args.mib} MiB, nginx limit_rate {args.rate} per connection, "
                      f"{args.concurrency} file requests in flight per node, {args.runs} run(s) each")
                figures: dict[int, list[dict]] = {1: [], 2: []}
                for run in range(args.runs):
                    for nodes in (1, 2):
                        result = one_run(nodes, data_dir, s3, pg, base, digests, tmp_path / "logs", f"r{run}n{nodes}")
                        figures[nodes].append(result)
                        print(f"run {run + 1}, {nodes} node(s): {result['bytes']:,} bytes, wall {result['wall']:.2f} s, "
                              f"{result['mbps']:.2f} MB/s, records per node {result['per_node']}")
                for nodes in (1, 2):
                    print(f"{nodes} node(s): MB/s {describe([r['mbps'] for r in figures[nodes]])}; "
                          f"wall s {describe([r['wall'] for r in figures[nodes]])}")
                one = statistics.median(r["mbps"] for r in figures[1])
                two = statistics.median(r["mbps"] for r in figures[2])
                ratios = [b["mbps"] / a["mbps"] for a, b in zip(figures[1], figures[2])]
                print(f"two nodes / one node (medians): {two / one:.2f}x; per run: {describe(ratios)}")
        finally:
            s3.stop()
            pg.stop()


if __name__ == "__main__":
    main()

"""Archive inspection benchmark (not a test): requests and bytes per archive against nginx.

Generates a corpus (small ZIP, 2,000-entry ~200 MB ZIP, 100,000-entry ZIP, forced-ZIP64 ZIP,
1,000-member TAR with mixed member sizes, 1,000-member tar.gz), serves it with a real nginx on
loopback (``tests/servers/nginx.py``), and runs the real pipeline in a real crawl (the probe
spider of the integration tests) twice: listing only (``ENVISION_INSPECT_SNIFF_COUNT=0``) and
listing + deep sniff of 8 entries. Requests and bytes come from nginx's access log.

Lower bound: ZIP = EOCD + comment + ZIP64 records + central directory; TAR = 512 bytes per
header; tar.gz = the whole compressed stream (every header must be decompressed to be seen).
With ``remotezip`` installed (``bench/requirements.txt``) the same ZIPs are listed with it for
comparison.

    .venv/bin/python bench/inspect_bench.py [--workdir DIR] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import jsonlines

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import scrapy_command, scrapy_env
from tests.inspection import corpus
from tests.servers.nginx import NginxServer, find_nginx

SPIDER = ROOT / "tests" / "pipelines" / "inspect_spider.py"


def build(workdir: Path) -> dict[str, dict[str, Any]]:
    """Write the corpus under ``workdir/root`` (reused when present); return facts per file."""
    root = workdir / "root"
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    makers = {
        "small.zip": lambda: corpus.image_zip(20, 20_000),
        "2k-200MB.zip": lambda: corpus.image_zip(2000, 100_000, extras=0),
        "100k.zip": lambda: corpus.many_entries_zip(100_000),
        "zip64.zip": lambda: _zip64(),
        "1k.tar": lambda: _mixed_tar(rng),
        "1k.tar.gz": lambda: corpus.gz(_compressible_tar()),
    }
    facts = {}
    for name, make in makers.items():
        path = root / name
        if not path.exists():
            path.write_bytes(make())
        facts[name] = {"size": path.stat().st_size, "lower_bound": lower_bound(path)}
    return facts


def _zip64() -> bytes:
    with corpus.forced_zip64():
        return corpus.image_zip(1000, 2000, seed=7)


def _mixed_tar(rng: random.Random) -> bytes:
    """1,000 members: mostly 2-20 kB images, one in ten a 300-600 kB volume."""
    members = []
    for i in range(1000):
        size = rng.randint(300_000, 600_000) if i % 10 == 9 else rng.randint(2_000, 20_000)
        ext, data = corpus.image_payload(i, size, rng)
        members.append((f"study/eye_{i:05d}{ext}", data))
    return corpus.tar_bytes(members)


def _compressible_tar() -> bytes:
    """1,000 members of ~12 kB that compress about 3:1."""
    rng = random.Random(5)
    members = []
    for i in range(1000):
        ext, head = corpus.image_payload(i, 0)
        members.append((f"thumbs/t_{i:05d}{ext}", head + rng.randbytes(3000) + bytes(range(256)) * 32))
    return corpus.tar_bytes(members)


def lower_bound(path: Path) -> int:
    name = path.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            return path.stat().st_size - zf.start_dir
    if name.endswith(".tar"):
        with tarfile.open(path) as tf:
            return 512 * len(tf.getmembers())
    return path.stat().st_size  # tar.gz: the stream must be decompressed through its last header


def crawl(
    nginx: NginxServer, facts: dict[str, dict[str, Any]], workdir: Path, sniff: int, extra: dict[str, Any] | None = None
) -> tuple[dict, list]:
    records = [
        {"source": "bench", "source_id": name,
         "files": [{"name": name, "url": nginx.storage_url(name), "size": info["size"], "checksum": None}]}
        for name, info in facts.items()
    ]
    run = workdir / f"run-sniff{sniff}{'-extra' if extra else ''}"
    run.mkdir(exist_ok=True)
    (run / "records.json").write_text(json.dumps(records))
    out = run / "out.jsonl"
    cmd = scrapy_command("runspider", str(SPIDER), "-O", str(out), "-a", f"records={run / 'records.json'}")
    settings = {"ENVISION_DATA_DIR": run / "data", "CLASSIFIER_ENABLED": False, "LOG_LEVEL": "WARNING",
                "ENVISION_INSPECT_SNIFF_COUNT": sniff, "ENVISION_INSPECT_CONCURRENCY": 1, **(extra or {})}
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    nginx.reset_log()
    proc = subprocess.run(cmd, cwd=ROOT, env=scrapy_env(), capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    with jsonlines.open(out) as reader:
        items = {item["source_id"]: item for item in reader}
    return items, nginx.requests()


def remotezip_listing(nginx: NginxServer, name: str) -> tuple[int, int] | None:
    try:
        from remotezip import RemoteZip
    except ImportError:
        return None
    nginx.reset_log()
    with RemoteZip(nginx.storage_url(name)) as rz:
        rz.infolist()
    log = [e for e in nginx.requests() if e["uri"].endswith("/" + name)]
    return len(log), sum(e["bytes"] for e in log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="corpus + nginx dir (default: a temp dir)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown only")
    args = parser.parse_args()
    if find_nginx() is None:
        raise SystemExit("nginx is not installed (apt-get install -y nginx)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inspect-bench-"))
    started = time.monotonic()
    facts = build(workdir)
    built = time.monotonic() - started
    with NginxServer(workdir) as nginx:
        listed, list_log = crawl(nginx, facts, workdir, sniff=0)
        sniffed, sniff_log = crawl(nginx, facts, workdir, sniff=8)
        # the other end of the TAR trade-off: one header per request, no read-ahead
        tars = {name: info for name, info in facts.items() if name.endswith(".tar")}
        per_header, per_header_log = crawl(nginx, tars, workdir, sniff=0, extra={"ENVISION_INSPECT_TAR_GAP_BYTES": 0})
        remote = {name: remotezip_listing(nginx, name) for name in facts if name.endswith(".zip")}
    rows = []
    for name, info in facts.items():
        contents = listed[name]["archive_contents"][0]
        with_sniff = sniffed[name]["archive_contents"][0]
        list_reqs = [e for e in list_log if e["uri"].endswith("/" + name)]
        all_reqs = [e for e in sniff_log if e["uri"].endswith("/" + name)]
        req, nbytes = len(list_reqs), sum(e["bytes"] for e in list_reqs)
        extra_req = len(all_reqs) - req
        extra_bytes = sum(e["bytes"] for e in all_reqs) - nbytes
        images = sum(1 for i in with_sniff["images"] if i.get("width"))
        rz = remote.get(name)
        rows.append({
            "archive": name,
            "size": info["size"],
            "format": contents["format"],
            "entries": f"{contents['entries_listed']}/{contents['entries_total'] or '?'}",
            "status": contents["status"],
            "requests": req,
            "bytes": nbytes,
            "lower_bound": info["lower_bound"],
            "ratio": nbytes / info["lower_bound"],
            "over_lb": nbytes - info["lower_bound"],
            "sniff": f"+{extra_req} req, +{extra_bytes:,} B, {images}/8 images",
            "remotezip": f"{rz[0]} req, {rz[1]:,} B, {rz[1] / info['lower_bound']:.2f}x" if rz else "-",
        })
    header = ("| archive | size | format | entries | status | requests | bytes | lower bound | ratio "
              "| bytes - LB | deep sniff (8) | remotezip |")
    print(header)
    print("|" + "---|" * 12)
    for r in rows:
        print(f"| {r['archive']} | {r['size']:,} | {r['format']} | {r['entries']} | {r['status']} | {r['requests']} "
              f"| {r['bytes']:,} | {r['lower_bound']:,} | {r['ratio']:.2f}x | {r['over_lb']:,} | {r['sniff']} "
              f"| {r['remotezip']} |")
    for name, info in tars.items():
        c = per_header[name]["archive_contents"][0]
        log = [e for e in per_header_log if e["uri"].endswith("/" + name)]
        nbytes = sum(e["bytes"] for e in log)
        print(f"| {name} (TAR_GAP_BYTES=0) | {info['size']:,} | tar | {c['entries_listed']}/? "
              f"(~{c.get('entries_estimated', '?')}) | {c['status']} | {len(log)} | {nbytes:,} "
              f"| {info['lower_bound']:,} | {nbytes / info['lower_bound']:.2f}x | {nbytes - info['lower_bound']:,} "
              f"| - | - |")
    if not args.markdown:
        print(f"\ncorpus built in {built:.1f} s under {workdir}; total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()

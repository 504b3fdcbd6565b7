"""Downloads into an S3-compatible store (not a test): memory and speed of one large file.

Serves one file of ``--mib`` MiB (default 512) from nginx on loopback, runs the real
``scrapy download`` for one stored record twice, ``FILES_STORE`` local then ``s3://`` on moto's
server (loopback), and prints per run: wall time, MB/s, peak RSS of the scrapy process (getrusage
of a helper that runs only it: moto keeps objects in its own process's memory and is not
counted), and whether the stored bytes hash to the file's sha256 (the S3 object read back).

    .venv/bin/python bench/s3_download_bench.py [--mib 512] [--chunk-mib 8] [--in-flight 4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envision_spiders.jsoncodec import write_json_atomic  # noqa: E402
from envision_spiders.state.store import record_path  # noqa: E402
from tests.conftest import scrapy_command, scrapy_env  # noqa: E402
from tests.servers.nginx import NginxServer  # noqa: E402
from tests.servers.s3 import S3Server  # noqa: E402

RUNNER = (
    "import resource, subprocess, sys, time, json;"
    "t=time.perf_counter(); rc=subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
    "print(json.dumps({'rc': rc, 'wall': time.perf_counter()-t,"
    "'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
)


def write_file(path: Path, mib: int) -> tuple[str, str]:
    """``mib`` MiB of incompressible bytes; returns (md5, sha256)."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB
    with open(path, "wb") as fh:
        for i in range(mib):
            chunk = hashlib.sha256(str(i).encode()).digest() + block[32:]
            fh.write(chunk)
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def run(data_dir: Path, settings: dict[str, str]) -> dict:
    cmd = scrapy_command("download", "-s", f"ENVISION_DATA_DIR={data_dir}", "-s", "LOG_LEVEL=WARNING", "-s", "DOWNLOAD_DELAY=0")
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    out = subprocess.run([sys.executable, "-c", RUNNER, *cmd], cwd=ROOT, env=scrapy_env(),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--in-flight", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="envision-s3-bench-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "nginx").mkdir()
        (tmp_path / "s3").mkdir()
        with NginxServer(tmp_path / "nginx") as nginx:
            s3 = S3Server(tmp_path / "s3").start()
            try:
                target = nginx.root / "big.bin"  # served as nginx.url("big.bin")
                target.parent.mkdir(parents=True, exist_ok=True)
                md5, sha = write_file(target, args.mib)
                size = target.stat().st_size
                common = {
                    "ENVISION_DOWNLOAD_CHUNK_SIZE": str(args.chunk_mib * 1024 * 1024),
                    "ENVISION_DOWNLOAD_RANGES_IN_FLIGHT": str(args.in_flight),
                    "ENVISION_DOWNLOAD_PROGRESS_INTERVAL": "0",
                }
                for name in ("local", "s3"):
                    data_dir = tmp_path / name
                    write_json_atomic(record_path(data_dir, "zenodo", "1"), {
                        "source": "zenodo", "source_id": "1", "label": "EYE_IMAGING", "confidence": 0.95,
                        "eye_evidence": ["words"], "access_type": "open", "files": [{"name": "big.bin", "size": size, "url": nginx.url("big.bin"),
                                                          "checksum": f"md5:{md5}", "access": "open"}],
                    })
                    settings = dict(common)
                    if name == "s3":
                        bucket = s3.bucket("bench")
                        settings.update(s3.settings(), FILES_STORE=f"s3://{bucket}/dl")
                    figures = run(data_dir, settings)
                    if name == "s3":
                        ok = s3.sha256(bucket, "dl/zenodo/1/big.bin") == sha
                    else:
                        stored = data_dir / "downloads" / "zenodo" / "1" / "big.bin"
                        ok = hashlib.sha256(stored.read_bytes()).hexdigest() == sha
                    print(f"{name:5} {args.mib} MiB: rc {figures['rc']}, wall {figures['wall']:.1f} s, "
                          f"{size / figures['wall'] / 1e6:.0f} MB/s, peak RSS {figures['maxrss_kb'] / 1024:.0f} MB, "
                          f"sha256 of the stored bytes {'matches' if ok else 'DIFFERS'}")
            finally:
                s3.stop()


if __name__ == "__main__":
    main()

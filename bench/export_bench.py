"""``scrapy export`` benchmark: images/s out of archives, side by side in one run with
``unzip`` / ``tar -x`` of the same archives, and the export's peak RSS for small and big archives.

1. ~20,000 real images (PNG + JPEG, 48x48 noise, a few KB each) in one ZIP (deflate) and one
   tar.gz, four class folders each, stored as two complete downloads. ``scrapy export DEST
   --label-by folder --split train=0.8,val=0.1,test=0.1`` vs ``unzip -q`` + ``tar -xzf`` of
   the same two archives -> images/s (process wall, both sides).
2. One ZIP of ``--big-mib`` MiB of large (stored) TIFF entries: the export's peak RSS there
   vs in (1) shows whether memory follows the archive size.

Usage (from the project root)::

    .venv/bin/python bench/export_bench.py [--images 20000] [--big-mib 1024] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from envision_spiders.downloads.manifest import COMPLETE, MANIFEST_NAME, new_manifest, write_manifest  # noqa: E402
from envision_spiders.downloads.paths import record_dir_name  # noqa: E402
from envision_spiders.jsoncodec import write_json_atomic  # noqa: E402
from envision_spiders.state.store import record_path  # noqa: E402

CLASSES = ("CNV", "DME", "DRUSEN", "NORMAL")


def run_child_rss(cmd: list[str], **kw: Any) -> tuple[int, float, int, str]:
    """(exit code, wall seconds, peak RSS bytes of that child alone, stdout or the error tail)."""
    out_file, err_file = tempfile.TemporaryFile(mode="w+"), tempfile.TemporaryFile(mode="w+")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    out_file.seek(0)
    err_file.seek(0)
    return code, wall, usage.ru_maxrss * 1024, out_file.read() + ("" if code == 0 else err_file.read()[-3000:])


def image(i: int, rng: random.Random) -> tuple[str, bytes]:
    im = Image.frombytes("RGB", (48, 48), rng.randbytes(48 * 48 * 3))
    buf = io.BytesIO()
    fmt, ext = ("PNG", ".png") if i % 2 else ("JPEG", ".jpeg")
    im.save(buf, format=fmt)
    return ext, buf.getvalue()


def register(data: Path, source: str, source_id: str, files: dict[str, Path]) -> None:
    """A stored record whose download folder already holds ``files`` (moved in), marked complete."""
    record = {"source": source, "source_id": source_id, "title": f"bench {source_id}", "label": "EYE_IMAGING",
              "confidence": 0.99, "license": "cc-by-4.0", "doi": f"10.1234/bench.{source_id}",
              "files": [{"name": n} for n in files]}
    write_json_atomic(record_path(data, source, source_id), record)
    folder = data / "downloads" / record_dir_name(source, source_id)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, path in files.items():
        shutil.move(path, folder / name)
        entries.append({"name": name, "path": f"{record_dir_name(source, source_id)}/{name}", "status": COMPLETE})
    write_manifest(folder / MANIFEST_NAME, new_manifest(record, entries, "2026-01-01T00:00:00+00:00", COMPLETE))


def build_small(work: Path, count: int) -> tuple[Path, Path]:
    rng = random.Random(7)
    zpath, tpath = work / "oct.zip", work / "fundus.tar.gz"
    half = count // 2
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(half):
            ext, data = image(i, rng)
            split = "test" if i % 10 == 0 else "train"
            zf.writestr(f"OCT/{split}/{CLASSES[i % 4]}/img_{i:06d}{ext}", data)
    with tarfile.open(tpath, "w:gz") as tf:
        for i in range(half, count):
            ext, data = image(i, rng)
            info = tarfile.TarInfo(f"fundus/{CLASSES[i % 4]}/img_{i:06d}{ext}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return zpath, tpath


def tiff_header(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (277, 3, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def build_big(work: Path, mib: int) -> Path:
    """``mib`` MiB of 64 MiB stored TIFF entries (header + incompressible pixels), written in pieces."""
    path = work / "big.zip"
    piece = random.Random(9).randbytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for n in range(max(mib // 64, 1)):
            with zf.open(zipfile.ZipInfo(f"big/{CLASSES[n % 4]}/slab_{n:03d}.tif"), "w", force_zip64=True) as fh:
                fh.write(tiff_header(8192, 8192))
                for _ in range(64):
                    fh.write(piece)
    return path


def export(data: Path, dest: Path) -> tuple[float, int, dict[str, Any]]:
    cmd = [sys.executable, "-m", "scrapy", "export", str(dest), "--json", "--label-by", "folder",
           "--split", "train=0.8,val=0.1,test=0.1", "--max-entry-bytes", str(2 << 30), "-s", f"ENVISION_DATA_DIR={data}"]
    code, wall, rss, out = run_child_rss(cmd, cwd=ROOT)
    if code != 0:
        raise SystemExit(f"export failed: {out}")
    return wall, rss, json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="export-bench-", dir=args.tmp or ROOT))
    try:
        t0 = time.perf_counter()
        zpath, tpath = build_small(work, args.images)
        built = time.perf_counter() - t0
        # baseline: the same two archives with unzip and tar, one after the other
        base = work / "baseline"
        base.mkdir()
        code1, wall1, rss1, _ = run_child_rss(["unzip", "-q", str(zpath), "-d", str(base / "z")])
        code2, wall2, rss2, _ = run_child_rss(["tar", "-xzf", str(tpath), "-C", str(base)])
        assert code1 == 0 and code2 == 0
        shutil.rmtree(base)
        data = work / "data"
        register(data, "zenodo", "1", {"oct.zip": zpath})
        register(data, "figshare", "2", {"fundus.tar.gz": tpath})
        wall, rss, summary = export(data, work / "dest")
        images = summary["images"]
        shutil.rmtree(work / "dest")

        big_data = work / "big-data"
        register(big_data, "zenodo", "3", {"big.zip": build_big(work, args.big_mib)})
        big_wall, big_rss, big_summary = export(big_data, work / "big-dest")
        big_bytes = big_summary["bytes_written"]
        result = {
            "images": images,
            "build_seconds": round(built, 1),
            "export": {"seconds": round(wall, 2), "images_per_s": round(images / wall), "peak_rss_mb": rss >> 20,
                       "export_seconds": summary["seconds"],
                       "images_per_s_without_startup": round(images / summary["seconds"])},
            # no RSS for them: a child forked from this Python reports this process's peak as its own
            "unzip_plus_tar": {"seconds": round(wall1 + wall2, 2), "images_per_s": round(args.images / (wall1 + wall2))},
            "big_archive": {"mib": big_bytes >> 20, "entries": big_summary["images"], "seconds": round(big_wall, 2),
                            "mb_per_s": round(big_bytes / big_wall / 1e6), "peak_rss_mb": big_rss >> 20},
        }
        print(json.dumps(result, indent=2))
        print(f"| export, {images} images (zip + tar.gz) | {result['export']['images_per_s']} images/s "
              f"({wall:.1f} s) | unzip + tar -x {result['unzip_plus_tar']['images_per_s']} images/s "
              f"({wall1 + wall2:.1f} s) | {images / wall / (args.images / (wall1 + wall2)):.2f}x |")
        print(f"| peak RSS: {images} small images / {big_bytes >> 20} MiB archive | {rss >> 20} MB / {big_rss >> 20} MB |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""API-rate benchmark (not a test): crawl wall time against the time the documented rates allow.

For each source covered, the source's fake answers 429 (with ``Retry-After``) to any request
that comes sooner after the previous one of its rate class than the class's documented
interval allows; the real ``scrapy crawl`` runs against it with archive inspection on (the fake
serves small archives with Range) and the classifier off. Printed per source:

* the requests the crawl made per rate class, counted from its stats (file requests: the
  inspection's ``envision/inspect/<format>/requests``; API/search requests: the rest of
  ``downloader/request_count``);
* the minimum time those rates allow for them: the slowest class, ``(n - 1) x interval``
  (and any bucket shared by several classes, counted with all their requests);
* the crawl's time (engine time, from the stats; process wall with start-up apart);
* the ratio (goal: <= ~1.15x), the 429s the fake gave (a polite crawl gets none) and the
  fake's own time answering (summed over requests: a slow fake is not the crawl's fault).

Rates are divided by ``--speedup`` (default 10) both in the fake and in the crawl's settings so
that a run takes seconds, not hours; the ratio does not depend on it (start-up aside).

    .venv/bin/python bench/api_rate_bench.py [--speedup 10] [--records 300] [--source zenodo] [--no-file-slots]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import scrapy_command, scrapy_env  # noqa: E402
from tests.servers.base import FakeAPI, Reply  # noqa: E402

TOLERANCE = 0.02  # seconds of slack on each window: network and thread scheduling jitter
SPAN = 4  # a class's rate is enforced over every SPAN requests (SPAN intervals), as a window limiter does


@dataclass
class RateGate:
    """The fake's limiter. A bucket is ``(seconds, count)``: at most ``count`` requests in any
    ``seconds`` (a moving window, as Zenodo's flask-limiter and Dryad's rack-attack count);
    ``count`` 1 is a minimum spacing. A request is admitted only when every bucket it counts
    in allows it."""

    buckets: dict[str, tuple[float, int]]
    routes: dict[str, list[str]]  # route name -> buckets it counts in
    seen: dict[str, list[float]] = field(default_factory=dict)
    refused: int = 0
    served_seconds: float = 0.0  # time the fake spent answering (its own share of the crawl's time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, route: str) -> bool:
        names = self.routes.get(route, [])
        with self.lock:
            now = time.monotonic()
            for name in names:
                seconds, count = self.buckets[name]
                recent = [t for t in self.seen.get(name, []) if now - t < seconds - TOLERANCE]
                self.seen[name] = recent
                if len(recent) >= count:
                    self.refused += 1
                    return False
            for name in names:
                self.seen.setdefault(name, []).append(now)
            return True


def gate_fake(fake: FakeAPI, gate: RateGate, too_many: Callable[[float], Reply]) -> None:
    """Every request to ``fake`` goes through ``gate`` first: 429 when too early."""
    dispatch = fake.dispatch

    def gated(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        route = route_of(fake, method, raw_path)
        if route is not None and not gate.admit(route):
            wait = max(gate.buckets[b][0] for b in gate.routes[route])
            return too_many(wait)
        started = time.perf_counter()
        try:
            return dispatch(method, raw_path, headers, body)
        finally:
            with gate.lock:
                gate.served_seconds += time.perf_counter() - started

    fake.dispatch = gated  # type: ignore[method-assign]


def route_of(fake: FakeAPI, method: str, raw_path: str) -> str | None:
    path = raw_path.split("?", 1)[0]
    for name, route_method, pattern, _ in fake._routes:
        if route_method == method and pattern.fullmatch(path):
            return name
    return None


def small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(20):
            zf.writestr(f"images/{n:03}.txt", f"entry {n}\n" * 20)
    return buf.getvalue()


def small_tar_gz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for n in range(20):
            data = f"volume {n}\n".encode() * 50
            info = tarfile.TarInfo(f"volumes/{n:03}.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Source:
    """One source's bench: its fake, its documented buckets, the crawl's settings at that rate."""

    name: str
    make_fake: Callable[[int], FakeAPI]
    buckets: Callable[[float], dict[str, tuple[float, int]]]  # speedup -> (seconds, count) per bucket
    routes: dict[str, list[str]]
    settings: Callable[[FakeAPI, float], dict[str, Any]]
    env: Callable[[FakeAPI], dict[str, str]]
    file_route: str | None  # the fake's route of archive-inspection requests (None: no files)
    without_file_slot: Callable[[dict[str, Any]], dict[str, Any]]  # settings as before the file slots
    too_many: Callable[[float], Reply]


def zenodo() -> Source:
    from tests.servers.zenodo import FakeZenodo

    archives = {".zip": small_zip(), ".tar.gz": small_tar_gz()}

    def file_bytes(key: str) -> bytes | None:
        return next((data for ext, data in archives.items() if key.endswith(ext)), None)

    def buckets(speedup: float) -> dict[str, tuple[float, int]]:
        # API_NOTES: search 30/min; with a token 100/min and 5,000/h overall, of which the file
        # requests get what search leaves (ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN = 3,200/h)
        return {"search": (SPAN * 60 / 30 / speedup, SPAN), "files": (SPAN * 3600 / 3200 / speedup, SPAN),
                "overall": (60 / speedup, 100)}

    def settings(fake: FakeAPI, speedup: float) -> dict[str, Any]:
        return {"ZENODO_API_URL": f"{fake.base_url}/api", "DOWNLOAD_DELAY": 2.1 / speedup,
                "ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN": 3200 * speedup}

    def no_file_slot(settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN": 0}

    return Source(
        "zenodo", lambda n: FakeZenodo(n_records=n, file_bytes=file_bytes), buckets,
        {"search": ["search", "overall"], "record": ["overall"], "file": ["files", "overall"]},
        settings, lambda fake: {"ZENODO_ACCESS_TOKEN": fake.token}, "file", no_file_slot,
        lambda wait: Reply.json({"status": 429, "message": "Too many requests"}, 429,
                                {"Retry-After": f"{max(1, round(wait))}", "X-RateLimit-Remaining": "0"}),
    )


def nei() -> Source:
    from tests.servers.nei import FakeReporter

    def make_fake(n: int) -> FakeReporter:
        fake = FakeReporter(n_projects=5 * n)
        rows = fake.all_rows()  # built once: the fake's own cost is not the crawl's
        fake.all_rows = lambda: rows  # type: ignore[method-assign]
        return fake

    return Source(
        "nei", make_fake, lambda speedup: {"api": (SPAN * 1.0 / speedup, SPAN)},
        {"search": ["api"]},
        lambda fake, speedup: {"NEI_API_URL": f"{fake.base_url}/v2", "DOWNLOAD_DELAY": 1.0 / speedup},
        lambda fake: {}, None, lambda settings: settings,
        lambda wait: Reply.json({"message": "Too many requests"}, 429, {"Retry-After": "1"}),
    )


def osf() -> Source:
    from tests.servers.osf import FakeOSF

    archive = small_zip()

    def buckets(speedup: float) -> dict[str, tuple[float, int]]:
        # API_NOTES: 10,000/day with a token (OSF_REQUESTS_PER_HOUR_TOKEN 416); file endpoints 75/min
        return {"api": (SPAN * 3600 / 416 / speedup, SPAN), "files": (SPAN * 60 / 75 / speedup, SPAN)}

    def settings(fake: FakeAPI, speedup: float) -> dict[str, Any]:
        return {"OSF_API_URL": f"{fake.base_url}/v2", "DOWNLOAD_DELAY": round(3600 / 416, 3) / speedup,
                "OSF_FILE_REQUESTS_PER_HOUR_TOKEN": 4500 * speedup}

    return Source(
        "osf", lambda n: FakeOSF(n_eye=max(1, n // 60), n_other=0, n_private=0, file_bytes=lambda fid: archive),
        buckets, {"nodes": ["api"], "files": ["api"], "licenses": ["api"], "search": ["api"], "download": ["files"]},
        settings, lambda fake: {"OSF_TOKEN": fake.token}, "download",
        lambda settings: {**settings, "OSF_FILE_REQUESTS_PER_HOUR_TOKEN": 0},
        lambda wait: Reply.json({"errors": [{"detail": f"Request was throttled. Expected available in {wait:.0f} seconds."}]},
                                429, {"Retry-After": f"{max(1, round(wait))}"}),
    )


SOURCES = {"zenodo": zenodo, "nei": nei, "osf": osf}


def crawl(
    source: Source, fake: FakeAPI, tmp: Path, speedup: float, file_slot: bool = True
) -> tuple[dict[str, Any], float]:
    stats_file = tmp / f"{source.name}.stats.json"
    settings = {
        "ENVISION_DATA_DIR": str(tmp / "data"),
        "ENVISION_STATS_FILE": str(stats_file),
        "CLASSIFIER_ENABLED": "False",
        "ENVISION_INSPECT_ENABLED": "True",
        "LOG_LEVEL": "WARNING",
        **(source.settings(fake, speedup) if file_slot else source.without_file_slot(source.settings(fake, speedup))),
    }
    cmd = scrapy_command("crawl", source.name)
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=scrapy_env(source.env(fake)), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0 or not stats_file.exists():
        raise SystemExit(f"crawl {source.name} failed:\n{out.stderr[-3000:]}")
    return json.loads(stats_file.read_text()), wall


def minimum_seconds(
    requests: dict[str, int], buckets: dict[str, tuple[float, int]], buckets_of_class: dict[str, list[str]]
) -> float:
    """The least time the buckets allow for ``requests`` (per class): for each bucket, its
    requests (every class counting in it) with no more than ``count`` in any ``seconds``."""
    per_bucket: dict[str, int] = {}
    for cls, n in requests.items():
        for bucket in buckets_of_class[cls]:
            per_bucket[bucket] = per_bucket.get(bucket, 0) + n
    return max(
        (max(0, -(-n // buckets[b][1]) - 1) * buckets[b][0] for b, n in per_bucket.items()), default=0.0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--source", action="append", choices=sorted(SOURCES), help="default: all covered")
    parser.add_argument("--no-file-slots", action="store_true",
                        help="file requests in the search slot, as before file slots (the baseline)")
    args = parser.parse_args()
    print(f"{'source':10}{'API req':>9}{'file req':>10}{'allowed s':>11}{'crawl s':>9}{'wall s':>8}{'ratio':>8}"
          f"{'429s':>6}{'fake s':>8}")
    for name in args.source or sorted(SOURCES):
        source = SOURCES[name]()
        buckets = source.buckets(args.speedup)
        gate = RateGate(buckets, source.routes)
        with tempfile.TemporaryDirectory(prefix="envision-ratebench-") as tmp, source.make_fake(args.records) as fake:
            gate_fake(fake, gate, source.too_many)
            stats, wall = crawl(source, fake, Path(tmp), args.speedup, file_slot=not args.no_file_slots)
        files = sum(v for k, v in stats.items() if k.startswith("envision/inspect/") and k.endswith("/requests"))
        api = stats.get("downloader/request_count", 0) - files
        # the classes the stats can tell apart: file requests, and every other request
        api_buckets = sorted({b for route, bs in source.routes.items() if route != source.file_route for b in bs})
        classes = {"api": api_buckets}
        counts = {"api": api}
        if source.file_route:
            classes["files"] = source.routes[source.file_route]
            counts["files"] = files
        allowed = minimum_seconds(counts, buckets, classes)
        elapsed = stats["elapsed_time_seconds"]
        ratio = elapsed / allowed if allowed else float("nan")
        print(f"{name:10}{api:>9}{files:>10}{allowed:>11.2f}{elapsed:>9.2f}{wall:>8.2f}{ratio:>7.2f}x{gate.refused:>6}"
              f"{gate.served_seconds:>8.2f}")
    print(f"(rates / {args.speedup:g}; 'allowed' = the slowest documented bucket for the requests made; "
          "'crawl' = engine time; 'fake s' = the fake's own time answering, summed; goal <= ~1.15x with no 429)")


if __name__ == "__main__":
    main()

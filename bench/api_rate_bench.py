"""API-rate benchmark (not a test): crawl wall time against the time the documented rates allow.

For each source (Zenodo, Figshare, Dryad, OSF, DataCite, Kaggle, NIH RePORTER), the source's
fake answers 429 to any request that comes sooner after the previous ones of its rate class
than the class's documented rate allows (API_NOTES: Figshare and Kaggle one overall rate for
every request, file downloads included; Zenodo, Dryad and OSF a file rate apart; DataCite and
RePORTER one API rate, no files). The real ``scrapy crawl`` runs against it with archive
inspection on and the classifier off; where the source has files, the fake serves small
archives with Range, from the host the real service uses for them: Figshare's downloads on
another host name (``localhost``, as ``ndownloader.figshare.com``); Figshare's, Dryad's and
Kaggle's downloads 302 to an object store on another address (127.0.0.2: S3, GCS) that is not
rate-limited (it is not the API).
Printed per run and source:

* the requests the rated service answered per class, counted at the fake (file requests: its
  download route; API: every other route; redirect hops to the object store are not counted);
* the time those rates allow for them: the slowest class, ``(n - 1) x interval`` (and any
  bucket shared by several classes, counted with all their requests);
* the crawl's time (engine time, from the stats; process wall with start-up apart);
* the ratio (goal: <= ~1.15x), the 429s the fake gave (a polite crawl gets none; by bucket when
  any) and the fake's own time answering (summed over requests: a slow fake is not the crawl's
  fault); then min / median / max over ``--runs`` runs, and the load average.

Rates are divided by ``--speedup`` (default 10) both in the fake and in the crawl's settings so
that a run takes seconds, not hours; the ratio does not depend on it (start-up aside: sources
with few, fast requests, NEI and DataCite, are measured with ``--speedup 1``). Dryad's file
downloads (100/hour) are sped up a further ``DRYAD_FILE_SPEEDUP`` (12) times, bench only, so
that a run with 60 archives takes ~20 s instead of 4 minutes.

    .venv/bin/python bench/api_rate_bench.py [--speedup 10] [--records 300] [--runs 3] [--source figshare] [--no-file-slots]
        [--set ENVISION_RATE_MARGIN=0]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import scrapy_command, scrapy_env  # noqa: E402
from tests.servers.base import FakeAPI, Reply, ranged_reply  # noqa: E402
from tests.servers.rate_gate import SPAN, RateGate, gate_fake  # noqa: E402


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


class ArchiveHost(FakeAPI):
    """An object store on a loopback address of its own (another host for Scrapy's slots, as S3
    is): ``GET /<path>`` serves ``file_bytes(path)`` with Range. Not rate-limited: it is not
    the repository's API."""

    bind_host = "127.0.0.2"

    def __init__(self, file_bytes: Callable[[str], bytes | None]) -> None:
        super().__init__()
        self.file_bytes = file_bytes
        self.route("object", "GET", r"/(.+)", self.object)

    def object(self, call: Any, match: Any) -> Reply:
        data = self.file_bytes(match.group(1))
        return ranged_reply(call, data) if data is not None else Reply(404, b"no such key")


def archive_bytes() -> Callable[[str], bytes | None]:
    """name -> a small ZIP or tar.gz for archive names, None for the rest."""
    archives = {".zip": small_zip(), ".tar.gz": small_tar_gz()}
    return lambda name: next((data for ext, data in archives.items() if name.endswith(ext)), None)


class ObjectStoreRedirects:
    """Mixin for a repository fake whose downloads 302 to an ``ArchiveHost`` (a signed object-store
    URL): the store starts and stops with the fake."""

    archive_host: ArchiveHost

    def object_store_url(self) -> Callable[[str], str]:
        """Start owning an object store; the fake's ``storage_url`` (path -> URL there)."""
        self.archive_host = ArchiveHost(archive_bytes())
        return lambda path: f"{self.archive_host.base_url}/{path}"

    def start(self, tls: Any = None) -> str:
        self.archive_host.start()
        return super().start(tls)  # type: ignore[misc]

    def stop(self) -> None:
        super().stop()  # type: ignore[misc]
        self.archive_host.stop()


def figshare() -> Source:
    from tests.servers.figshare import FakeFigshare

    def make_fake(n: int) -> FakeFigshare:
        # downloads on another host name than the API (as ndownloader.figshare.com is), then a
        # 302 to an object store on a third host
        fake = FakeFigshare(n_articles=n, files_host="localhost", file_bytes=archive_bytes())
        build, built = fake.all_articles, []

        def articles() -> list[dict[str, Any]]:  # built once: the fake's own cost is not the crawl's
            if not built:
                built.append(build())
            return built[0]

        fake.all_articles = articles  # type: ignore[method-assign]
        return fake

    def settings(fake: FakeAPI, speedup: float) -> dict[str, Any]:
        return {"FIGSHARE_API_URL": f"{fake.base_url}/v2", "DOWNLOAD_DELAY": 1.0 / speedup, "FIGSHARE_PAGE_SIZE": 25}

    return Source(
        # API_NOTES: one overall rate, at most 1 request/s, for every request (search, detail, files, downloads)
        "figshare", make_fake, lambda speedup: {"overall": (SPAN * 1.0 / speedup, SPAN)},
        {"search": ["overall"], "article": ["overall"], "files": ["overall"], "download": ["overall"]},
        settings, lambda fake: {}, "download", lambda settings: settings,
        lambda wait: Reply.json({"message": "Too many requests", "code": "TooManyRequests"}, 429),
    )


def kaggle() -> Source:
    from tests.servers.kaggle import FakeKaggle

    class KaggleWithStorage(ObjectStoreRedirects, FakeKaggle):
        """Downloads 302 to an object store on another host (Kaggle: a signed GCS URL)."""

        def __init__(self, n: int) -> None:
            super().__init__(n_datasets=n, archive="images.zip", storage_url=self.object_store_url())

    return Source(
        # API_NOTES: limits unpublished, ~1 request/s suggested, for every request
        "kaggle", KaggleWithStorage, lambda speedup: {"overall": (SPAN * 1.0 / speedup, SPAN)},
        {"list": ["overall"], "files": ["overall"], "download": ["overall"]},
        lambda fake, speedup: {"KAGGLE_API_URL": f"{fake.base_url}/api/v1", "DOWNLOAD_DELAY": 1.0 / speedup},
        lambda fake: {"KAGGLE_USERNAME": fake.username, "KAGGLE_KEY": fake.key}, "download", lambda settings: settings,
        lambda wait: Reply.json({"code": 429, "message": "TooManyRequests"}, 429),
    )


def datacite() -> Source:
    from tests.servers.datacite import FakeDataCite

    def make_fake(n: int) -> FakeDataCite:
        return FakeDataCite(n_eye=n, n_other=max(1, n // 10))

    def settings(fake: FakeAPI, speedup: float) -> dict[str, Any]:
        # a small page so that a short run makes enough requests to measure
        return {"DATACITE_API_URL": fake.base_url, "DATACITE_REQUESTS_PER_HOUR": 12000 * speedup,
                "DATACITE_PAGE_SIZE": 10}

    return Source(
        # API_NOTES: identified clients 1,000 per 5 minutes (one per 0.3 s); no files
        "datacite", make_fake, lambda speedup: {"api": (SPAN * 0.3 / speedup, SPAN)}, {"dois": ["api"]},
        settings, lambda fake: {}, None, lambda settings: settings,
        lambda wait: Reply.json({"errors": [{"status": "429", "title": "Too Many Requests"}]}, 429),
    )


DRYAD_FILE_SPEEDUP = 12  # bench only: Dryad's file downloads (100/hour) go 12x faster again than the rest


def dryad() -> Source:
    from tests.servers.dryad import FakeDryad

    class DryadWithStorage(ObjectStoreRedirects, FakeDryad):
        """Downloads 302 to an object store on another host (Dryad: a presigned S3 URL)."""

        def __init__(self, n: int) -> None:
            super().__init__(n_eye=n, n_other=0, storage_url=self.object_store_url())

    def buckets(speedup: float) -> dict[str, tuple[float, int]]:
        # API_NOTES: with a token 240/min for every request (API and downloads); file downloads
        # 100/hour on top (here 100 x DRYAD_FILE_SPEEDUP per hour before the common speedup)
        return {"api": (SPAN * 60 / 240 / speedup, SPAN),
                "files": (SPAN * 3600 / 100 / DRYAD_FILE_SPEEDUP / speedup, SPAN)}

    def settings(fake: FakeAPI, speedup: float) -> dict[str, Any]:
        # no DOWNLOAD_DELAY with -s: it would cap the file slot's delay
        # the API gets what the file downloads leave of the 240/min for all requests (settings.py)
        files_per_hour = 100 * DRYAD_FILE_SPEEDUP
        return {"DRYAD_API_URL": f"{fake.base_url}/api/v2", "DRYAD_REQUESTS_PER_HOUR_TOKEN": (14400 - files_per_hour) * speedup,
                "DRYAD_FILE_REQUESTS_PER_HOUR_TOKEN": files_per_hour * speedup}

    return Source(
        "dryad", DryadWithStorage, buckets,
        {"search": ["api"], "files": ["api"], "dataset": ["api"], "oauth": ["api"], "download": ["files", "api"]},
        settings, lambda fake: {"DRYAD_TOKEN": fake.token}, "download",
        lambda settings: {**settings, "DRYAD_FILE_REQUESTS_PER_HOUR_TOKEN": 0},
        lambda wait: Reply(429, b"Request rejected due to rate limits.", {
            "Content-Type": "text/plain", "RateLimit-Limit": "240", "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(time.time() + max(1.0, wait)))}),
    )


SOURCES = {"zenodo": zenodo, "nei": nei, "osf": osf, "figshare": figshare, "kaggle": kaggle, "datacite": datacite,
           "dryad": dryad}


def crawl(
    source: Source, fake: FakeAPI, tmp: Path, speedup: float, file_slot: bool = True,
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, Any], float]:
    stats_file = tmp / f"{source.name}.stats.json"
    settings = {
        "ENVISION_DATA_DIR": str(tmp / "data"),
        "ENVISION_STATS_FILE": str(stats_file),
        "CLASSIFIER_ENABLED": "False",
        "ENVISION_INSPECT_ENABLED": "True",
        "LOG_LEVEL": "WARNING",
        **(source.settings(fake, speedup) if file_slot else source.without_file_slot(source.settings(fake, speedup))),
        **(extra or {}),
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
    """The time the documented rates give ``requests`` (per class): for each bucket, its
    requests (every class counting in it) one ``seconds / count`` apart, ``(n - 1)`` intervals;
    the slowest bucket. (The fake's moving window would let a burst of ``count`` through at
    once: a crawl that bursts could beat this figure by up to ``count - 1`` intervals, and one
    that paces evenly, as ours do, is not charged for a burst it never makes.)"""
    per_bucket: dict[str, int] = {}
    for cls, n in requests.items():
        for bucket in buckets_of_class[cls]:
            per_bucket[bucket] = per_bucket.get(bucket, 0) + n
    return max((max(0, n - 1) * buckets[b][0] / buckets[b][1] for b, n in per_bucket.items()), default=0.0)


def run_once(
    source: Source, records: int, speedup: float, file_slot: bool, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """One crawl of ``source`` against its gated fake: the figures of one printed row."""
    buckets = source.buckets(speedup)
    gate = RateGate(buckets, source.routes)
    with tempfile.TemporaryDirectory(prefix="envision-ratebench-") as tmp, source.make_fake(records) as fake:
        gate_fake(fake, gate, source.too_many)
        stats, wall = crawl(source, fake, Path(tmp), speedup, file_slot=file_slot, extra=extra)
    # the requests the rated service answered, per class (an object store a download redirects
    # to is not the API's: its hops are not counted)
    files = gate.admitted.get(source.file_route, 0) if source.file_route else 0
    api = sum(gate.admitted.values()) - files
    api_buckets = sorted({b for route, bs in source.routes.items() if route != source.file_route for b in bs})
    classes, counts = {"api": api_buckets}, {"api": api}
    if source.file_route:
        classes["files"], counts["files"] = source.routes[source.file_route], files
    allowed = minimum_seconds(counts, buckets, classes)
    elapsed = stats["elapsed_time_seconds"]
    return {"api": api, "files": files, "allowed": allowed, "elapsed": elapsed, "wall": wall,
            "ratio": elapsed / allowed if allowed else float("nan"), "refused": gate.refused,
            "fake": gate.served_seconds, "refused_by": gate.refused_by}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="crawls per source (min/median/max printed)")
    parser.add_argument("--source", action="append", choices=sorted(SOURCES), help="default: all")
    parser.add_argument("--no-file-slots", action="store_true",
                        help="file requests in the search slot, as before file slots (the baseline)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the crawls (repeatable), e.g. ENVISION_RATE_MARGIN=0")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    print(f"{'source':10}{'API req':>9}{'file req':>10}{'allowed s':>11}{'crawl s':>9}{'wall s':>8}{'ratio':>8}"
          f"{'429s':>6}{'fake s':>8}")
    for name in args.source or sorted(SOURCES):
        rows = [run_once(SOURCES[name](), args.records, args.speedup, not args.no_file_slots, extra)
                for _ in range(args.runs)]
        for r in rows:
            print(f"{name:10}{r['api']:>9}{r['files']:>10}{r['allowed']:>11.2f}{r['elapsed']:>9.2f}{r['wall']:>8.2f}"
                  f"{r['ratio']:>7.2f}x{r['refused']:>6}{r['fake']:>8.2f}"
                  + (f"  (429s by bucket: {r['refused_by']})" if r["refused"] else ""))
        if len(rows) > 1:
            ratios = sorted(r["ratio"] for r in rows)
            crawls = sorted(r["elapsed"] for r in rows)
            print(f"{name:10} min/median/max: crawl {crawls[0]:.2f} / {statistics.median(crawls):.2f} / {crawls[-1]:.2f} s,"
                  f" ratio {ratios[0]:.2f} / {statistics.median(ratios):.2f} / {ratios[-1]:.2f}x,"
                  f" 429s {sum(r['refused'] for r in rows)}")
    print(f"(rates / {args.speedup:g}; 'allowed' = the slowest documented bucket for the requests made; "
          "'crawl' = engine time; 'fake s' = the fake's own time answering, summed; goal <= ~1.15x with no 429; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()

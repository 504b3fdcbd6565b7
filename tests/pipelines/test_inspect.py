"""Archive inspection against a real nginx on loopback: request counts and bytes from nginx's
access log, Range ignored (``max_ranges 0``), multi-range refused (``max_ranges 1``), a 302 to
another loopback host (no Authorization forwarded), 416, and hostile archives.

Two real crawls (``scrapy runspider`` of a probe spider yielding records whose files point at
nginx) serve every test in the module: one with the default settings, one with tight budgets.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from envision_spiders.inspection.report import new_report
from envision_spiders.pipelines.inspect import ArchiveInspectionPipeline
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.inspection import corpus
from tests.inspection import helpers as img
from tests.pipelines.inspect_spider import InspectProbeSpider
from tests.servers.nginx import NginxServer

SPIDER = PROJECT_ROOT / "tests" / "pipelines" / "inspect_spider.py"
TAIL = 64 * 1024


@dataclass
class Run:
    items: dict[str, dict[str, Any]]
    stats: dict[str, Any]
    log: list[dict[str, Any]]
    output: str
    files: dict[str, bytes]

    def contents(self, source_id: str, name: str | None = None) -> dict[str, Any]:
        entries = self.items[source_id]["archive_contents"]
        return next(c for c in entries if name is None or c["name"] == name)

    def requests(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.log if e["uri"].rsplit("/", 1)[-1] == name]


def run_probe(nginx: NginxServer, tmp: Path, records: list[dict[str, Any]], settings: dict[str, Any]) -> tuple:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "records.json").write_text(json.dumps(records))
    out, stats_file = tmp / "out.jsonl", tmp / "stats.json"
    cmd = scrapy_command("runspider", str(SPIDER), "-O", str(out), "-a", f"records={tmp / 'records.json'}")
    merged = {"ENVISION_DATA_DIR": str(tmp / "data"), "ENVISION_STATS_FILE": str(stats_file),
              "CLASSIFIER_ENABLED": False, "LOG_LEVEL": "INFO", **settings}
    for key, value in merged.items():
        cmd += ["-s", f"{key}={value}"]
    nginx.reset_log()
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=240, check=False)
    log = nginx.requests()
    assert proc.returncode == 0, proc.stderr[-3000:]
    items = {}
    for line in out.read_text().splitlines():
        item = json.loads(line)
        items[item["source_id"]] = item
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return items, stats, log, proc.stderr


def record(source_id: str, *files: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"source": "probe", "source_id": source_id, "files": list(files), **extra}


def f(name: str, url: str, size: int | None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "size": size, "checksum": None, **extra}


def sorted_image_zip(per_kind: int, entry_size: int) -> bytes:
    """Entries grouped by type (all PNG, then all DICOM, ...): sniff picks lie far apart."""
    entries = []
    for kind in range(4):
        for i in range(per_kind):
            ext, data = corpus.image_payload(kind + 4 * i, entry_size)
            entries.append((f"{ext[1:]}/{i:04d}{ext}", data))
    return corpus.zip_bytes(entries)


@pytest.fixture(scope="module")
def files(nginx: NginxServer) -> dict[str, bytes]:
    made: dict[str, bytes] = {
        "small.zip": corpus.image_zip(6, 2000),
        "cd2k.zip": corpus.image_zip(2000, 2000, extras=3),
        "spread.zip": sorted_image_zip(100, 20_000),
        "deflated.zip": corpus.image_zip(8, 30_000, method=zipfile.ZIP_DEFLATED),
        "comment.zip": corpus.image_zip(20, 5000, comment=b"c" * 0xFFFF),
        "a.tar": corpus.image_tar(50, 30_000),
        "bigmembers.tar": corpus.image_tar(10, 1_500_000),  # > ENVISION_INSPECT_TAR_GAP_BYTES
        "a.tar.gz": corpus.gz(corpus.image_tar(300, 3000)),
        "big.tar.gz": corpus.gz(corpus.image_tar(150, 20_000)),
        "evil.zip": corpus.zip_bytes([("../../etc/passwd", b"x"), ("/abs.png", img.png(3, 3)), ("ok.csv", b"1")]),
        "garbage.zip": corpus.random_bytes(200_000),
        "hostile.zip": corpus.hostile_zip_million_entries(),
        "empty.zip": b"",
        "bad.tar": corpus.random_bytes(5000, seed=9),
        "bomb.tar.bz2": corpus.bzip2_bomb_tar(),  # 24 kB inflating to 4 GiB
    }
    with corpus.forced_zip64():
        made["zip64.zip"] = corpus.image_zip(5, 3000)
    made["truncated.zip"] = made["cd2k.zip"][: len(made["cd2k.zip"]) // 2]
    made["cut.tar"] = made["a.tar"][: 20 * 30_720 + 5000]
    for name, data in made.items():
        nginx.put(name, data)
    # a sparse 1 GiB file: nginx serves it; a client that ignores Range would download it all
    with (nginx.root / "huge.zip").open("wb") as fh:
        fh.truncate(1 << 30)
    return made


@pytest.fixture(scope="module")
def run(nginx: NginxServer, files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Run:
    u = nginx.url
    size = {name: len(data) for name, data in files.items()}
    previous = {"name": "reuse.zip", "url": u("small.zip"), "size": size["small.zip"], "checksum": "md5:abc",
                "format": "zip", "status": "complete", "error": None, "entries_total": 6, "entries_listed": 6,
                "files_listed": 6, "dirs_listed": 0, "extensions": {".png": 6}, "kinds": {"image": 6},
                "sample_names": [], "images": [], "requests": 1, "bytes": 1}
    records = [
        record("small", f("small.zip", u("small.zip"), size["small.zip"]), f("labels.csv", u("labels.csv"), 10)),
        record("cd2k", f("cd2k.zip", u("cd2k.zip"), size["cd2k.zip"])),
        record("spread", f("spread.zip", u("spread.zip"), size["spread.zip"])),
        record("deflated", f("deflated.zip", u("deflated.zip"), None)),
        record("zip64", f("zip64.zip", u("zip64.zip"), size["zip64.zip"])),
        record("comment", f("comment.zip", u("comment.zip"), size["comment.zip"])),
        record("tar", f("a.tar", u("a.tar"), size["a.tar"])),
        record("bigmembers", f("bigmembers.tar", u("bigmembers.tar"), size["bigmembers.tar"])),
        record("targz", f("a.tar.gz", u("a.tar.gz"), None)),
        record("bigtargz", f("big.tar.gz", u("big.tar.gz"), size["big.tar.gz"])),
        record("redirect", f("cd2k.zip", u("cd2k.zip", "redirect"), size["cd2k.zip"])),
        record("norange", f("huge.zip", u("huge.zip", "norange"), 1 << 30)),
        record("single", f("spread.zip", u("spread.zip", "single"), size["spread.zip"])),
        record("wrongsize", f("zip64.zip", nginx.storage_url("zip64.zip"), size["zip64.zip"] + 100_000)),
        record("empty", f("empty.zip", u("empty.zip"), 0)),
        record("garbage", f("garbage.zip", u("garbage.zip"), size["garbage.zip"])),
        record("truncated", f("truncated.zip", u("truncated.zip"), size["truncated.zip"])),
        record("hostile", f("hostile.zip", u("hostile.zip"), size["hostile.zip"])),
        record("evil", f("evil.zip", u("evil.zip"), size["evil.zip"])),
        record("badtar", f("bad.tar", u("bad.tar"), size["bad.tar"])),
        record("cuttar", f("cut.tar", u("cut.tar"), size["cut.tar"])),
        record("missing", f("gone.zip", u("gone.zip"), 1000)),
        record("reuse", {**f("reuse.zip", u("small.zip"), size["small.zip"]), "checksum": "md5:abc"},
               archive_contents=[previous]),
        record("skipped", f("closed.zip", u("small.zip"), 5, access="restricted"), f("nourl.zip", None, 5)),
    ]
    items, stats, log, output = run_probe(nginx, tmp_path_factory.mktemp("inspect-run"), records, {})
    return Run(items, stats, log, output, files)


# --- ZIP ---------------------------------------------------------------------------------------


def test_small_zip_one_request_lists_and_sniffs_everything(run: Run) -> None:
    c = run.contents("small")
    (req,) = run.requests("small.zip")
    size = len(run.files["small.zip"])
    assert req["range"] == f"bytes=0-{size - 1}" and req["status"] == 206 and req["bytes"] == size
    assert (c["status"], c["format"], c["entries_total"], c["entries_listed"]) == ("complete", "zip", 6, 6)
    assert (c["requests"], c["bytes"]) == (1, size)
    assert len(c["images"]) == 6 and {i["format"] for i in c["images"]} == {"png", "jpeg", "dicom", "tiff"}
    dicom = next(i for i in c["images"] if i["format"] == "dicom")
    assert (dicom["modality"], dicom["body_part"], dicom["width"], dicom["height"], dicom["dims"]) == (
        "OPT", "EYE", 512, 496, "3D")
    item = run.items["small"]
    assert item["file_count"] == 2 + 6 and item["img_count"] == 5 and item["medical_count"] == 1
    assert item["file_types"] == [".csv", ".dcm", ".jpg", ".png", ".tif", ".zip"]
    assert item["file_names"][:3] == ["small.zip", "labels.csv", "small.zip/images/000/img_000000.png"]


def test_central_directory_beyond_the_tail_costs_one_exact_request(run: Run) -> None:
    data = run.files["cd2k.zip"]
    info = zipfile.ZipFile(io.BytesIO(data))
    cd_start, size = info.start_dir, len(data)
    tail, cd, sniff = run.requests("cd2k.zip")[:3]
    assert tail["range"] == f"bytes={size - TAIL}-{size - 1}"
    assert cd["range"] == f"bytes={cd_start}-{size - TAIL - 1}"  # only what the tail lacked
    c = run.contents("cd2k")
    assert (c["status"], c["entries_total"], c["entries_listed"], c["files_listed"]) == ("complete", 2003, 2003, 2003)
    lower_bound = size - cd_start
    listing_bytes = tail["bytes"] + cd["bytes"]
    assert listing_bytes <= lower_bound + TAIL
    # the 8 sniffed entries are neighbours: one plain range for all of them
    assert sniff["status"] == 206 and "," not in sniff["range"]
    assert c["requests"] == 3 and len(c["images"]) == 8 and all(i["width"] for i in c["images"])
    assert c["extensions"] == {".png": 500, ".jpg": 500, ".dcm": 500, ".tif": 500, ".csv": 3}
    assert len(c["sample_names"]) == 20


def test_sniff_of_scattered_entries_is_one_multirange_request(run: Run) -> None:
    c = run.contents("spread")
    reqs = run.requests("spread.zip")
    listing, sniff = [r for r in reqs if r["uri"].startswith("/files/")]
    assert listing["range"].startswith("bytes=") and "," not in listing["range"]
    assert sniff["status"] == 206 and sniff["range"].count(",") == 3  # 4 groups of 2 neighbours
    assert sniff["bytes"] < 8 * (16 * 1024 + 1024) + 4 * 4096 + 2000  # + merge gaps (4 KiB each)
    assert c["requests"] == 2 and c["status"] == "complete"
    assert sorted(i["format"] for i in c["images"]) == ["dicom", "dicom", "jpeg", "jpeg", "png", "png", "tiff", "tiff"]


def test_deflated_entries_are_inflated_partially(run: Run) -> None:
    c = run.contents("deflated")
    assert c["status"] == "complete" and len(c["images"]) == 8
    assert all(i["format"] and i["width"] for i in c["images"]), c["images"]
    assert c["requests"] <= 2


def test_zip64(run: Run) -> None:
    c = run.contents("zip64")
    assert (c["format"], c["status"], c["entries_total"], c["requests"]) == ("zip64", "complete", 5, 1)
    assert len(c["images"]) == 5


def test_longest_comment_reaches_before_the_tail_once(run: Run) -> None:
    c = run.contents("comment")
    assert c["status"] == "complete" and c["entries_total"] == 20 and c["comment"].startswith("ccc")
    assert c["requests"] <= 3 and len(run.requests("comment.zip")) == c["requests"]


# --- TAR ----------------------------------------------------------------------------------------


def test_tar_with_small_members_reads_ahead(run: Run) -> None:
    c = run.contents("tar")
    assert (c["status"], c["entries_total"], c["entries_listed"]) == ("complete", 50, 50)
    assert c["requests"] == 2 and len(c["images"]) == 8  # 64 KiB, then the rest; sniffed from those bytes
    assert c["bytes"] <= len(run.files["a.tar"])


def test_tar_with_big_members_reads_one_header_per_request(run: Run) -> None:
    c = run.contents("bigmembers")
    reqs = run.requests("bigmembers.tar")
    assert (c["status"], c["entries_listed"]) == ("complete", 10)
    headers = [r for r in reqs if "," not in r["range"]]
    assert len(headers) == 10 + 1 and all(r["bytes"] <= 3 * 512 for r in headers[1:])  # + end marker
    assert c["bytes"] < TAIL + 11 * 3 * 512 + 8 * 17 * 1024
    assert sum(1 for r in reqs if "," in r["range"]) <= 1  # the sniffs: one multi-range request
    assert len(c["images"]) == 8 and all(i["format"] for i in c["images"])


def test_targz_prefix(run: Run) -> None:
    small, big = run.contents("targz"), run.contents("bigtargz")
    assert (small["format"], small["status"], small["entries_total"], small["requests"]) == ("tar.gz", "complete", 300, 1)
    assert len(small["images"]) == 8 and all(i["width"] for i in small["images"])
    assert big["status"] == "complete" and big["entries_listed"] == 150 and big["requests"] == 1


# --- HTTP faults ----------------------------------------------------------------------------------


def test_redirect_to_storage_does_not_forward_authorization(run: Run) -> None:
    c = run.contents("redirect")
    origin = [r for r in run.log if r["uri"].startswith("/redirect/")]
    storage = [r for r in run.log if r["server"] == "127.0.0.2" and r["uri"] == "/files/cd2k.zip"]
    assert [(r["status"], r["auth"]) for r in origin] == [(302, "yes")]  # the token went to its origin
    assert storage and all(r["auth"] == "-" for r in storage)  # ...never to the storage host
    assert c["status"] == "complete" and c["entries_listed"] == 2003
    assert c["requests"] == 1 + len(storage) == 4  # the redirect hop is counted; later reads go direct


def test_server_ignoring_range_is_stopped_on_the_first_response(run: Run) -> None:
    c = run.contents("norange")
    (req,) = run.requests("huge.zip")
    assert req["status"] == 200 and req["range"]
    assert req["bytes"] < (1 << 30) // 8  # nginx could not push the gigabyte: we hung up at the headers
    assert (c["status"], c["requests"], c["bytes"]) == ("range_unsupported", 1, 0)
    assert run.stats["envision/inspect/range_unsupported"] == 1


def test_multirange_refused_falls_back_to_single_ranges(run: Run) -> None:
    c = run.contents("single")
    reqs = [r for r in run.log if r["uri"] == "/single/spread.zip"]
    refused = [r for r in reqs if "," in r["range"]]
    assert [r["status"] for r in refused] == [200]
    assert refused[0]["bytes"] < len(run.files["spread.zip"])
    assert all(r["status"] == 206 for r in reqs if "," not in r["range"])
    assert c["status"] == "complete" and len(c["images"]) == 8 and all(i["format"] for i in c["images"])
    assert c["requests"] == 1 + 1 + 4 and run.stats["envision/inspect/multirange_refused"] == 1


def test_416_when_the_reported_size_is_wrong(run: Run) -> None:
    c = run.contents("wrongsize")
    statuses = [r["status"] for r in run.log if r["server"] == "127.0.0.2" and r["uri"] == "/files/zip64.zip"]
    assert statuses[0] == 416 and statuses[1] == 206
    assert c["status"] == "complete" and c["size_mismatch"] is True
    assert c["archive_size"] == len(run.files["zip64.zip"])
    empty = run.contents("empty")
    assert (empty["status"], empty["error"]) == ("error", "empty file")


def test_missing_file(run: Run) -> None:
    c = run.contents("missing")
    assert (c["status"], c["error"], c["requests"]) == ("error", "HTTP 404", 1)


# --- hostile archives -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_id", "name", "status", "error"),
    [
        ("garbage", "garbage.zip", "error", "end of central directory"),
        ("truncated", "truncated.zip", "error", "end of central directory"),
        ("hostile", "hostile.zip", "error", "exceeds the file"),
        ("badtar", "bad.tar", "error", "checksum"),
        ("cuttar", "cut.tar", "partial", "truncated"),
    ],
)
def test_corrupt_archives_give_an_error_entry(run: Run, source_id: str, name: str, status: str, error: str) -> None:
    c = run.contents(source_id)
    assert c["status"] == status and error in c["error"]
    assert c["requests"] <= 3 and c["bytes"] <= max(3 * TAIL, len(run.files[name]))


def test_unsafe_names_are_counted_not_trusted(run: Run) -> None:
    c = run.contents("evil")
    assert c["status"] == "complete" and c["unsafe_names"] == 2 and c["entries_listed"] == 3


def test_reuse_and_skips(run: Run) -> None:
    assert run.requests("reuse.zip") == []
    assert run.contents("reuse")["bytes"] == 1  # the earlier listing, untouched
    closed, nourl = run.items["skipped"]["archive_contents"]
    assert (closed["status"], nourl["status"]) == ("skipped", "skipped")
    assert "restricted" in closed["error"] and nourl["error"] == "no download URL"


def test_stats(run: Run) -> None:
    s = run.stats
    assert s["envision/inspect/zip/requests"] > 0 and s["envision/inspect/tar/bytes"] > 0
    assert s["envision/inspect/status/complete"] >= 12 and s["envision/inspect/errors"] >= 5
    assert s["envision/inspect/reused"] == 1 and s["envision/inspect/skipped"] == 2
    assert "Traceback" not in run.output


# --- budgets ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tight(nginx: NginxServer, files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Run:
    u = nginx.url
    size = {name: len(data) for name, data in files.items()}
    records = [
        record("bomb", f("bomb.tar.bz2", u("bomb.tar.bz2"), size["bomb.tar.bz2"])),
        record("bigmembers", f("bigmembers.tar", u("bigmembers.tar"), size["bigmembers.tar"])),
        record("bigtargz", f("big.tar.gz", u("big.tar.gz"), None)),
        record("cd2k", f("cd2k.zip", u("cd2k.zip"), size["cd2k.zip"])),
        record("many", *[f(f"m{i}.zip", u("small.zip"), size["small.zip"]) for i in range(3)]),
    ]
    settings = {
        "ENVISION_INSPECT_MAX_REQUESTS": 4,
        "ENVISION_INSPECT_MAX_CD_BYTES": 10_000,
        "ENVISION_INSPECT_STREAM_PREFIX_BYTES": 256 * 1024,
        "ENVISION_INSPECT_STREAM_CHUNK_BYTES": 128 * 1024,
        "ENVISION_INSPECT_SNIFF_COUNT": 0,
        "ENVISION_INSPECT_MAX_ARCHIVES": 2,
        "ENVISION_INSPECT_DECOMPRESS_SECONDS": 0.5,
        "ENVISION_INSPECT_STREAM_MAX_OUTPUT": 1 << 40,  # the time budget, not the output cap, stops the bomb
    }
    items, stats, log, output = run_probe(nginx, tmp_path_factory.mktemp("inspect-tight"), records, settings)
    return Run(items, stats, log, output, files)


def test_budgets_end_in_partial_listings(tight: Run) -> None:
    tar = tight.contents("bigmembers")
    assert tar["status"] == "partial" and tar["requests"] == 4 and tar["entries_listed"] == 4
    assert tar["entries_estimated"] == pytest.approx(10, abs=2) and tar["images"] == []
    targz = tight.contents("bigtargz")
    assert targz["status"] == "partial" and targz["requests"] == 2 and 0 < targz["entries_listed"] < 150
    assert targz["compressed_bytes_read"] == 256 * 1024
    cd = tight.contents("cd2k")
    assert cd["status"] == "partial" and cd["entries_total"] == 2003 and 0 < cd["entries_listed"] < 2003
    assert "ENVISION_INSPECT_MAX_CD_BYTES" in cd["error"]
    assert tight.items["cd2k"]["file_count"] == 1 + 2003  # the total is known from the end record
    statuses = [c["status"] for c in tight.items["many"]["archive_contents"]]
    assert statuses == ["complete", "complete", "skipped"]


def test_decompression_bomb_is_stopped_by_the_time_budget_off_the_reactor(tight: Run) -> None:
    bomb = tight.contents("bomb")
    assert bomb["status"] == "partial" and bomb["time_budget_exceeded"] is True
    assert bomb["error"].startswith("stopped at ENVISION_INSPECT_DECOMPRESS_SECONDS=0.5")
    assert bomb["entries_listed"] == 1 and bomb["requests"] == 1
    assert tight.stats["envision/inspect/time_budget"] == 1
    # the bomb was read first; the other archives' requests and walks went on while it inflated
    order = [line.split("inspected ", 1)[1].split(" ", 1)[0] for line in tight.output.splitlines() if "inspected " in line]
    assert order[-1] == "bomb.tar.bz2" and len(order) == 6, order


def test_inspection_off(nginx: NginxServer, files: dict[str, bytes], tmp_path: Path) -> None:
    records = [record("small", f("small.zip", nginx.url("small.zip"), len(files["small.zip"])))]
    items, _, log, _ = run_probe(nginx, tmp_path, records, {"ENVISION_INSPECT_ENABLED": False})
    assert items["small"]["archive_contents"] == [] and log == []


def test_tar_fixture_sanity(files: dict[str, bytes]) -> None:
    with tarfile.open(fileobj=io.BytesIO(files["a.tar"])) as tf:
        assert len(tf.getmembers()) == 50


def test_an_internal_error_is_logged_for_its_spider(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    crawler = get_crawler(InspectProbeSpider)
    crawler.spider = InspectProbeSpider.from_crawler(crawler)
    pipeline = ArchiveInspectionPipeline.from_crawler(crawler)

    async def broken(*args: Any) -> None:
        raise RuntimeError("a reader bug")

    monkeypatch.setattr("envision_spiders.pipelines.inspect.inspect_archive", broken)
    file = f("a.zip", "http://files.test/a.zip", 100)
    report = new_report(file, "zip")
    with caplog.at_level(logging.INFO, logger="envision_spiders.pipelines.inspect"):
        asyncio.run(pipeline.inspect_file({}, file, report))
    assert report["error"] == "internal error: RuntimeError"
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors and all(getattr(r, "spider", None) is crawler.spider for r in errors)  # not every crawler's error


def test_pipeline_is_built_from_one_config() -> None:
    pipeline = ArchiveInspectionPipeline.from_crawler(get_crawler(settings_dict={"ENVISION_INSPECT_SNIFF_COUNT": 3}))
    assert pipeline.config.sniff_count == 3 and pipeline.config.max_requests == 24

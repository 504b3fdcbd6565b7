"""GatedFilesPipeline end to end: stored records -> ``scrapy download`` (subprocess) -> real nginx, or a
file server that stalls on cue (``tests/servers/stall_files.py``) where a test needs a fixed interleaving:
a kill mid-file, two processes on one record."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envision_spiders.downloads.lock import FolderLock
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.db import open_state
from envision_spiders.state.store import record_path
from tests.conftest import PROJECT_ROOT, blob, scrapy_command, scrapy_env
from tests.servers.nginx import NginxServer
from tests.servers.stall_files import StallingFileServer

KB, MB = 1024, 1024 * 1024
SMALL_CHUNKS = {  # small sizes keep the tests fast; the logic is the same at 8 MiB
    "ENVISION_DOWNLOAD_CHUNK_SIZE": 256 * KB,
    "ENVISION_DOWNLOAD_CHUNK_THRESHOLD": 512 * KB,
    "ENVISION_DOWNLOAD_MAX_WHOLE_BODY": 2 * MB,
}


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def file_entry(name: str, data: bytes, url: str, checksum: str | None = "auto", access: str = "open") -> dict[str, Any]:
    return {
        "name": name,
        "size": len(data),
        "url": url,
        "checksum": md5(data) if checksum == "auto" else checksum,
        "access": access,
        "mimetype": None,
    }


def store(data_dir: Path, source_id: str, files: list[dict[str, Any]], **kw: Any) -> None:
    rec = {
        "source": "zenodo",
        "source_id": source_id,
        "doi": f"10.5281/zenodo.{source_id}",
        "license": "cc-by-4.0",
        "title": f"record {source_id}",
        "label": "EYE_IMAGING",
        "confidence": 0.93,
        "eye_evidence": ["words"],  # as the classifier writes it; the gate wants eye evidence
        "access_type": "open",
        "files": files,
        **kw,
    }
    write_json_atomic(record_path(data_dir, "zenodo", source_id), rec)


# the files are on local servers, not the repositories: their documented paces (Zenodo's guests'
# 2.1 s a file) are off unless a test sets DOWNLOAD_DELAY (None: the source spider's own, as a user gets)
LOCAL_SERVERS = {"DOWNLOAD_DELAY": 0}


def download_cmd(data_dir: Path, settings: dict[str, Any] | None = None, *extra: str) -> list[str]:
    cmd = scrapy_command("download", *extra, "-s", f"ENVISION_DATA_DIR={data_dir}", "-s", "LOG_LEVEL=INFO")
    for key, value in {**SMALL_CHUNKS, **LOCAL_SERVERS, **(settings or {})}.items():
        if value is not None:
            cmd += ["-s", f"{key}={value}"]
    return cmd


def run_download(
    data_dir: Path, settings: dict[str, Any] | None = None, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        download_cmd(data_dir, settings, *extra), cwd=PROJECT_ROOT, env=scrapy_env(env),
        capture_output=True, text=True, timeout=120,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    return proc.returncode, summary.get("download", {}), proc.stderr


def manifest(data_dir: Path, source_id: str) -> dict[str, Any]:
    return json.loads((data_dir / "downloads" / "zenodo" / source_id / "manifest.json").read_text())


def files_by_name(man: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in man["files"]}


def test_gated_records_small_and_chunked_files_verified(nginx: NginxServer, tmp_path: Path) -> None:
    nginx.reset_log()
    data = tmp_path / "data"
    small = {f"img/{i:03d}.jpg": blob(1000 + 997 * i, f"t1s{i}") for i in range(40)}
    big = blob(3 * MB + 12345, "t1big")
    files = [file_entry(n, d, nginx.put(f"t1/{n}", d)) for n, d in small.items()]
    files.append(file_entry("volumes/oct.bin", big, nginx.put("t1/oct.bin", big)))
    files.append(file_entry("closed.zip", b"x", nginx.url("t1/closed.zip"), access="restricted"))
    store(data, "1", files)
    # hostile names stay inside the record folder
    evil = blob(5000, "evil")
    store(data, "2", [file_entry("../../../escape.txt", evil, nginx.put("t1/escape.txt", evil)),
                      file_entry("C:\\..\\manifest.json", evil, nginx.url("t1/escape.txt"))])
    # not gated: NEGATIVE, below threshold, restricted record, duplicate
    for sid, kw in {"3": {"label": "NEGATIVE", "confidence": 0.99}, "4": {"confidence": 0.79},
                    "5": {"access_type": "restricted"}, "6": {"duplicate_of": "figshare:9"}}.items():
        store(data, sid, [file_entry(f"n{sid}.bin", evil, nginx.put(f"t1/n{sid}.bin", evil))], **kw)
    # over the per-record byte limit
    store(data, "7", [file_entry(f"huge{i}.bin", big, nginx.url("t1/oct.bin")) for i in (1, 2)])

    code, stats, log = run_download(data, {"ENVISION_DOWNLOAD_MAX_RECORD_BYTES": int(4.5 * MB)})
    assert code == 0, log[-3000:]

    root = data / "downloads" / "zenodo"
    for name, payload in small.items():
        assert (root / "1" / name).read_bytes() == payload
    assert (root / "1" / "volumes" / "oct.bin").read_bytes() == big
    man = manifest(data, "1")
    assert man["status"] == "complete" and man["doi"] == "10.5281/zenodo.1" and man["license"] == "cc-by-4.0"
    assert man["started_at"] <= man["finished_at"]
    entries = files_by_name(man)
    oct_entry = entries["volumes/oct.bin"]
    assert oct_entry["status"] == "complete" and oct_entry["mode"] == "ranged"
    assert oct_entry["md5"] == hashlib.md5(big).hexdigest() and oct_entry["sha256"] == hashlib.sha256(big).hexdigest()
    assert oct_entry["verification"] == "md5 matches the repository"
    assert entries["closed.zip"]["status"].startswith("skipped: file access restricted")
    assert not (root / "1" / "closed.zip").exists()
    assert not list(root.rglob("*.part*"))
    # the big file came in 256 KiB ranges, each once
    ranges = [r for r in nginx.requests("/files/t1/oct.bin")]
    assert len(ranges) == 13 and all(r["status"] == 206 and r["range"].startswith("bytes=") for r in ranges)
    assert sum(r["bytes"] for r in ranges) == len(big)

    assert (root / "2" / "escape.txt").read_bytes() == evil
    assert (root / "2" / "_manifest.json").read_bytes() == evil  # no overwriting our manifest
    assert not (data / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    for sid in ("3", "4", "5", "6"):
        assert not (root / sid).exists()
    assert not any(r["uri"].startswith("/files/t1/n") for r in nginx.requests())
    assert manifest(data, "7")["status"].startswith("skipped: record is")
    assert stats["stored/duplicates_skipped"] == 1  # never offered to the pipeline
    assert stats["records/gated"] == 3 and stats["records/not_gated"] == 3 and stats["files/complete"] == 42
    assert stats["files/linked_duplicate_url"] == 1  # record 2 lists one URL twice: fetched once

    # a rerun fetches nothing: everything is present and verified
    nginx.reset_log()
    code, stats, log = run_download(data, {"ENVISION_DOWNLOAD_MAX_RECORD_BYTES": int(4.5 * MB)})
    assert code == 0, log[-3000:]
    assert nginx.requests() == []
    assert stats["files/already_present"] == 42 and manifest(data, "1")["status"] == "complete"


def test_checksum_mismatch_fails_and_leaves_no_complete_looking_file(nginx: NginxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    small, big = blob(10_000, "m1"), blob(1 * MB, "m2")
    store(data, "1", [file_entry("small.bin", small, nginx.put("t2/small.bin", small), checksum=md5(b"other")),
                      file_entry("big.bin", big, nginx.put("t2/big.bin", big), checksum=md5(b"other")),
                      file_entry("ok.bin", small, nginx.put("t2/ok.bin", small))])
    code, stats, _ = run_download(data)
    assert code == 1
    man = manifest(data, "1")
    entries = files_by_name(man)
    assert man["status"].startswith("failed: 2 of 3 files")
    assert entries["small.bin"]["status"].startswith("failed: md5 mismatch")
    assert entries["big.bin"]["status"].startswith("failed: md5 mismatch")
    assert entries["ok.bin"]["status"] == "complete"
    folder = data / "downloads" / "zenodo" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "ok.bin"]
    assert stats["checksum_mismatch"] == 2 and stats["files/failed"] == 2


def test_server_ignoring_range(nginx: NginxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    fits, too_big = blob(1 * MB, "r1"), blob(3 * MB, "r2")  # cap (MAX_WHOLE_BODY) is 2 MiB
    nginx.put("t3/fits.bin", fits)
    nginx.put("t3/big.bin", too_big)
    store(data, "1", [file_entry("fits.bin", fits, nginx.url("t3/fits.bin", "norange")),
                      file_entry("big.bin", too_big, nginx.url("t3/big.bin", "norange"))])
    code, stats, _ = run_download(data)
    assert code == 1
    entries = files_by_name(manifest(data, "1"))
    assert entries["fits.bin"]["status"] == "complete" and entries["fits.bin"]["mode"] == "whole-fallback"
    assert (data / "downloads/zenodo/1/fits.bin").read_bytes() == fits
    assert entries["big.bin"]["status"] == (
        f"failed: server ignores Range and file is larger than ENVISION_DOWNLOAD_MAX_WHOLE_BODY ({2 * MB} bytes)"
    )
    assert not (data / "downloads/zenodo/1/big.bin").exists()
    # the oversized 200 was refused on its Content-Length, not buffered: only fits.bin was received
    assert len(nginx.requests("/norange/t3/big.bin")) == 1
    assert stats["bytes_received"] == len(fits) and stats["range_ignored"] == 2


def test_redirect_to_storage_host_does_not_forward_authorization(nginx: NginxServer, tmp_path: Path) -> None:
    nginx.reset_log()
    data = tmp_path / "data"
    small, big = blob(20_000, "a1"), blob(1 * MB, "a2")
    nginx.put("t4/small.bin", small)
    nginx.put("t4/big.bin", big)
    store(data, "1", [file_entry("small.bin", small, nginx.url("t4/small.bin", "redirect")),
                      file_entry("big.bin", big, nginx.url("t4/big.bin", "redirect"))])
    code, _, log = run_download(
        data, {"ZENODO_API_URL": f"{nginx.origin}/api"}, env={"ZENODO_ACCESS_TOKEN": "secret-token-123"}
    )
    assert code == 0, log[-3000:]
    assert (data / "downloads/zenodo/1/big.bin").read_bytes() == big
    origin = nginx.requests("/redirect/t4/")
    storage = [r for r in nginx.requests("/files/t4/") if r["server"] == "127.0.0.2"]
    assert origin and all(r["auth"] == "yes" and r["status"] == 302 for r in origin)  # token sent to the API host
    assert storage and all(r["auth"] == "-" for r in storage)  # ...and not to the storage host
    assert len(storage) == 1 + 4  # small whole + big in four 256 KiB ranges, each re-resolved
    assert "secret-token-123" not in log


def start_download(
    data_dir: Path, log: Path, settings: dict[str, Any] | None = None, *extra: str
) -> subprocess.Popen[bytes]:
    """``scrapy download`` in the background, its summary (stdout) and log (stderr) in files
    (a pipe could fill up and block the process)."""
    out, err = log.with_suffix(".out").open("wb"), log.open("wb")
    with out, err:
        return subprocess.Popen(download_cmd(data_dir, settings, *extra), cwd=PROJECT_ROOT, env=scrapy_env(),
                                stdout=out, stderr=err)


def finished_download(proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    code = proc.wait(timeout=timeout)
    lines = log.with_suffix(".out").read_text().strip().splitlines()
    return code, json.loads(lines[-1])["download"] if lines else {}, log.read_text()


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def chunk_ranges(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk, size)) for start in range(0, size, chunk)]


CHUNK = SMALL_CHUNKS["ENVISION_DOWNLOAD_CHUNK_SIZE"]
ONE_RANGE_AT_A_TIME = {"ENVISION_DOWNLOAD_RANGES_IN_FLIGHT": 1}  # request k+1 leaves after chunk k is saved


def kill_after_ranges(
    server: StallingFileServer, n: int, data: Path, log: Path, settings: dict[str, Any] | None = None
) -> None:
    """Start a one-range-at-a-time download, let the server answer ``n`` ranges, hold the next,
    and SIGKILL the process while it waits: exactly ``n`` chunks are on disk, on any machine."""
    server.stall_after(n)
    proc = start_download(data, log, {**ONE_RANGE_AT_A_TIME, **(settings or {})})
    try:
        assert server.stalled.wait(90), log.read_text()[-3000:]
    finally:
        kill(proc)
        server.resume(drop=True)


def test_killed_download_resumes_from_disk(tmp_path: Path, state_url: str) -> None:
    """SIGKILL mid-file, rerun: only the missing ranges are fetched, and the result verifies.
    The killed process's lease on the record is taken over at once (its pid is dead, on this host).

    The server answers 4 ranges and holds the 5th: one range in flight at a time, so the kill
    lands with exactly chunks 0-3 on disk, whatever the machine's speed."""
    data = tmp_path / "data"
    shared = {"ENVISION_STATE_URL": state_url}
    big = blob(10 * CHUNK + 777, "k1")  # 11 chunks
    with StallingFileServer() as server:
        store(data, "1", [file_entry("big.bin", big, server.put("t5/big.bin", big))])
        sidecar = data / "downloads/zenodo/1/big.bin.part.json"
        kill_after_ranges(server, 4, data, tmp_path / "first.log", shared)
        assert json.loads(sidecar.read_text())["done"] == [[0, 4]]  # killed mid-file, by construction
        state = open_state(state_url, data)
        [lease] = state.leases("download")
        assert lease["key"] == "zenodo:1" and lease["expires_in"] > 30  # left by the killed process
        assert manifest(data, "1")["status"] == "pending"
        assert not (data / "downloads/zenodo/1/big.bin").exists()
        first_run = sum(s.bytes for s in server.served)
        assert 0 < first_run < len(big)
        assert first_run == 4 * CHUNK

        server.served.clear()
        code, stats, log = run_download(data, {**ONE_RANGE_AT_A_TIME, **shared})
        assert code == 0, log[-3000:]
        assert (data / "downloads/zenodo/1/big.bin").read_bytes() == big
        entry = files_by_name(manifest(data, "1"))["big.bin"]
        assert entry["status"] == "complete" and entry["mode"] == "ranged-resumed"
        assert state.leases("download") == []  # taken over, then released
        state.close()
        second_run = sum(s.bytes for s in server.served)
        assert second_run <= len(big) - 4 * CHUNK  # the 4 finished chunks were not fetched again
        assert [s.range for s in server.served] == chunk_ranges(len(big), CHUNK)[4:]  # only the rest, each once
        assert all(s.status == 206 for s in server.served)
        assert stats["resumed"] == 1 and stats["resumed_bytes"] == 4 * CHUNK
        assert not sidecar.exists()


def test_file_changed_between_runs_restarts_from_zero(tmp_path: Path) -> None:
    """If-Range: after a crash, a file whose ETag changed is fetched again from the start."""
    data = tmp_path / "data"
    old, new = blob(8 * CHUNK, "c-old"), blob(8 * CHUNK, "c-new")  # same size, new ETag
    with StallingFileServer() as server:
        store(data, "1", [file_entry("f.bin", new, server.put("t6/f.bin", old), checksum=None)])
        sidecar = data / "downloads/zenodo/1/f.bin.part.json"
        kill_after_ranges(server, 2, data, tmp_path / "first.log")
        assert sidecar.exists(), "the first download finished before it could be killed"
        assert json.loads(sidecar.read_text())["done"] == [[0, 2]]
        server.put("t6/f.bin", new)
        server.served.clear()
        code, stats, log = run_download(data, ONE_RANGE_AT_A_TIME)
        assert code == 0, log[-3000:]
        assert (data / "downloads/zenodo/1/f.bin").read_bytes() == new
        assert stats["changed_midway"] == 1
        # the stale range was answered 200 and stopped on its headers; then all of the new file
        assert server.served[0].status == 200
        assert [s.range for s in server.served[1:]] == chunk_ranges(len(new), CHUNK)


def test_second_download_of_a_record_skips_while_the_first_holds_it(tmp_path: Path) -> None:
    """Two ``scrapy download`` processes on one record at once: the first holds the record
    folder's lock for its whole download, so the second fetches and writes nothing, says why
    and counts it; the first finishes a verified file with no zeroed range.

    Interleaving fixed by the server: it answers the first process's first 3 ranges and holds
    its 4th, so the first process is mid-file (lock held, ``.part`` on disk) for as long as the
    second one runs."""
    data = tmp_path / "data"
    big = blob(10 * CHUNK + 999, "two-writers")
    with StallingFileServer() as server:
        store(data, "1", [file_entry("big.bin", big, server.put("t7/big.bin", big))])
        folder = data / "downloads/zenodo/1"
        server.stall_after(3, user_agent="writer-a")
        first = start_download(data, tmp_path / "a.log", {**ONE_RANGE_AT_A_TIME, "USER_AGENT": "writer-a"})
        try:
            assert server.stalled.wait(90), (tmp_path / "a.log").read_text()[-3000:]
            assert (folder / "big.bin.part").exists() and manifest(data, "1")["status"] == "pending"

            code, stats_b, log_b = run_download(data, {**ONE_RANGE_AT_A_TIME, "USER_AGENT": "writer-b"})
            assert code == 0, log_b[-3000:]
            assert stats_b.get("records/locked") == 1, log_b[-3000:]
            assert "holds the lock on" in log_b and "not downloading zenodo:1" in log_b
            assert "requests" not in stats_b and "files/complete" not in stats_b
            assert server.served_to("writer-b") == []
            assert manifest(data, "1")["status"] == "pending"  # left to the holder

            server.resume()
            code, stats_a, log_a = finished_download(first, tmp_path / "a.log")
        finally:
            kill(first)
            server.resume(drop=True)
    assert code == 0, log_a[-3000:]
    payload = (folder / "big.bin").read_bytes()
    assert payload == big
    assert all(payload[a:b].strip(b"\0") for a, b in chunk_ranges(len(big), CHUNK))  # no zeroed range
    entry = files_by_name(manifest(data, "1"))["big.bin"]
    assert entry["status"] == "complete" and entry["verification"] == "md5 matches the repository"
    assert entry["md5"] == hashlib.md5(big).hexdigest() and entry["mode"] == "ranged"
    # exactly one process wrote it: every range once, all to writer-a
    assert [s.range for s in server.served] == chunk_ranges(len(big), CHUNK)
    assert {s.user_agent for s in server.served} == {"writer-a"}
    assert stats_a["files/complete"] == 1 and stats_a["bytes_received"] == len(big)
    assert "records/locked" not in stats_a
    assert not list(folder.glob("*.part*"))


def test_record_locked_by_another_holder_is_left_alone(nginx: NginxServer, tmp_path: Path) -> None:
    """The record folder locked from outside (here: by this test process): ``scrapy download``
    fetches nothing, does not touch the manifest, exits 0 and counts the record as locked;
    once the lock is released, the next run downloads it."""
    nginx.reset_log()
    data = tmp_path / "data"
    payload = blob(30_000, "held")
    store(data, "1", [file_entry("a.bin", payload, nginx.put("t8/a.bin", payload))])
    folder = data / "downloads/zenodo/1"
    lock = FolderLock.acquire(folder)
    try:
        code, stats, log = run_download(data)
    finally:
        lock.release()
    assert code == 0, log[-3000:]
    assert stats["records/locked"] == 1 and stats["records/gated"] == 1
    assert "not downloading zenodo:1: another download" in log
    assert nginx.requests("/files/t8/") == []
    assert list(folder.iterdir()) == []  # no manifest written by the process that skipped

    code, stats, log = run_download(data)
    assert code == 0, log[-3000:]
    assert (folder / "a.bin").read_bytes() == payload and manifest(data, "1")["status"] == "complete"
    assert "records/locked" not in stats


def test_record_leased_by_another_node_is_left_alone(nginx: NginxServer, tmp_path: Path, state_url: str) -> None:
    """Another node (sharing the state) holds the record's download lease: ``scrapy download``
    fetches nothing and counts the record as locked; once the lease is released it downloads it,
    and gives its own lease back at the end."""
    nginx.reset_log()
    data = tmp_path / "data"
    payload = blob(30_000, "leased")
    store(data, "1", [file_entry("a.bin", payload, nginx.put("t9/a.bin", payload))])
    state = open_state(state_url, data)
    try:
        assert state.take_lease("download", "zenodo:1", "other-node:4242", 3600)
        code, stats, log = run_download(data, {"ENVISION_STATE_URL": state_url})
        assert code == 0, log[-3000:]
        assert stats["records/locked"] == 1 and stats["records/gated"] == 1
        assert "another node or process holds the download lease on zenodo:1" in log
        assert nginx.requests("/files/t9/") == []
        assert not (data / "downloads/zenodo/1/manifest.json").exists()

        state.release_lease("download", "zenodo:1", "other-node:4242")
        code, stats, log = run_download(data, {"ENVISION_STATE_URL": state_url})
        assert code == 0, log[-3000:]
        assert (data / "downloads/zenodo/1/a.bin").read_bytes() == payload
        assert "records/locked" not in stats
        assert state.leases("download") == []
    finally:
        state.close()


def test_a_download_longer_than_its_lease_keeps_the_lease_renewed(tmp_path: Path) -> None:
    """ENVISION_LEASE_SECONDS=1.5 and a download held mid-file for longer than that: the lease
    is renewed in the background (still held by the downloading process, never free for
    another node), and released when the record is done."""
    import threading

    data = tmp_path / "data"
    big = blob(6 * CHUNK + 5, "renewed")
    with StallingFileServer() as server:
        store(data, "1", [file_entry("big.bin", big, server.put("t10/big.bin", big))])
        server.stall_after(2)
        proc = start_download(data, tmp_path / "a.log", {**ONE_RANGE_AT_A_TIME, "ENVISION_LEASE_SECONDS": 1.5})
        state = open_state("", data)
        try:
            assert server.stalled.wait(90), (tmp_path / "a.log").read_text()[-3000:]
            [first] = state.leases("download")
            threading.Event().wait(3.5)  # more than twice the lease: it would have expired unrenewed
            [later] = state.leases("download")
            assert later["holder"] == first["holder"] and later["held_for"] > 3
            assert later["expires_in"] > 0
            assert not state.take_lease("download", "zenodo:1", "other-node:1", 60)
            server.resume()
            code, stats, log = finished_download(proc, tmp_path / "a.log")
        finally:
            kill(proc)
            server.resume(drop=True)
    assert code == 0, log[-3000:]
    assert (data / "downloads/zenodo/1/big.bin").read_bytes() == big
    assert state.leases("download") == []
    state.close()


def test_download_token_goes_only_to_the_api_origin_and_token_files_need_one(nginx: NginxServer, tmp_path: Path) -> None:
    """Downloads send the source token as inspection does (``ApiToken.headers_for``): the same
    host on another port is another origin and gets nothing; a file whose access is ``token``
    is downloaded only when its source has a token."""
    nginx.reset_log()
    data = tmp_path / "data"
    body = blob(20_000, "t9")
    nginx.put("t9/a.bin", body)
    store(data, "9", [file_entry("a.bin", body, nginx.url("t9/a.bin"), access="token")])
    other_port = f"http://127.0.0.1:{nginx.port + 1}/api"  # same host, another origin
    code, _, log = run_download(data, {"ZENODO_API_URL": other_port}, env={"ZENODO_ACCESS_TOKEN": "secret-token-9"})
    assert code == 0, log[-3000:]
    assert (data / "downloads/zenodo/9/a.bin").read_bytes() == body
    assert [r["auth"] for r in nginx.requests("/files/t9/")] == ["-"]  # not sent to another port
    assert "secret-token-9" not in log

    store(data, "10", [file_entry("b.bin", body, nginx.url("t9/a.bin"), access="token")])
    code, _, log = run_download(data, {"ZENODO_API_URL": nginx.origin + "/api"})
    assert code == 0, log[-3000:]
    [entry] = manifest(data, "10")["files"]
    assert entry["status"].startswith("skipped: file access token")


def test_download_progress_shows_bytes_rate_and_eta_per_file_and_overall(nginx: NginxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    big = blob(3 * MB + 12345, "p1big")
    small = blob(5000, "p1small")
    store(data, "1", [file_entry("vol.bin", big, nginx.put("p1/vol.bin", big)),
                      file_entry("a.jpg", small, nginx.put("p1/a.jpg", small))])
    code, stats, log = run_download(
        data, {"ENVISION_DOWNLOAD_PROGRESS_INTERVAL": 0.000001, "ENVISION_PROGRESS_INTERVAL": 0.05})
    assert code == 0, log[-3000:]
    assert stats["bytes_planned"] == len(big) + len(small)
    # the large file's own lines: the verified prefix grows, with a rate and an ETA
    percents = [int(p) for p in re.findall(r"Downloading \S+/p1/vol\.bin: [\d.]+ [KM]B of 3\.2 MB \((\d+)%\), "
                                           r"[\d.]+ [KM]?B/s, ETA \S+", log)]
    assert len(percents) >= 3 and percents == sorted(percents) and percents[-1] <= 100
    assert re.search(r"Downloaded \S+/p1/vol\.bin: 3\.2 MB at [\d.]+ [KM]?B/s", log)
    # overall, in the periodic progress line: every planned byte done
    final = re.search(r"Progress \(final\): processed 1; .*files ([\d.]+ [KM]B)/([\d.]+ [KM]B), ([\d.]+) MB/s, "
                      r"ETA (\w+)$", log, re.MULTILINE)
    assert final and final.group(1) == final.group(2) == "3.2 MB" and final.group(4) == "0s", log[-2000:]
    assert float(final.group(3)) > 0  # the final line gives the average rate of the run


def test_download_closes_as_soon_as_the_last_record_is_done(nginx: NginxServer, tmp_path: Path) -> None:
    """The records come from start(), not from responses: without the spider's wake-up request
    the engine would notice it is idle only at its 5 s heartbeat."""
    data = tmp_path / "data"
    small = blob(5000, "idle1")
    store(data, "1", [file_entry("a.jpg", small, nginx.put("idle/a.jpg", small))])
    stats_file = tmp_path / "stats.json"
    code, stats, log = run_download(data, {"ENVISION_STATS_FILE": stats_file})
    assert code == 0 and stats["files/complete"] == 1, log[-3000:]
    assert json.loads(stats_file.read_text())["elapsed_time_seconds"] < 4.0
    empty = tmp_path / "empty"
    code, stats, log = run_download(empty, {"ENVISION_STATS_FILE": stats_file})
    assert code == 0, log[-3000:]
    assert json.loads(stats_file.read_text())["elapsed_time_seconds"] < 4.0


def test_dryad_files_download_with_a_token_asked_for_the_client_credentials(tmp_path: Path) -> None:
    """Dryad answers 401 to file downloads without a bearer token; a user with OAuth client
    credentials (DRYAD_CLIENT_ID / DRYAD_CLIENT_SECRET) and no DRYAD_TOKEN gets one token for
    the whole run, asked for when the first Dryad record arrives."""
    from tests.servers.base import ranged_reply
    from tests.servers.dryad import FakeDryad

    body = blob(30_000, "dryad")

    def store_dryad(data: Path) -> None:
        for number, source_id in ((1000, "doi:10.5061/dryad.a"), (2000, "doi:10.5061/dryad.b")):
            entry = file_entry("images.zip", body, f"{fake.base_url}/api/v2/files/{number}/download", access="token")
            rec = {"source": "dryad", "source_id": source_id, "doi": source_id.removeprefix("doi:"),
                   "license": "cc0-1.0", "title": source_id, "label": "EYE_IMAGING", "confidence": 0.95,
                   "eye_evidence": ["words"], "access_type": "open", "files": [entry]}
            write_json_atomic(record_path(data, "dryad", source_id), rec)

    with FakeDryad(n_eye=2, n_other=0) as fake:
        fake.route("storage", "GET", r"/storage/(.+)", lambda call, match: ranged_reply(call, body))
        fake.storage_url = lambda path: f"{fake.base_url}/storage/{path}"
        # delays off (a local fake): with a token, Dryad's files have its 100/hour file slot
        settings = {"DRYAD_API_URL": f"{fake.base_url}/api/v2", "DOWNLOAD_DELAY": 0}
        data = tmp_path / "data"
        store_dryad(data)
        code, summary, log = run_download(data, settings, env={"DRYAD_CLIENT_ID": fake.client_id,
                                                               "DRYAD_CLIENT_SECRET": fake.client_secret})
        assert code == 0, log[-3000:]
        assert summary["files/complete"] == 2 and fake.tokens_issued == 1
        assert [c.status for c in fake.calls_to("download")] == [302, 302]
        assert all(c.headers.get("Authorization") == f"Bearer {fake.token}" for c in fake.calls_to("download"))
        assert fake.token not in log and fake.client_secret not in log
        downloaded = [p.read_bytes() == body for p in (data / "downloads" / "dryad").rglob("images.zip")]
        assert downloaded == [True, True]

        fake.calls.clear()
        store_dryad(tmp_path / "anonymous")  # no credentials: the token files are skipped, not sent to 401
        code, summary, log = run_download(tmp_path / "anonymous", settings)
        assert code == 0, log[-3000:]
        assert fake.calls_to("download") == [] and fake.calls_to("oauth") == []
        assert "files/complete" not in summary


@pytest.mark.slow
def test_two_nodes_each_with_two_processes_fetch_every_file_exactly_once(
    nginx: NginxServer, tmp_path: Path, state_url: str
) -> None:
    """``scrapy download --processes 2`` on two nodes at once (another ENVISION_NODE_NAME, one
    shared state and store): the local split into shares and the cross-node leases together
    still fetch every file once, and every record ends complete."""
    nginx.reset_log()
    data = tmp_path / "data"
    bodies = {}
    for r in range(12):
        files = []
        for f in range(3):
            body = bodies[f"n{r}/{f}.bin"] = blob(20_000 + 997 * f, f"n{r}-{f}")
            files.append(file_entry(f"{f}.bin", body, nginx.put(f"n{r}/{f}.bin", body)))
        store(data, str(100 + r), files)
    procs = [start_download(data, tmp_path / f"{node}.log", {"ENVISION_STATE_URL": state_url, "ENVISION_NODE_NAME": node},
                            "--processes", "2") for node in ("node-a", "node-b")]
    results = [finished_download(proc, tmp_path / f"{node}.log", timeout=240) for proc, node in zip(procs, ("node-a", "node-b"))]
    for code, _, log in results:
        assert code == 0, log[-3000:]
    fetched = [r["uri"].removeprefix("/files/") for r in nginx.requests("/files/n")]
    assert sorted(fetched) == sorted(bodies), "every file fetched exactly once over the two nodes"
    for r in range(12):
        man = manifest(data, str(100 + r))
        assert man["status"] == "complete"
        for f in range(3):
            assert (data / f"downloads/zenodo/{100 + r}/{f}.bin").read_bytes() == bodies[f"n{r}/{f}.bin"]
    # each file completed by one node; a record the other node finished counts as complete on
    # both when the revisit of held records finds its files present (files/already_present)
    assert sum(s.get("files/complete", 0) for _, s, _ in results) == len(bodies)
    assert sum(s.get("requests", 0) for _, s, _ in results) == len(bodies)
    state = open_state(state_url, data)
    try:
        assert state.leases("download") == []
    finally:
        state.close()


def test_a_figshare_crawls_downloads_share_its_one_rate_with_its_api_requests(tmp_path: Path) -> None:
    """During a crawl, gated downloads of a source with one rate for every request (Figshare) go
    to the source's shared slot with its API requests, not to a host slot of their own (a
    second budget on ndownloader.figshare.com). The fake answers 429 to more than 3 requests,
    API and downloads together, in any 0.5 s; the crawl's delay is 0.2 s."""
    from tests.conftest import run_crawl
    from tests.servers.figshare import FakeFigshare
    from tests.servers.rate_gate import RateGate, gate_fake
    from tests.spiders.test_zenodo_download import pipelines

    with FakeFigshare(n_articles=30, files_host="localhost", file_bytes=lambda name: None) as fake:
        gate = RateGate({"overall": (0.5, 3)}, {r: ["overall"] for r in ("search", "article", "files", "download")})
        gate_fake(fake, gate, lambda wait: FakeFigshare.rate_limited())
        result = run_crawl("figshare", tmp_path, settings={
            "FIGSHARE_API_URL": f"{fake.base_url}/v2", "DOWNLOAD_DELAY": 0.2, "ENVISION_DOWNLOAD": True,
            "ITEM_PIPELINES": pipelines()})
    assert result.returncode == 0, result.log
    assert result.stats["envision/download/requests"] >= 10  # the fundus records' files (tests/labels.py)
    assert gate.refused == 0, f"{gate.refused} requests above Figshare's one rate: {gate.refused_by}"


def test_a_crawl_lets_an_accepted_record_through_and_reads_the_accepted_ones_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate of a crawl's files pipeline: a record held for review passes once a curator
    accepted it (state ``accepted_for_download``), counted; others are still held; the accepted
    set is read from the state once, not per record."""
    from envision_spiders.pipelines.files import GatedFilesPipeline
    from envision_spiders.state.base import StateDB
    from tests.conftest import project_crawler

    data = tmp_path / "data"
    state = open_state(None, data)
    state.accept_for_download([("zenodo", "2")], "2026-12-05T10:00:00+00:00")
    state.close()
    reads = []
    original = StateDB.accepted_for_download
    monkeypatch.setattr(StateDB, "accepted_for_download", lambda self: reads.append(1) or original(self))
    crawler = project_crawler(ENVISION_DATA_DIR=str(data), ENVISION_DOWNLOAD=True)
    pipeline = GatedFilesPipeline.from_crawler(crawler)
    locked = []
    monkeypatch.setattr(pipeline, "_lock", lambda source, source_id, folder, item: locked.append(source_id))
    for source_id in ("1", "2", "3"):
        held = {"source": "zenodo", "source_id": source_id, "title": "Raw data", "label": "EYE_IMAGING",
                "confidence": 0.95, "access_type": "open", "eye_evidence": ["sides"], "files": []}
        assert pipeline.get_media_requests(held, None) == []
    stats = crawler.stats.get_stats()
    assert locked == ["2"] and reads == [1]
    assert stats["envision/download/records/accepted"] == 1 and stats["envision/download/records/gated"] == 1
    assert stats["envision/download/records/needs_review"] == 2
    below = {"source": "zenodo", "source_id": "2", "label": "EYE_IMAGING", "confidence": 0.5, "access_type": "open",
             "eye_evidence": ["sides"], "files": []}
    assert pipeline.get_media_requests(below, None) == [] and locked == ["2"]  # the threshold still applies

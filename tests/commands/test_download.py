"""``scrapy download --processes N``: the stored records dealt between N processes, each file
fetched once, one summary, the request limits shared out; the workers die with the process that
started them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from envision_spiders.commands.download import GC_YOUNG_THRESHOLD
from envision_spiders.downloads.shares import write_shares
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.db import open_state
from envision_spiders.state.store import record_path
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.pipelines.test_files import blob, download_cmd, file_entry, manifest, run_download, store
from tests.servers.nginx import NginxServer
from tests.servers.stall_files import StallingFileServer


def test_two_processes_fetch_every_file_once_and_add_up_their_summaries(nginx: NginxServer, tmp_path: Path) -> None:
    nginx.reset_log()
    data = tmp_path / "data"
    expected = 0
    for r in range(12):
        files = {f"img/{i}.png": blob(2000 + 131 * i + r, f"p{r}/{i}") for i in range(1 + r % 5)}
        store(data, str(r), [file_entry(n, d, nginx.put(f"procs/{r}/{n}", d)) for n, d in files.items()])
        expected += len(files)
    code, summary, log = run_download(data, None, "--processes", "2")
    assert code == 0, log[-3000:]
    assert summary["files/complete"] == expected and summary["records/complete"] == 12
    assert summary["stored/read"] == 12  # each process read only its share
    assert log.count("Spider closed (finished)") == 2  # two crawls did the work
    fetched = Counter(r["uri"] for r in nginx.requests("/files/procs/"))
    assert len(fetched) == expected and set(fetched.values()) == {1}
    assert all(manifest(data, str(r))["status"] == "complete" for r in range(12))


def test_asking_for_more_processes_than_the_limits_allow_says_how_many_are_used(nginx: NginxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for r in range(4):
        body = blob(2600 + r, f"capped{r}")
        store(data, str(r), [file_entry("a.png", body, nginx.put(f"capped/{r}/a.png", body))])
    code, summary, log = run_download(data, {"CONCURRENT_REQUESTS_PER_DOMAIN": 2}, "--processes", "4")
    assert code == 0, log[-3000:]
    assert summary["files/complete"] == 4
    assert "--processes 4 asked, 2 used" in log
    assert log.count("Spider closed (finished)") == 2


def test_by_default_a_few_files_are_downloaded_by_one_process(nginx: NginxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for r in range(3):
        body = blob(2500 + r, f"few{r}")
        store(data, str(r), [file_entry("a.png", body, nginx.put(f"few/{r}/a.png", body))])
    code, summary, log = run_download(data, None)  # ENVISION_DOWNLOAD_PROCESSES = 0: auto
    assert code == 0, log[-3000:]
    assert summary["files/complete"] == 3
    assert log.count("Spider closed (finished)") == 1  # below AUTO_MIN_FILES: no worker


def test_a_share_is_read_by_name_and_a_record_gone_since_is_counted(nginx: NginxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for r in range(3):
        body = blob(2700 + r, f"share{r}")
        store(data, str(r), [file_entry("a.png", body, nginx.put(f"share/{r}/a.png", body))])
    (data / "metadata" / "zenodo" / "2.json").write_text("{not json")  # not in the share: never parsed
    share = tmp_path / "share.txt"
    share.write_text("zenodo\t1\nzenodo\tgone\n")
    code, summary, log = run_download(data, {"ENVISION_DOWNLOAD_RECORDS": share})
    assert summary["stored/read"] == 1 and summary["files/complete"] == 1
    assert summary["stored/unreadable"] == 1 and "cannot read stored record zenodo:gone" in log
    assert manifest(data, "1")["status"] == "complete"
    assert not (data / "downloads" / "zenodo" / "0").exists()
    assert code == 0, log[-3000:]


def test_a_process_done_with_its_share_takes_the_others_unclaimed_records_and_never_a_claimed_one(
    nginx: NginxServer, tmp_path: Path
) -> None:
    """The shares of --processes are a first deal: a process that runs out of its own goes on with
    the records another process has not claimed yet (that one slowed down, or died)."""
    data = tmp_path / "data"
    for r in range(4):
        body = blob(2800 + r, f"claims{r}")
        store(data, str(r), [file_entry("a.png", body, nginx.put(f"claims/{r}/a.png", body))])
    shares = tmp_path / "shares"
    shares.mkdir()
    paths = write_shares(shares, [[("zenodo", "0")], [("zenodo", "1"), ("zenodo", "2"), ("zenodo", "3")]])
    (shares / "claims" / "1-0").touch()  # zenodo:1, claimed by the process of share 1
    code, summary, log = run_download(data, {"ENVISION_DOWNLOAD_RECORDS": paths[0], "ENVISION_DOWNLOAD_SHARES": shares})
    assert code == 0, log[-3000:]
    assert summary["files/complete"] == 3 and summary["stored/read"] == 3
    assert summary["stored/from_other_shares"] == 2
    assert all(manifest(data, sid)["status"] == "complete" for sid in ("0", "2", "3"))
    assert not (data / "downloads" / "zenodo" / "1").exists()  # left to the process that claimed it
    assert sorted(p.name for p in (shares / "claims").iterdir()) == ["0-0", "1-0", "1-1", "1-2"]


def test_the_start_up_objects_are_left_out_of_the_cyclic_gc_once_the_engine_runs(nginx: NginxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    body = blob(2900, "gc")
    store(data, "1", [file_entry("a.png", body, nginx.put("gc/1/a.png", body))])
    code, summary, log = run_download(data, {"LOG_LEVEL": "DEBUG"})
    assert code == 0 and summary["files/complete"] == 1, log[-3000:]
    frozen = re.search(r"cyclic GC: (\d+) objects frozen, young collections every (\d+) allocations", log)
    assert frozen, log[-3000:]
    assert int(frozen[1]) > 50_000 and int(frozen[2]) == GC_YOUNG_THRESHOLD  # modules, crawler, components


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_killing_the_first_process_takes_its_workers_with_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with StallingFileServer() as server:
        for r in range(4):
            body = blob(5000, f"k{r}")
            store(data, str(r), [file_entry("a.bin", body, server.put(f"k{r}.bin", body))])
        server.stall_after(0)  # every file request waits: both processes are mid-download
        proc = subprocess.Popen(download_cmd(data, None, "--processes", "2"), cwd=PROJECT_ROOT,
                                # a killed run cannot remove its shares folder: it is left in tmp_path
                                env=scrapy_env({"TMPDIR": str(tmp_path)}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            workers: set[int] = set()
            while time.monotonic() < deadline and not (workers and len(server.calls) >= 2):
                workers = workers or children_of(proc.pid)
                time.sleep(0.1)
            assert workers and len(server.calls) >= 2, "both processes should be waiting on a file"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            deadline = time.monotonic() + 10
            while any(alive(w) for w in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(alive(w) for w in workers), "a worker outlived the killed download"
        finally:
            if proc.poll() is None:
                proc.kill()
            server.resume(drop=True)


def test_two_processes_together_keep_to_one_processs_requests_per_host(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with StallingFileServer() as server:
        for r in range(8):
            files = {f"{i}.bin": blob(3000 + i, f"h{r}/{i}") for i in range(4)}
            store(data, str(r), [file_entry(n, body, server.put(f"h{r}/{n}", body)) for n, body in files.items()])
        server.stall_after(0)  # every file request is held: the ones in flight pile up at the server
        limits = {"ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST": 3, "CONCURRENT_REQUESTS_PER_DOMAIN": 3}
        proc = subprocess.Popen(download_cmd(data, limits, "--processes", "2"), cwd=PROJECT_ROOT,
                                # a killed run cannot remove its shares folder: it is left in tmp_path
                                env=scrapy_env({"TMPDIR": str(tmp_path)}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(server.calls) < 3:
                time.sleep(0.1)
            time.sleep(2)  # room for any request beyond the limit to arrive
            assert len(server.calls) == 3  # 2 + 1, not 3 per process
        finally:
            proc.kill()
            proc.wait(10)
            server.resume(drop=True)


def store_figshare(data: Path, fake: Any, count: int, body: bytes) -> list[str]:
    """``count`` gated Figshare records, one file each, downloaded through the fake's
    ndownloader route (a 302 to its object store); their source ids."""
    ids = []
    for article in [a for a in fake.all_articles() if a["defined_type"] == 3][:count]:
        entry = file_entry("images.zip", body, article["files"][0]["download_url"])
        source_id = str(article["id"])
        write_json_atomic(record_path(data, "figshare", source_id), {
            "source": "figshare", "source_id": source_id, "title": article["title"], "license": "cc-by-4.0",
            "label": "EYE_IMAGING", "confidence": 0.95, "access_type": "open", "files": [entry]})
        ids.append(source_id)
    return ids


def test_figshare_files_keep_to_its_one_rate_for_every_request(tmp_path: Path) -> None:
    """Figshare documents one rate (about 1 request/s) for all its requests, downloads on
    ndownloader.figshare.com included: ``scrapy download`` sends them to the source's shared slot
    at the spider's delay, as a crawl does, not to a host slot of its own with no delay. The fake
    answers 429 to more than 2 download requests in any 2 s."""
    from tests.servers.figshare import FakeFigshare
    from tests.servers.rate_gate import RateGate, gate_fake

    body = blob(20_000, "figshare")
    with FakeFigshare(n_articles=6, files_host="localhost", file_bytes=lambda name: body) as fake:
        gate = RateGate({"overall": (2.0, 2)}, {"download": ["overall"]})
        gate_fake(fake, gate, lambda wait: FakeFigshare.rate_limited())
        data = tmp_path / "data"
        store_figshare(data, fake, 3, body)
        code, summary, log = run_download(data, {"FIGSHARE_API_URL": f"{fake.base_url}/v2", "DOWNLOAD_DELAY": None})
    assert code == 0, log[-3000:]
    assert summary["files/complete"] == 3
    assert gate.refused == 0, f"{gate.refused} download requests above Figshare's rate"
    sent = [c.at for c in fake.calls_to("download")]
    assert len(sent) == 3 and sent[-1] - sent[0] >= 2 * 0.98  # one a second, the margin aside
    assert len(fake.storage.calls_to("object")) == 3  # the object store is not the repository's budget


def test_a_record_held_for_review_is_downloaded_once_a_person_names_it(nginx: NginxServer, tmp_path: Path) -> None:
    """A confident record whose only eye evidence is left/right in file names waits for review
    (counted, logged); ``--record SOURCE:ID`` downloads the ones a person accepted, and only them."""
    data = tmp_path / "data"
    paws = {"raw/dog01_left_fore.jpg": blob(3000, "paw-l"), "raw/dog01_right_fore.jpg": blob(3001, "paw-r")}
    store(data, "1", [file_entry(n, d, nginx.put(f"review/1/{n}", d)) for n, d in paws.items()],
          title="Raw data", eye_evidence=["sides"])
    eyes = {"fundus/P01_OD.jpg": blob(3002, "od"), "fundus/P01_OS.jpg": blob(3003, "os")}
    store(data, "2", [file_entry(n, d, nginx.put(f"review/2/{n}", d)) for n, d in eyes.items()],
          title="Raw data", eye_evidence=["sides"])
    code, summary, log = run_download(data)
    assert code == 0, log[-3000:]
    assert summary["records/needs_review"] == 2 and "files/complete" not in summary
    assert "needs review: confident, but its only eye evidence is left/right in file names" in log
    code, summary, log = run_download(data, None, "--record", "zenodo:2")
    assert code == 0, log[-3000:]
    assert summary["files/complete"] == 2 and summary["stored/read"] == 1
    assert manifest(data, "2")["status"] == "complete" and not (data / "downloads" / "zenodo" / "1").exists()
    (data / "downloads" / "zenodo" / "2" / "fundus" / "P01_OD.jpg").unlink()  # so the next run has work for it
    code, summary, log = run_download(data)  # the acceptance is remembered: only the other one is held
    assert code == 0, log[-3000:]
    assert summary["records/needs_review"] == 1 and summary["records/accepted"] == 1, summary
    assert summary["files/complete"] == 1 and not (data / "downloads" / "zenodo" / "1").exists()
    assert "downloading zenodo:2: accepted by a curator after review" in log
    (data / "downloads" / "zenodo" / "2" / "fundus" / "P01_OD.jpg").unlink()
    code, summary, log = run_download(data, None, "--processes", "2")  # the deal between processes takes it too
    assert code == 0, log[-3000:]
    assert summary["files/complete"] == 1 and summary["records/accepted"] == 1, summary
    report = subprocess.run(scrapy_command("report", "-s", f"ENVISION_DATA_DIR={data}"), cwd=PROJECT_ROOT, env=scrapy_env(),
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (data / "report" / "index.html").read_text()
    assert '<span id="review-count">1</span>' in html and '<span id="accepted-count">1</span>' in html
    withdraw = subprocess.run(download_cmd(data, None, "--withdraw", "zenodo:2", "--withdraw", "zenodo:1"), cwd=PROJECT_ROOT,
                              env=scrapy_env(), capture_output=True, text=True, timeout=120)
    assert withdraw.returncode == 1, withdraw.stderr[-3000:]  # zenodo:1 was never accepted: named, and an error
    said = json.loads(withdraw.stdout.strip().splitlines()[-1])
    assert said["withdrawn"] == ["zenodo:2"] and said["not_accepted"] == ["zenodo:1"]
    assert "acceptance withdrawn: zenodo:2 is held for review again" in withdraw.stderr
    code, summary, log = run_download(data)  # held again, and its files stay
    assert code == 0 and summary["records/needs_review"] == 2 and "records/accepted" not in summary, summary
    assert (data / "downloads" / "zenodo" / "2" / "fundus" / "P01_OS.jpg").exists()
    code, summary, log = run_download(data, None, "--record", "zenodo:2")  # accepted once more
    assert code == 0, log[-3000:]
    code, summary, log = run_download(data, None, "--record", "zenodo:404")  # not in the store: an error
    assert code == 1 and summary["stored/unreadable"] == 1 and "cannot read stored record zenodo:404" in log
    state = open_state(None, data)
    try:
        assert state.accepted_for_download() == {("zenodo", "2")}  # an unknown record is not remembered
    finally:
        state.close()
    proc = subprocess.run(download_cmd(data, None, "--record", "zenodo"), cwd=PROJECT_ROOT, env=scrapy_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "expected SOURCE:ID" in proc.stderr

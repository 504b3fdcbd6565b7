"""Issue 16 end to end, real processes only: two scrapyd nodes sharing one PostgreSQL state
(``ENVISION_STATE_URL``) and one S3-protocol store (``ENVISION_STORE_URL``, ``FILES_STORE=s3://``),
jobs placed by ``scrapy schedule`` over ``SCRAPYD_URLS``.

1. Every fake source crawled with gated downloads on: every gated file is in the bucket exactly
   once (the store's own listing; each file fetched once from the file server), its bytes
   re-hashed against the record's checksum.
2. A node SIGKILLed (scrapyd and its job: the process group) mid-download, held at a stalling file
   server; ``scrapy download`` as the other node waits for the dead node's lease to expire, takes
   the record over and finishes it from the parts already in the store: nothing lost, nothing
   duplicated, checksums right.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envision_spiders.downloads.gate import record_gate
from envision_spiders.downloads.paths import record_dir_name, sanitize_relative_name
from envision_spiders.state.db import open_state
from tests.conftest import PROJECT_ROOT, blob, scrapy_command, scrapy_env
from tests.labels import label_for
from tests.servers.base import FakeAPI
from tests.servers.datacite import FakeDataCite
from tests.servers.dryad import FakeDryad
from tests.servers.figshare import FakeFigshare
from tests.servers.kaggle import FakeKaggle
from tests.servers.nei import FakeReporter
from tests.servers.nginx import NginxServer
from tests.servers.osf import FakeOSF
from tests.servers.s3 import S3Server
from tests.servers.scrapyd import PROJECT, ScrapydNode, build_egg, wait_finished
from tests.servers.stall_files import StallingFileServer
from tests.servers.zenodo import FakeZenodo
from tests.spiders.test_zenodo_download import pipelines

pytestmark = pytest.mark.slow

THRESHOLD = 0.80  # tests/labels.py: fundus 0.95 and slit-lamp 0.91 pass, the OCT titles (0.70) do not
SOURCES = ("datacite", "dryad", "figshare", "kaggle", "nei", "osf", "zenodo")


@pytest.fixture(scope="module")
def egg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_egg(tmp_path_factory.mktemp("egg") / "envision_spiders.egg")


@pytest.fixture(scope="module")
def label_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PYTHONPATH entry holding only ``tests`` (for tests.labels.TitleLabelPipeline, the
    classifier's stand-in): the jobs still run the project from the egg."""
    shim = tmp_path_factory.mktemp("shim")
    (shim / "tests").symlink_to(PROJECT_ROOT / "tests")
    return shim


def start_nodes(tmp_path: Path, egg: Path, shim: Path, env: dict[str, str]) -> list[ScrapydNode]:
    nodes: list[ScrapydNode] = []
    try:
        for name in ("node-a", "node-b"):
            home = tmp_path / name
            home.mkdir()
            node = ScrapydNode(home, max_proc=4, node_name=name,
                               env={"ENVISION_NODE_NAME": name, "PYTHONPATH": str(shim), **env}).start()
            nodes.append(node)
            node.deploy(egg, "r1")
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def schedule(nodes: list[ScrapydNode], data: Path, shared: dict[str, str], job: dict[str, Any],
             *spiders: str) -> dict[str, Any]:
    cmd = scrapy_command("schedule", "--json", *spiders, "-s", f"SCRAPYD_URLS={','.join(n.url for n in nodes)}",
                         "-s", f"ENVISION_DATA_DIR={data}", "-s", "SCRAPYD_RETRY_TIMES=0")
    for key, value in shared.items():
        cmd += ["-s", f"{key}={value}"]
    for key, value in job.items():
        cmd += ["--set", f"{key}={value}"]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return json.loads(proc.stdout)


def job_log(node: ScrapydNode, spider: str, job: str) -> str:
    path = node.home / "logs" / PROJECT / spider / f"{job}.log"
    return path.read_text() if path.exists() else ""


def stats_of(log: str) -> dict[str, Any]:
    """The final stats dump of a job's log (Scrapy prints them as a dict literal)."""
    import ast

    start = log.rfind("Dumping Scrapy stats:")
    assert start >= 0, log[-3000:]
    body = log[log.index("{", start):]
    depth = 0
    for n, char in enumerate(body):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return ast.literal_eval(body[: n + 1].replace("datetime.datetime", "").replace("tzinfo=datetime.timezone.utc", ""))
    raise AssertionError(log[-2000:])


def stored_records(s3: S3Server, bucket: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for key in s3.keys(bucket, "crawl/metadata/"):
        record = json.loads(s3.get(bucket, key))
        out[(record["source"], str(record["source_id"]))] = record
    return out


def is_gated(record: dict[str, Any]) -> bool:
    """The download gate on a stored record; its label must be the one tests/labels.py gives its title."""
    assert (record.get("label"), record.get("confidence")) == label_for(record.get("title") or ""), record
    return record_gate(record, THRESHOLD) is None


def md5_of(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def test_two_nodes_crawl_every_source_and_store_each_gated_file_once(
    egg: Path, label_shim: Path, postgres_database: str, s3_server: S3Server, nginx: NginxServer, tmp_path: Path
) -> None:
    nginx.reset_log()
    s3, bucket = s3_server, s3_server.bucket()
    zenodo_n = 12
    for i in range(1, zenodo_n + 1):  # every zenodo record lists real files nginx serves; the gate picks
        recid = 100000 + 2 * i
        for name, size in ((f"images/{i}-fundus.jpg", 30_000 + 997 * i), ("labels.csv", 200 + i)):
            nginx.put(f"e2e/records/{recid}/files/{name}", hashlib.sha256(f"{recid}/{name}".encode()).digest()
                      * (size // 32) + b"x" * (size % 32))
    fakes: dict[str, FakeAPI] = {
        "zenodo": FakeZenodo(n_records=zenodo_n, html_base=f"{nginx.origin}/e2e", files_root=nginx.root / "e2e"),
        "figshare": FakeFigshare(n_articles=10), "datacite": FakeDataCite(n_eye=6, n_other=2),
        "dryad": FakeDryad(n_eye=5, n_other=1), "osf": FakeOSF(n_eye=4, n_other=1, n_private=0),
        "kaggle": FakeKaggle(n_datasets=8), "nei": FakeReporter(n_projects=10),
    }
    for fake in fakes.values():
        fake.start()
    kaggle = fakes["kaggle"]
    assert isinstance(kaggle, FakeKaggle)
    nodes = start_nodes(tmp_path, egg, label_shim, {"KAGGLE_USERNAME": kaggle.username, "KAGGLE_KEY": kaggle.key})
    data = tmp_path / "data"
    shared = {"ENVISION_STATE_URL": postgres_database, "ENVISION_STORE_URL": f"s3://{bucket}/crawl",
              "FILES_STORE": f"s3://{bucket}/files", "AWS_ENDPOINT_URL": s3.endpoint}
    job = {
        "ZENODO_API_URL": f"{fakes['zenodo'].base_url}/api", "FIGSHARE_API_URL": f"{fakes['figshare'].base_url}/v2",
        "DATACITE_API_URL": fakes["datacite"].base_url, "DRYAD_API_URL": f"{fakes['dryad'].base_url}/api/v2",
        "OSF_API_URL": f"{fakes['osf'].base_url}/v2", "KAGGLE_API_URL": f"{kaggle.base_url}/api/v1",
        "NEI_API_URL": f"{fakes['nei'].base_url}/v2",
        **{k: v for k, v in s3.settings().items() if k != "AWS_ENDPOINT_URL"},
        "DOWNLOAD_DELAY": "0", "ITEM_PIPELINES": pipelines(), "ENVISION_DOWNLOAD": "True",
        "ENVISION_DOWNLOAD_THRESHOLD": str(THRESHOLD), "ENVISION_PROGRESS_INTERVAL": "0",
    }
    try:
        outcome = schedule(nodes, data, shared, job, *SOURCES)
        placed = outcome["jobs"]
        assert sorted(placed) == sorted(SOURCES), outcome
        by_node = {node.url: {e["jobid"]: s for s, e in placed.items() if e.get("node") == node.url} for node in nodes}
        assert all(by_node.values()), by_node  # both nodes got work
        for node in nodes:
            wait_finished(node.url, set(by_node[node.url]), timeout=300)
    finally:
        for node in nodes:
            node.stop()
        for fake in fakes.values():
            fake.stop()

    logs = {s: job_log(n, s, j) for n in nodes for j, s in by_node[n.url].items()}
    stats = {s: stats_of(log) for s, log in logs.items()}
    for spider in SOURCES:
        assert stats[spider]["finish_reason"] == "finished", (spider, logs[spider][-3000:])
        assert stats[spider].get("item_scraped_count", 0) > 0, (spider, logs[spider][-3000:])
        assert "Traceback" not in logs[spider], (spider, logs[spider][-3000:])

    records = stored_records(s3, bucket)
    assert {source for source, _ in records} == set(SOURCES)
    gated = {owner: rec for owner, rec in records.items() if is_gated(rec)}  # each gets a manifest, files or not
    assert sum(st.get("envision/download/records/gated", 0) for st in stats.values()) >= len(gated) > 0
    keys = s3.keys(bucket, "files/")
    expected: set[str] = set()
    verified: dict[str, int] = {}
    for (source, source_id), record in gated.items():
        folder = f"files/{record_dir_name(source, source_id)}"
        manifest = json.loads(s3.get(bucket, f"{folder}/manifest.json"))
        files = {f["name"]: f for f in manifest["files"]}
        expected.add(f"{folder}/manifest.json")
        for entry in record.get("files") or []:
            listed = files[entry["name"]]
            if listed["status"].startswith("skipped"):  # the gate's own reasons (restricted, link only...)
                continue
            if source != "zenodo":
                # the other fakes describe files by synthetic sizes and checksums and serve
                # placeholder bytes: verification must refuse them, and nothing may be stored
                assert listed["status"].startswith("failed: "), (source, source_id, listed)
                continue
            assert listed["status"] == "complete", (source, source_id, listed)
            key = f"{folder}/{sanitize_relative_name(entry['name'])}"
            body = s3.get(bucket, key)
            assert hashlib.sha256(body).hexdigest() == listed["sha256"]
            assert md5_of(body) == entry["checksum"] and len(body) == entry["size"], (key, entry)
            verified[source] = verified.get(source, 0) + 1
            expected.add(key)
    # every zenodo record nginx serves files for and the gate passes: fundus/slit-lamp, open
    assert {sid for source, sid in gated if source == "zenodo"} == {"100006", "100012", "100024"}
    assert verified == {"zenodo": 6}
    assert expected and set(keys) == expected  # nothing else in the bucket's downloads, nothing missing
    assert s3.uploads(bucket) == []  # no multipart upload left open
    # each zenodo file fetched once, by one node
    fetched = [r["uri"] for r in nginx.requests("/e2e/")]
    assert fetched and len(fetched) == len(set(fetched)), fetched
    downloaded = sum(st.get("envision/download/files/complete", 0) for st in stats.values())
    assert downloaded == len([k for k in expected if not k.endswith("manifest.json")])
    state = open_state(postgres_database, data)
    try:
        assert [lease for lease in state.leases("download") if not lease["done"]] == []
        assert {run["spider"] for run in state.runs()} == set(SOURCES)
    finally:
        state.close()


def put_zenodo_files(server: StallingFileServer, root: Path, recid: int, files: dict[str, bytes]) -> None:
    """Files the fake Zenodo lists (size, md5 from ``root``) and the stalling server serves."""
    for name, body in files.items():
        path = root / "records" / str(recid) / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        server.put(f"kill/records/{recid}/files/{name}", body)


KB, MB = 1024, 1024 * 1024


def test_node_killed_mid_download_is_taken_over_by_the_other_node(
    egg: Path, label_shim: Path, postgres_database: str, s3_server: S3Server, tmp_path: Path
) -> None:
    """Node A crawls zenodo; its one gated record's big file goes up to the store as a multipart
    upload in 5 MiB ranges; the file server answers the small file and two ranges and holds the
    third; node A is SIGKILLed there (scrapyd and the job). ``scrapy download`` as node B finds
    the record's lease held by node-a, waits, takes it over once the lease has expired (nobody
    renews it) and finishes the file, reusing the parts A uploaded: the objects verify, each is
    in the bucket once, no upload is left open."""
    s3, bucket = s3_server, s3_server.bucket()
    files_root = tmp_path / "zenodo-files"
    recid = 100000 + 2 * 3  # record 3: a slit-lamp title, open (tests/labels.py); 1 and 2 are not gated
    big = blob(2 * 5 * MB + 123_457, "killed")  # three ranges of 5 MiB (the store's smallest part)
    small = blob(40 * KB, "small")
    data = tmp_path / "data"
    shared = {"ENVISION_STATE_URL": postgres_database, "ENVISION_STORE_URL": f"s3://{bucket}/crawl",
              "FILES_STORE": f"s3://{bucket}/files", "AWS_ENDPOINT_URL": s3.endpoint}
    # a lease long enough to be live when node B starts, short enough to keep the test quick
    chunks = {"ENVISION_DOWNLOAD_CHUNK_SIZE": str(5 * MB), "ENVISION_DOWNLOAD_CHUNK_THRESHOLD": str(MB),
              "ENVISION_DOWNLOAD_RANGES_IN_FLIGHT": "1", "ENVISION_LEASE_SECONDS": "15"}
    with StallingFileServer() as files, FakeZenodo(
        n_records=3, html_base=f"{files.base_url}/files/kill", files_root=files_root
    ) as zenodo:
        put_zenodo_files(files, files_root, recid, {"images/3-slitlamp.bin": big, "labels.csv": small})
        nodes = start_nodes(tmp_path, egg, label_shim, {})
        a = nodes[0]
        try:
            files.stall_after(3)  # labels.csv whole and two ranges of the big file; the third waits
            job = {"ZENODO_API_URL": f"{zenodo.base_url}/api",
                   **{k: v for k, v in s3.settings().items() if k != "AWS_ENDPOINT_URL"},
                   "DOWNLOAD_DELAY": "0", "ITEM_PIPELINES": pipelines(), "ENVISION_DOWNLOAD": "True",
                   "ENVISION_DOWNLOAD_THRESHOLD": str(THRESHOLD), "ENVISION_PROGRESS_INTERVAL": "0",
                   "ENVISION_INSPECT_ENABLED": "False", **chunks}  # only the downloads reach the file server
            outcome = schedule([a], data, shared, job, "zenodo")
            assert outcome["jobs"]["zenodo"]["node"] == a.url
            assert files.stalled.wait(120), job_log(a, "zenodo", outcome["jobs"]["zenodo"]["jobid"])[-3000:]
            a.kill()  # mid-download: two parts uploaded, the third range in flight
            files.resume(drop=True)
            first = [(s.name, s.range) for s in files.served]
            assert len(first) == 3 and sum(name.endswith("labels.csv") for name, _ in first) == 1, first
            state = open_state(postgres_database, data)
            held = [le for le in state.leases("download") if not le["done"]]
            assert [(le["key"], le["holder"].split(":")[0]) for le in held] == [(f"zenodo:{recid}", "node-a")]
            assert len(s3.uploads(bucket)) == 1  # the killed node's multipart upload, open
            assert not [k for k in s3.keys(bucket, "files/") if k.endswith(".bin")]

            # node B: `scrapy download` with the node's name in its environment
            cmd = scrapy_command("download", "-s", f"ENVISION_DATA_DIR={data}", "-s", "LOG_LEVEL=INFO",
                                 "-s", "ENVISION_DOWNLOAD_TAKEOVER_WAIT=60", "-s", "ENVISION_DOWNLOAD_TAKEOVER_POLL=0.5",
                                 "-s", f"ENVISION_DOWNLOAD_THRESHOLD={THRESHOLD}", "-s", "DOWNLOAD_DELAY=0")
            for key, value in {**shared, **s3.settings(), **chunks}.items():
                cmd += ["-s", f"{key}={value}"]
            proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=scrapy_env({"ENVISION_NODE_NAME": "node-b"}),
                                  capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, proc.stderr[-4000:]
            stats = json.loads(proc.stdout.strip().splitlines()[-1])["download"]
            assert stats["takeover/waiting"] == 1 and stats["takeover/taken"] == 1, (stats, proc.stderr[-3000:])
            assert stats["records/complete"] == 1 and "files/failed" not in stats, stats
            assert stats["parts_reused"] == 2 and stats["parts_uploaded"] == 1, stats  # A's parts kept
            assert [le for le in state.leases("download") if not le["done"]] == []
            state.close()
        finally:
            for node in nodes:
                node.stop()

    second = [(s.name, s.range) for s in files.served][3:]
    big_ranges = [r for name, r in second if name.endswith(".bin")]
    assert len(big_ranges) == len(set(big_ranges)) == 3, second  # each range once (hashed again for the check)
    folder = f"files/zenodo/{recid}"
    assert s3.keys(bucket, "files/") == [f"{folder}/images/3-slitlamp.bin", f"{folder}/labels.csv",
                                         f"{folder}/manifest.json"]
    assert s3.sha256(bucket, f"{folder}/images/3-slitlamp.bin") == hashlib.sha256(big).hexdigest()
    assert s3.sha256(bucket, f"{folder}/labels.csv") == hashlib.sha256(small).hexdigest()
    manifest = json.loads(s3.get(bucket, f"{folder}/manifest.json"))
    assert manifest["status"] == "complete"
    assert {f["name"]: f["status"] for f in manifest["files"]} == {"images/3-slitlamp.bin": "complete",
                                                                  "labels.csv": "complete"}
    assert s3.uploads(bucket) == []

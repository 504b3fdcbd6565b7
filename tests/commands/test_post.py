"""``scrapy post`` against a local fake portal: token, batches, retries, idempotency, crash recovery."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import attrs
import pytest

from envision_spiders.items import DatasetRecord
from envision_spiders.jsoncodec import write_json_atomic
from envision_spiders.state.store import record_path
from tests.conftest import PROJECT_ROOT, scrapy_command, scrapy_env
from tests.servers.base import Reply
from tests.servers.portal_receiver import FakePortal


@pytest.fixture
def portal():
    server = FakePortal()
    server.start()
    yield server
    server.release()
    server.stop()


def store(data_dir: Path, source: str, n: int, **fields) -> list[tuple[str, str]]:
    owners = []
    for i in range(1, n + 1):
        record = DatasetRecord(source=source, source_id=str(i), title=f"{source} dataset {i}",
                               doi=f"10.1234/{source}.{i}", scraped_at="2026-01-01T00:00:00+00:00", **fields)
        write_json_atomic(record_path(data_dir, source, str(i)), attrs.asdict(record))
        owners.append((source, str(i)))
    return owners


def post_command(portal: FakePortal, data_dir: Path, *args: str, token: str | None = None, **settings: str) -> list[str]:
    cmd = scrapy_command("post", "--json", "-s", f"ENVISION_DATA_DIR={data_dir}", "-s", "PORTAL_RETRY_BASE_DELAY=0.05",
                         *args)
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    return cmd


def post_env(portal: FakePortal, token: str | None = None) -> dict[str, str]:
    return scrapy_env({"PORTAL_URL": portal.url, "PORTAL_TOKEN": token or portal.token})


def post(portal: FakePortal, data_dir: Path, *args: str, token: str | None = None, **settings: str):
    proc = subprocess.run(post_command(portal, data_dir, *args, **settings), cwd=PROJECT_ROOT,
                          env=post_env(portal, token), capture_output=True, text=True, timeout=120)
    out = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    return proc, out


def test_batches_with_a_failure_and_a_dropped_connection_arrive_exactly_once(portal, tmp_path):
    data = tmp_path / "data"
    owners = store(data, "zenodo", 23) + store(data, "figshare", 12)
    portal.fault("batch", 2, Reply.json({"error": "db restarting"}, 500))
    portal.fault("batch", 4, Reply(drop=True))
    proc, out = post(portal, data, "-s", "PORTAL_BATCH_SIZE=10")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out["batches"] == 4 and out["records"] == 35 and out["acknowledged"] == 35 and out["rejected"] == {}
    assert set(portal.records) == set(owners)
    assert all(portal.deliveries[o] == 1 for o in owners)
    statuses = [c.status for c in portal.calls_to("batch")]
    assert statuses == [200, 500, 200, 0, 200, 200]  # 0: the dropped connection, never answered
    sizes = [len(p["records"]) for p in portal.payloads()]
    assert sizes == [10, 10, 10, 10, 10, 5]
    # the retried batch is the same batch, with the same idempotency key
    calls = portal.calls_to("batch")
    assert calls[1].headers["Idempotency-Key"] == calls[2].headers["Idempotency-Key"]
    assert all(c.headers["Authorization"] == f"Bearer {portal.token}" for c in calls)
    assert portal.token not in proc.stdout + proc.stderr
    assert "retrying in" in proc.stderr
    # a second run sends nothing
    again, out2 = post(portal, data)
    assert again.returncode == 0 and out2["batches"] == 0 and out2["records"] == 0
    assert len(portal.calls_to("batch")) == 6


def test_only_new_and_changed_records_are_sent_and_superseded_ones_retired(portal, tmp_path):
    data = tmp_path / "data"
    store(data, "zenodo", 5)
    assert post(portal, data)[0].returncode == 0
    # re-stored unchanged (only scraped_at moves): not a change
    path = record_path(data, "zenodo", "1")
    record = json.loads(path.read_text())
    write_json_atomic(path, {**record, "scraped_at": "2026-02-02T00:00:00+00:00"})
    # classified: a change
    path2 = record_path(data, "zenodo", "2")
    write_json_atomic(path2, {**json.loads(path2.read_text()), "label": "EYE_IMAGING", "confidence": 0.97})
    # dedup found record 3 to be a copy of another one
    path3 = record_path(data, "zenodo", "3")
    write_json_atomic(path3, {**json.loads(path3.read_text()), "duplicate_of": "dryad:abc"})
    store(data, "dryad", 1)
    dry, planned = post(portal, data, "--dry-run")
    assert dry.returncode == 0 and planned == {**planned, "records": 2, "superseded": 1, "dry_run": True}
    proc, out = post(portal, data)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out["records"] == 2 and out["superseded"] == 1
    last = portal.payloads()[-1]
    assert {(r["source"], r["source_id"]) for r in last["records"]} == {("zenodo", "2"), ("dryad", "1")}
    assert last["superseded"][0]["duplicate_of"] == "dryad:abc"
    assert portal.records[("zenodo", "2")]["label"] == "EYE_IMAGING"
    assert ("zenodo", "3") not in portal.records and portal.retired[("zenodo", "3")] == "dryad:abc"
    assert post(portal, data)[1]["batches"] == 0


def test_a_crash_mid_run_resends_only_what_was_not_acknowledged(portal, tmp_path):
    data = tmp_path / "data"
    owners = store(data, "zenodo", 30)
    portal.hold_batch(3)  # batch 3 is applied by the portal, then the client dies before the answer
    proc = subprocess.Popen(post_command(portal, data, "-s", "PORTAL_BATCH_SIZE=5"), cwd=PROJECT_ROOT,
                            env=post_env(portal), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert portal.held.wait(60), "the third batch never arrived"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    portal.release()
    rerun, out = post(portal, data, "-s", "PORTAL_BATCH_SIZE=5")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    # batches 1-2 were acknowledged before the crash: not sent again; batch 3 is re-sent with the
    # same idempotency key (the portal had applied it, so it is not applied twice), then 4-6
    assert out["batches"] == 4 and out["records"] == 20
    keys = [c.headers["Idempotency-Key"] for c in portal.calls_to("batch")]
    assert len(keys) == 7 and keys[2] == keys[3] and len(set(keys)) == 6
    assert set(portal.records) == set(owners)
    assert all(portal.deliveries[o] == 1 for o in owners)


def test_wrong_token_stops_at_once_and_acknowledges_nothing(portal, tmp_path):
    data = tmp_path / "data"
    store(data, "zenodo", 3)
    proc, out = post(portal, data, token="not-the-token")
    assert proc.returncode == 1
    assert "HTTP 401 (check PORTAL_TOKEN)" in out["error"]
    assert "not-the-token" not in proc.stdout + proc.stderr
    assert len(portal.calls_to("batch")) == 1  # not retried
    ok, out2 = post(portal, data)
    assert ok.returncode == 0 and out2["acknowledged"] == 3


def test_rejected_records_are_not_acknowledged_and_fail_the_run(portal, tmp_path):
    data = tmp_path / "data"
    store(data, "zenodo", 4)
    portal.reject = {("zenodo", "2")}
    proc, out = post(portal, data)
    assert proc.returncode == 1 and out["acknowledged"] == 3 and list(out["rejected"]) == ["zenodo:2"]
    portal.reject = set()
    proc2, out2 = post(portal, data)
    assert proc2.returncode == 0 and out2["records"] == 1


def test_missing_url_or_token_is_a_clear_error(tmp_path):
    env = scrapy_env({"PORTAL_URL": "", "PORTAL_TOKEN": ""})
    proc = subprocess.run(scrapy_command("post", "-s", f"ENVISION_DATA_DIR={tmp_path}"), cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no portal URL" in proc.stderr
    env["PORTAL_URL"] = "http://127.0.0.1:9/api"
    proc = subprocess.run(scrapy_command("post", "-s", f"ENVISION_DATA_DIR={tmp_path}"), cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "PORTAL_TOKEN is not set" in proc.stdout


@pytest.mark.parametrize("status", [301, 302, 303, 307])
def test_a_redirected_post_acknowledges_nothing(portal, tmp_path, status):
    data = tmp_path / "data"
    owners = store(data, "zenodo", 3)
    status_url = f"{portal.base_url}/api/v1/datasets/status"
    portal.fault("batch", 1, Reply.json({"moved": True}, status, {"Location": status_url}))
    proc, out = post(portal, data)
    assert proc.returncode == 1
    assert f"HTTP {status}" in out["error"] and "not followed" in out["error"]
    assert out["acknowledged"] == 0
    assert portal.calls_to("status") == []  # the redirect was not followed (no GET with the token)
    assert len(portal.calls_to("batch")) == 1  # and not retried
    # nothing was acknowledged: the next run sends everything, under the unacknowledged batch's key
    ok, out2 = post(portal, data)
    assert ok.returncode == 0 and out2["acknowledged"] == 3
    assert set(portal.records) == set(owners)
    keys = [c.headers["Idempotency-Key"] for c in portal.calls_to("batch")]
    assert keys[0] == keys[1]


def test_a_record_that_changes_and_changes_back_reaches_the_portal_each_time(portal, tmp_path):
    data = tmp_path / "data"
    store(data, "zenodo", 1)
    path = record_path(data, "zenodo", "1")
    original = json.loads(path.read_text())
    assert post(portal, data)[0].returncode == 0
    write_json_atomic(path, {**original, "label": "EYE_IMAGING"})
    assert post(portal, data)[1]["acknowledged"] == 1
    assert portal.records[("zenodo", "1")]["label"] == "EYE_IMAGING"
    write_json_atomic(path, original)  # back to what the portal had the first time
    proc, out = post(portal, data)
    assert proc.returncode == 0 and out["acknowledged"] == 1
    assert portal.records[("zenodo", "1")]["label"] is None  # applied, not dropped as a replay
    assert portal.deliveries[("zenodo", "1")] == 3
    keys = [c.headers["Idempotency-Key"] for c in portal.calls_to("batch")]
    assert len(keys) == len(set(keys)) == 3

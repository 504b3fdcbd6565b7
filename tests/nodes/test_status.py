"""The status view and its table, from hand-built node answers (no scrapyd)."""

from __future__ import annotations

from envision_spiders.nodes.scrapyd import Node
from envision_spiders.nodes.status import last_runs, node_entry, render_table, status_view


def view():
    a = Node("http://a:6800", answering=True, node_name="node-a", running=1, pending=1, finished=4, jobs={
        "running": [{"spider": "zenodo", "id": "j1", "start_time": "2026-12-05 03:00:00", "pid": 7,
                     "log_url": "/logs/p/zenodo/j1.log"}],
        "pending": [{"spider": "osf", "id": "j2"}], "finished": []})
    b = Node("http://b:6800", error="GET http://b:6800/daemonstatus.json failed: Connection refused")
    progress = {("http://a:6800", "j1"): {"line": "…", "processed": 610, "expected": 1840, "eta": "6m40s"}}
    runs = [
        {"spider": "zenodo", "job": "j0", "started_at": "2026-11-28", "finished_at": "2026-11-28", "items": 3,
         "finish_reason": "finished", "errors": 0, "clean": True, "run_id": "r0"},
        {"spider": "nei", "job": None, "started_at": "2026-11-29", "finished_at": None, "items": None,
         "finish_reason": None, "errors": None, "clean": False, "run_id": "r1"},
        {"spider": "zenodo", "job": "j1", "started_at": "2026-12-05", "finished_at": None, "items": None,
         "finish_reason": None, "errors": None, "clean": False, "run_id": "r2"},
    ]
    claims = {"download": {"held": [{"key": "zenodo:1", "holder": "node-a:9", "expires_in": 41.2},
                                    {"key": "zenodo:7", "holder": "node-b:3", "expires_in": -95.0}], "done": 1204}}
    return status_view("p", [node_entry(a, progress), node_entry(b, progress)], claims, last_runs(runs))


def test_the_view_keeps_each_nodes_counts_jobs_and_the_latest_run_per_spider():
    v = view()
    assert v["answering"] == 1
    a, b = v["nodes"]
    assert (a["running"], a["pending"], a["finished"], a["node_name"]) == (1, 1, 4, "node-a")
    assert a["running_jobs"] == [{"spider": "zenodo", "id": "j1", "start_time": "2026-12-05 03:00:00", "pid": 7,
                                  "progress": {"line": "…", "processed": 610, "expected": 1840, "eta": "6m40s"}}]
    assert a["pending_jobs"] == [{"spider": "osf", "id": "j2"}]
    assert not b["answering"] and "refused" in b["error"] and b["running_jobs"] == []
    assert list(v["last_runs"]) == ["nei", "zenodo"] and v["last_runs"]["zenodo"]["job"] == "j1"


def test_the_table_shows_progress_claims_and_the_silent_node():
    text = render_table(view())
    assert "Nodes (1 of 2 answering)" in text
    assert "NO: GET http://b:6800/daemonstatus.json failed: Connection refused" in text
    zenodo_row = next(row for row in text.splitlines() if row.startswith("http://a:6800  zenodo"))
    assert "j1" in zenodo_row and zenodo_row.endswith("610/1,840 ETA 6m40s")
    assert "Pending jobs (1)" in text and "Claims (2 held; done: download 1,204)" in text
    rows = [row.split() for row in text.splitlines()]
    assert ["download", "node-a:9", "zenodo:1", "in", "41s"] in rows
    assert ["download", "node-b:3", "zenodo:7", "expired", "1m35s", "ago"] in rows
    empty = render_table(status_view("p", [], {}, {}))
    assert "Claims: none" in empty

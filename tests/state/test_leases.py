"""Work leases on both state backends: one holder at a time, expiry and dead-process takeover,
concurrent takers handed disjoint keys."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import threading

import pytest

from envision_spiders.state.db import holder_name, open_state
from envision_spiders.state.leases import LeaseKeeper


@pytest.fixture
def state(tmp_path, state_url):
    state = open_state(state_url, tmp_path / "data")
    yield state
    state.close()


def test_a_lease_has_one_holder_until_released(state):
    assert state.take_lease("download", "zenodo:1", "node-a:100", 60)
    assert not state.take_lease("download", "zenodo:1", "node-b:200", 60)
    assert state.take_lease("download", "zenodo:1", "node-a:100", 60)  # its own: extended
    assert state.renew_lease("download", "zenodo:1", "node-a:100", 60)
    assert not state.renew_lease("download", "zenodo:1", "node-b:200", 60)
    state.release_lease("download", "zenodo:1", "node-b:200")  # not its lease: nothing happens
    assert [(row["key"], row["holder"]) for row in state.leases("download")] == [("zenodo:1", "node-a:100")]
    state.release_lease("download", "zenodo:1", "node-a:100")
    assert state.take_lease("download", "zenodo:1", "node-b:200", 60)
    assert state.take_lease("inspect", "zenodo:1", "node-a:100", 60)  # kinds are separate


def test_an_expired_lease_is_taken_over_and_its_old_holder_learns_it_lost_it(state):
    assert state.take_lease("download", "zenodo:1", "node-a:100", 0)  # expires at once
    assert state.take_lease("download", "zenodo:1", "node-b:200", 60)
    assert not state.renew_lease("download", "zenodo:1", "node-a:100", 60)
    [row] = state.leases()
    assert row["holder"] == "node-b:200" and row["expires_in"] > 50


def test_a_lease_released_as_done_is_never_taken_again(state):
    assert state.take_lease("download", "zenodo:1", "node-a:100", 60)
    state.release_lease("download", "zenodo:1", "node-a:100", done=True)
    assert not state.take_lease("download", "zenodo:1", "node-b:200", 60)
    assert state.take_leases("download", ["zenodo:1", "zenodo:2"], "node-b:200", 60, 10) == ["zenodo:2"]
    assert [row["done"] for row in state.leases()] == [True, False]


def test_a_dead_process_on_this_host_loses_its_lease_at_once_a_remote_one_does_not(state, state_url, tmp_path):
    here = holder_name("node-a")
    child = subprocess.run(
        [sys.executable, "-c",
         "import sys; from envision_spiders.state.db import holder_name, open_state;"
         "s = open_state(sys.argv[1], sys.argv[2]);"
         "assert s.take_lease('download', 'zenodo:1', holder_name('node-a'), 3600);"
         "assert s.take_lease('download', 'zenodo:2', holder_name('node-a'), 3600);"
         "print(holder_name('node-a'))",
         state_url, str(tmp_path / "data")],
        capture_output=True, text=True, check=True,
    )
    dead = child.stdout.strip()
    assert dead.startswith("node-a:") and dead != here
    assert state.take_lease("download", "zenodo:1", here, 60)  # its holder's pid is gone: no wait
    assert state.take_leases("download", ["zenodo:2"], here, 60, 5) == ["zenodo:2"]
    # the same dead pid under another node's name may be alive there: wait for expiry
    assert not state.take_lease("download", "zenodo:2", dead.replace("node-a:", "node-b:"), 60)
    assert state.take_lease("download", "zenodo:3", dead.replace("node-a:", "node-b:"), 3600)
    assert not state.take_lease("download", "zenodo:3", here, 60)


def _taker(url: str, data: str, name: str, keys: list[str], barrier, out) -> None:
    state = open_state(url, data, timeout=30)
    holder = holder_name(name)
    barrier.wait()
    mine: list[str] = []
    while batch := state.take_leases("download", keys, holder, 60, 7):
        mine += batch
        for key in batch:
            state.release_lease("download", key, holder, done=True)
    state.close()
    out.put((name, mine))


def test_concurrent_takers_get_disjoint_keys_and_together_all_of_them(tmp_path, state_url):
    data = str(tmp_path / "data")
    open_state(state_url, data).close()
    keys = [f"zenodo:{n:03d}" for n in range(200)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_taker, args=(state_url, data, f"node-{n}", keys, barrier, out)) for n in range(3)]
    for proc in procs:
        proc.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    taken = [key for mine in results.values() for key in mine]
    assert sorted(taken) == keys  # every key once: none twice, none lost


def test_skip_locked_hands_out_other_keys_while_one_is_being_decided(postgres_database, tmp_path):
    """PostgreSQL: keys another transaction has locked are skipped, not waited for."""
    import psycopg

    state = open_state(postgres_database, tmp_path, timeout=30)
    keys = [f"k{n}" for n in range(10)]
    assert state.take_leases("download", keys, "node-a:1", 0, 10) == keys  # all expired at once: free again
    other = psycopg.connect(postgres_database)
    try:
        # another taker in the middle of deciding on k0..k4
        other.execute("SELECT key FROM leases WHERE key = ANY(%s) FOR UPDATE", (keys[:5],)).fetchall()
        got: list[str] = []
        worker = threading.Thread(target=lambda: got.extend(state.take_leases("download", keys, "node-b:2", 60, 3)))
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "take_leases waited for rows another transaction locked"
        assert got == ["k5", "k6", "k7"]
    finally:
        other.rollback()
        other.close()
        state.close()


def test_the_keeper_renews_what_it_holds_and_reports_what_it_lost(state):
    class Stats(dict):
        def inc_value(self, key, count=1):
            self[key] = self.get(key, 0) + count

    stats = Stats()
    keeper = LeaseKeeper(state, "node-a:100", 60, stats)
    try:
        assert keeper.take("download", "zenodo:1") and keeper.take("download", "zenodo:2")
        assert not LeaseKeeper(state, "node-b:200", 60, stats).take("download", "zenodo:1")
        state.take_lease("download", "zenodo:2", "node-a:100", 0)  # let zenodo:2 expire ...
        assert state.take_lease("download", "zenodo:2", "node-b:200", 60)  # ... and be taken over
        keeper.renew()
        assert keeper.held == {("download", "zenodo:1")}
        assert keeper.lost("download", "zenodo:2") and not keeper.lost("download", "zenodo:1")
        keeper.release("download", "zenodo:1")
        assert state.take_lease("download", "zenodo:1", "node-b:200", 60)
    finally:
        keeper.release_all()
    assert stats == {
        "envision/lease/taken/download": 2, "envision/lease/busy/download": 1, "envision/lease/renewed/download": 1,
        "envision/lease/lost/download": 1, "envision/lease/released/download": 1,
    }

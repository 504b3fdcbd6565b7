from __future__ import annotations

import os

import pytest

from envision_spiders.nodes.leases import SCHEDULE_KIND, ScheduleLeases, claims
from envision_spiders.state.db import open_state


@pytest.fixture
def state(tmp_path):
    state = open_state(None, tmp_path)
    yield state
    state.close()


def holder_of(state, kind: str, key: str) -> str | None:
    return next((row["holder"] for row in state.leases(kind) if row["key"] == key and not row["done"]), None)


def test_two_schedule_runs_never_hold_one_spider_at_once(state):
    first, second = ScheduleLeases(state, 60, "cron-a:11"), ScheduleLeases(state, 60, "cron-b:12")
    assert first.enabled and first.holder != second.holder
    assert first.take("zenodo") and not second.take("zenodo") and second.take("osf")
    assert holder_of(state, SCHEDULE_KIND, "zenodo") == first.holder
    first.release_all()
    assert holder_of(state, SCHEDULE_KIND, "zenodo") is None and first.held == []
    assert second.take("zenodo")  # free once the first run gave it back


def test_with_zero_seconds_the_guard_is_off_and_every_spider_may_be_placed(state):
    leases = ScheduleLeases(state, 0)
    assert not leases.enabled and leases.take("zenodo") and leases.take("zenodo")
    assert state.leases() == []


def test_claims_list_held_leases_by_kind_and_count_done_ones(state):
    state.take_lease("download", "zenodo:2", "node-b:7", 60)
    state.take_lease("download", "zenodo:1", "node-a:9", 60)
    state.take_lease("download", "zenodo:0", "node-a:9", 60)
    state.release_lease("download", "zenodo:0", "node-a:9", done=True)
    state.take_lease("schedule", "osf", "cron:5", 60)
    grouped = claims(state)
    assert list(grouped) == ["download", "schedule"]
    assert [r["key"] for r in grouped["download"]["held"]] == ["zenodo:1", "zenodo:2"]  # by holder, then key
    assert grouped["download"]["done"] == 1
    (osf,) = grouped["schedule"]["held"]
    assert osf["key"] == "osf" and osf["holder"] == "cron:5" and 0 < osf["expires_in"] <= 60


def test_the_holder_is_node_and_pid(state):
    host, _, pid = ScheduleLeases(state, 60).holder.rpartition(":")
    assert host and pid == str(os.getpid())

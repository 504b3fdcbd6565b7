from __future__ import annotations

import os
from collections import namedtuple

from envision_spiders.nodes.leases import SCHEDULE_KIND, ScheduleLeases, claims


class LeasingState:
    """A state object with the lease methods of the shared state (in memory, no expiry)."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], str] = {}
        self.released: list[tuple[str, str, str]] = []

    def take_lease(self, kind: str, key: str, holder: str, seconds: float) -> bool:
        return self.held.setdefault((kind, key), holder) == holder

    def release_lease(self, kind: str, key: str, holder: str, done: bool = False) -> None:
        if self.held.get((kind, key)) == holder:
            del self.held[(kind, key)]
            self.released.append((kind, key, holder))

    def leases(self, kind: str | None = None) -> list[dict]:
        return [{"kind": k, "key": key, "holder": h, "expires_at": "2026-12-05T03:00:00+00:00"}
                for (k, key), h in self.held.items() if kind in (None, k)]


def test_two_schedule_runs_never_hold_one_spider_at_once():
    state = LeasingState()
    first, second = ScheduleLeases(state, 60, "cron-a:11"), ScheduleLeases(state, 60, "cron-b:12")
    assert first.enabled and first.holder != second.holder
    assert first.take("zenodo") and not second.take("zenodo") and second.take("osf")
    assert state.held[(SCHEDULE_KIND, "zenodo")] == first.holder
    first.release_all()
    assert (SCHEDULE_KIND, "zenodo") not in state.held and first.held == []
    assert second.take("zenodo")  # free once the first run gave it back


def test_without_lease_methods_every_spider_may_be_placed():
    leases = ScheduleLeases(object(), 60)
    assert not leases.enabled and leases.take("zenodo") and leases.take("zenodo")
    leases.release_all()
    assert not ScheduleLeases(LeasingState(), 0).enabled  # 0 seconds: the guard is off


def test_claims_list_held_leases_by_kind_and_count_done_ones_whatever_their_row_type():
    state = LeasingState()
    state.take_lease("download", "zenodo:2", "node-b:7", 60)
    state.take_lease("download", "zenodo:1", "node-a:9", 60)
    state.take_lease("schedule", "osf", "cron:5", 60)
    rows = state.leases()
    rows.append({"kind": "download", "key": "zenodo:0", "holder": "node-a:9", "expires_in": -3.0, "done": True})
    state.leases = lambda kind=None: rows
    grouped = claims(state)
    assert list(grouped) == ["download", "schedule"]
    assert [r["key"] for r in grouped["download"]["held"]] == ["zenodo:1", "zenodo:2"]  # by holder, then key
    assert grouped["download"]["done"] == 1
    assert grouped["schedule"] == {"held": [{"key": "osf", "holder": "cron:5",
                                             "expires_at": "2026-12-05T03:00:00+00:00"}], "done": 0}

    Lease = namedtuple("Lease", "kind key holder expires_in done")
    state.leases = lambda kind=None: [Lease("download", "nei:1", "h:1", 12.5, False)]
    assert claims(state) == {"download": {"held": [{"key": "nei:1", "holder": "h:1", "expires_in": 12.5}], "done": 0}}
    assert claims(object()) is None


def test_the_holder_is_node_and_pid():
    host, _, pid = ScheduleLeases(object(), 60).holder.rpartition(":")
    assert host and pid == str(os.getpid())

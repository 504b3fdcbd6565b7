from __future__ import annotations

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
    first, second = ScheduleLeases(state, 60), ScheduleLeases(state, 60)
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


def test_claims_group_the_leases_by_kind_whatever_their_row_type():
    state = LeasingState()
    state.take_lease("download", "zenodo:2", "node-b", 60)
    state.take_lease("download", "zenodo:1", "node-a", 60)
    state.take_lease("schedule", "osf", "schedule@host", 60)
    grouped = claims(state)
    assert list(grouped) == ["download", "schedule"]
    assert [r["key"] for r in grouped["download"]] == ["zenodo:1", "zenodo:2"]
    assert grouped["schedule"] == [{"key": "osf", "holder": "schedule@host", "expires_at": "2026-12-05T03:00:00+00:00"}]

    Lease = namedtuple("Lease", "kind key holder expires_at")
    state.leases = lambda kind=None: [Lease("download", "nei:1", "h", 1.5)]
    assert claims(state) == {"download": [{"key": "nei:1", "holder": "h", "expires_at": 1.5}]}
    assert claims(object()) is None

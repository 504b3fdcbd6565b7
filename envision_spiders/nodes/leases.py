"""Leases in the shared state as the node commands use them.

``scrapy schedule`` holds a short ``schedule`` lease per spider (key: the spider's name) while it
checks the nodes and posts the job, so two runs at once never both start one spider (the state's
``take_lease`` / ``release_lease``, on either backend; ``leases()`` feeds the status view).
``ENVISION_SCHEDULE_LEASE_SECONDS`` = 0 turns the guard off: then only the nodes' listjobs protect
a spider (enough for one scheduler at a time, e.g. one cron entry).
"""

from __future__ import annotations

from typing import Any

from envision_spiders.state.base import StateDB, holder_name

SCHEDULE_KIND = "schedule"


class ScheduleLeases:
    """The ``schedule`` leases one ``scrapy schedule`` run takes and gives back."""

    def __init__(self, state: StateDB, seconds: float, holder: str | None = None) -> None:
        self.state = state
        self.enabled = seconds > 0
        self.seconds = seconds
        self.holder = holder or holder_name()
        self.held: list[str] = []

    def take(self, spider: str) -> bool:
        """True when this run may place ``spider`` (always, when leases are off)."""
        if not self.enabled:
            return True
        if self.state.take_lease(SCHEDULE_KIND, spider, self.holder, self.seconds):
            self.held.append(spider)
            return True
        return False

    def release_all(self) -> None:
        # once schedule.json has answered, the job is in the node's queue (listjobs shows it),
        # which guards the spider from then on: the lease is given back, not left to expire
        while self.held:
            self.state.release_lease(SCHEDULE_KIND, self.held.pop(), self.holder)


def claims(state: StateDB) -> dict[str, dict[str, Any]]:
    """Per kind, the leases held now (``held``: key, holder, expiry as the state gives it —
    ``expires_in`` seconds, negative once expired and not yet taken over) and how many are
    ``done`` (finished work, never taken again: counted, not listed)."""
    grouped: dict[str, dict[str, Any]] = {}
    for lease in state.leases():
        row = dict(lease)
        kind = grouped.setdefault(str(row.pop("kind", "?")), {"held": [], "done": 0})
        if row.pop("done", False):
            kind["done"] += 1
        else:
            kind["held"].append(row)
    for kind in grouped.values():
        kind["held"].sort(key=lambda r: (str(r.get("holder")), str(r.get("key"))))
    return dict(sorted(grouped.items()))

"""Leases in the shared state as the node commands use them.

``scrapy schedule`` holds a short ``schedule`` lease per spider (key: the spider's name) while it
checks the nodes and posts the job, so two runs at once never both start one spider. The guard
is on when the state object has leases (``take_lease`` / ``release_lease``; ``leases()`` feeds
the status view); with a state without them only the nodes' listjobs protect a spider (enough
for one scheduler at a time, e.g. one cron entry).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

SCHEDULE_KIND = "schedule"


def holder_id(node: str | None = None) -> str:
    """This process as a lease holder, ``node:pid`` (node: the host name by default), the shape
    the shared state reads to take over the leases of a dead process on its own host."""
    return f"{node or socket.gethostname()}:{os.getpid()}"


def has_leases(state: Any) -> bool:
    return callable(getattr(state, "take_lease", None)) and callable(getattr(state, "release_lease", None))


class ScheduleLeases:
    """The ``schedule`` leases one ``scrapy schedule`` run takes and gives back."""

    def __init__(self, state: Any, seconds: float, holder: str | None = None) -> None:
        self.state = state
        self.enabled = has_leases(state) and seconds > 0
        self.seconds = seconds
        self.holder = holder or holder_id()
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


def _row(lease: Any) -> dict[str, Any]:
    if isinstance(lease, Mapping):
        row = dict(lease)
    elif hasattr(lease, "_asdict"):
        row = dict(lease._asdict())
    else:
        row = {k: v for k, v in vars(lease).items() if not k.startswith("_")}
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in row.items()}


def claims(state: Any) -> dict[str, dict[str, Any]] | None:
    """Per kind, the leases held now (``held``: key, holder, expiry as the state gives it —
    ``expires_in`` seconds, negative once expired and not yet taken over) and how many are
    ``done`` (finished work, never taken again: counted, not listed). None when the state has
    no leases."""
    reader = getattr(state, "leases", None)
    if not callable(reader):
        return None
    grouped: dict[str, dict[str, Any]] = {}
    for lease in reader():
        row = _row(lease)
        kind = grouped.setdefault(str(row.pop("kind", "?")), {"held": [], "done": 0})
        if row.pop("done", False):
            kind["done"] += 1
        else:
            kind["held"].append(row)
    for kind in grouped.values():
        kind["held"].sort(key=lambda r: (str(r.get("holder")), str(r.get("key"))))
    return dict(sorted(grouped.items()))

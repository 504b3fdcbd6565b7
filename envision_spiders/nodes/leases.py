"""Leases in the shared state as the node commands use them.

``scrapy schedule`` holds a short ``schedule`` lease per spider (key: the spider's name) while it
checks the nodes and posts the job, so two runs at once never both start one spider. Leases
exist only when the state object has them (``take_lease`` / ``release_lease`` / ``leases``:
the PostgreSQL backend); with a state without them the guard is off and only the nodes'
listjobs protect a spider (enough for one scheduler at a time, e.g. one cron entry).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from typing import Any

SCHEDULE_KIND = "schedule"


def holder_id(what: str) -> str:
    """Who holds a lease: the command, host and process, plus a random part (one run)."""
    return f"{what}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def has_leases(state: Any) -> bool:
    return callable(getattr(state, "take_lease", None)) and callable(getattr(state, "release_lease", None))


class ScheduleLeases:
    """The ``schedule`` leases one ``scrapy schedule`` run takes and gives back."""

    def __init__(self, state: Any, seconds: float, holder: str | None = None) -> None:
        self.state = state
        self.enabled = has_leases(state) and seconds > 0
        self.seconds = seconds
        self.holder = holder or holder_id("schedule")
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
        return dict(lease)
    if hasattr(lease, "_asdict"):
        return dict(lease._asdict())
    return {k: v for k, v in vars(lease).items() if not k.startswith("_")}


def claims(state: Any) -> dict[str, list[dict[str, Any]]] | None:
    """{kind: [{holder, key, expires…}]} from the state's ``leases()``, or None when the state
    has no leases."""
    reader = getattr(state, "leases", None)
    if not callable(reader):
        return None
    grouped: dict[str, list[dict[str, Any]]] = {}
    for lease in reader():
        row = {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in _row(lease).items()}
        grouped.setdefault(str(row.pop("kind", "?")), []).append(row)
    for rows in grouped.values():
        rows.sort(key=lambda r: (str(r.get("holder")), str(r.get("key"))))
    return dict(sorted(grouped.items()))

"""A documented rate enforced at a fake: 429 to any request that comes sooner than the rate allows.

``gate_fake(fake, RateGate(buckets, routes), too_many)`` puts a ``RateGate`` in front of a
``FakeAPI``'s dispatch: each route counts in buckets (a moving window of ``(seconds, count)``),
and a request a bucket would not admit gets ``too_many(wait)`` instead of its answer. Used by
``bench/api_rate_bench.py`` (crawls against each source's documented rates) and by the tests
that check a download or crawl keeps to a rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.servers.base import FakeAPI, Reply

TOLERANCE = 0.02  # seconds of slack on each window: network and thread scheduling jitter
SPAN = 4  # a class's rate is enforced over every SPAN requests (SPAN intervals), as a window limiter does


@dataclass
class RateGate:
    """The fake's limiter. A bucket is ``(seconds, count)``: at most ``count`` requests in any
    ``seconds`` (a moving window, as Zenodo's flask-limiter and Dryad's rack-attack count);
    ``count`` 1 is a minimum spacing. A request is admitted only when every bucket it counts
    in allows it."""

    buckets: dict[str, tuple[float, int]]
    routes: dict[str, list[str]]  # route name -> buckets it counts in
    seen: dict[str, list[float]] = field(default_factory=dict)
    admitted: dict[str, int] = field(default_factory=dict)  # route -> requests let through
    refused: int = 0
    refused_by: dict[str, int] = field(default_factory=dict)  # bucket -> requests it refused
    served_seconds: float = 0.0  # time the fake spent answering (its own share of the crawl's time)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, route: str) -> bool:
        names = self.routes.get(route, [])
        with self.lock:
            now = time.monotonic()
            for name in names:
                seconds, count = self.buckets[name]
                recent = [t for t in self.seen.get(name, []) if now - t < seconds - TOLERANCE]
                self.seen[name] = recent
                if len(recent) >= count:
                    self.refused += 1
                    self.refused_by[name] = self.refused_by.get(name, 0) + 1
                    return False
            for name in names:
                self.seen.setdefault(name, []).append(now)
            self.admitted[route] = self.admitted.get(route, 0) + 1
            return True


def gate_fake(fake: FakeAPI, gate: RateGate, too_many: Callable[[float], Reply]) -> None:
    """Every request to ``fake`` goes through ``gate`` first: 429 when too early."""
    dispatch = fake.dispatch

    def gated(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        route = route_of(fake, method, raw_path)
        if route is not None and not gate.admit(route):
            wait = max(gate.buckets[b][0] for b in gate.routes[route])
            return too_many(wait)
        started = time.perf_counter()
        try:
            return dispatch(method, raw_path, headers, body)
        finally:
            with gate.lock:
                gate.served_seconds += time.perf_counter() - started

    fake.dispatch = gated  # type: ignore[method-assign]


def route_of(fake: FakeAPI, method: str, raw_path: str) -> str | None:
    path = raw_path.split("?", 1)[0]
    for name, route_method, pattern, _ in fake._routes:
        if route_method == method and pattern.fullmatch(path):
            return name
    return None

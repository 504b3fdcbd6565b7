"""A fake dataset portal: the receiving end of ``scrapy post`` (docs/operations.md, "The portal feed").

Checks the bearer token, upserts records by (source, source_id), retires superseded ones,
honours ``Idempotency-Key`` (a batch applied once is not applied again), and keeps every
delivery so tests can count how often each record arrived. Faults are scripted with
``fault("batch", nth, Reply(...))``; ``hold_batch(nth)`` keeps the nth batch waiting
(applied but unanswered) until ``release()`` — the moment a client may crash.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from tests.servers.base import Call, FakeAPI, Reply


class FakePortal(FakeAPI):
    def __init__(self, token: str = "portal-test-token") -> None:
        super().__init__()
        self.token = token
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.retired: dict[tuple[str, str], str] = {}
        self.applied_batches: set[str] = set()
        self.deliveries: Counter[tuple[str, str]] = Counter()  # applied (non-replayed) deliveries
        self.reject: set[tuple[str, str]] = set()
        self._hold: int | None = None
        self._batches_seen = 0
        self.held = threading.Event()
        self._release = threading.Event()
        self.route("batch", "POST", r"/api/v1/datasets/batch", self.batch)
        # where a misconfigured portal redirects: a GET here answers 200 and receives nothing
        self.route("status", "GET", r"/api/v1/datasets/status", lambda call, _: Reply.json({"status": "ok"}))

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/v1/datasets/batch"

    def hold_batch(self, nth: int) -> None:
        self._hold = nth

    def release(self) -> None:
        self._release.set()

    def batch(self, call: Call, _: Any) -> Reply:
        if call.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply.json({"error": "invalid token"}, 401)
        if "application/json" not in call.headers.get("Content-Type", ""):
            return Reply.json({"error": "JSON only"}, 415)
        payload = json.loads(call.body)
        key = call.headers.get("Idempotency-Key")
        if key != payload.get("batch_id") or payload.get("version") != 1:
            return Reply.json({"error": "bad envelope"}, 400)
        with self._lock:
            self._batches_seen += 1
            nth = self._batches_seen
            replay = key in self.applied_batches
            rejected = []
            if not replay:
                self.applied_batches.add(key)
                for entry in payload["records"]:
                    owner = (entry["source"], entry["source_id"])
                    if owner in self.reject:
                        rejected.append({"source": owner[0], "source_id": owner[1], "error": "invalid record"})
                        continue
                    assert entry["record"]["source_id"] == entry["source_id"]
                    self.records[owner] = entry["record"]
                    self.retired.pop(owner, None)
                    self.deliveries[owner] += 1
                for notice in payload["superseded"]:
                    owner = (notice["source"], notice["source_id"])
                    self.records.pop(owner, None)
                    self.retired[owner] = notice["duplicate_of"]
        if nth == self._hold:  # applied, but the answer waits: the client may die meanwhile
            self.held.set()
            self._release.wait(30)
        return Reply.json({"status": "ok", "replayed": replay, "rejected": rejected})

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(c.body) for c in self.calls_to("batch")]

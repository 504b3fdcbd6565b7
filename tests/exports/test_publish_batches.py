"""Portal batch keys: reused only for a retry of the same unacknowledged changes."""

from __future__ import annotations

from envision_spiders.exports.publish import Change, plan_batches
from envision_spiders.state.db import open_state


def change(source_id: str, digest: str) -> Change:
    return Change("record", "zenodo", source_id, digest, {"source": "zenodo", "source_id": source_id})


def test_an_unacknowledged_batch_is_resent_whole_under_its_key_and_a_changed_one_is_stale():
    changes = [change("1", "h1"), change("2", "h2"), change("3", "h3b"), change("4", "h4")]
    pending = [("kept", [("zenodo", "1", "h1"), ("zenodo", "2", "h2")]), ("stale", [("zenodo", "3", "h3a")])]
    batches, stale = plan_batches(changes, pending, size=10)
    assert stale == ["stale"]
    assert [(b.batch_id, b.resent, [c.source_id for c in b.changes]) for b in batches][0] == ("kept", True, ["1", "2"])
    fresh = batches[1]
    assert not fresh.resent and [c.source_id for c in fresh.changes] == ["3", "4"]
    assert fresh.batch_id not in {"kept", "stale"}
    again, _ = plan_batches([change("3", "h3b")], [], size=10)
    assert again[0].batch_id != fresh.batch_id  # a new batch always gets a new key


def test_batches_persist_until_acknowledged_and_a_record_is_in_one_pending_batch(tmp_path, state_url):
    state = open_state(state_url, tmp_path)
    state.open_batch("p", "a", [("zenodo", "1", "h1"), ("zenodo", "2", "h2")], "2026-01-01T00:00:00")
    state.open_batch("p", "b", [("zenodo", "3", "h3")], "2026-01-01T00:00:01")
    state.close()
    state = open_state(state_url, tmp_path)  # schema creation is idempotent; batches survive
    assert [b for b, _ in state.pending_batches("p")] == ["a", "b"]
    state.open_batch("p", "c", [("zenodo", "2", "h2x")], "2026-01-01T00:00:02")  # record 2 moves to c
    assert [b for b, _ in state.pending_batches("p")] == ["b", "c"]
    state.mark_acked("p", [("zenodo", "3", "h3")], "2026-01-01T00:00:03", batch_id="b")
    assert state.pending_batches("p") == [("c", [("zenodo", "2", "h2x")])]
    assert state.portal_acks("p") == {("zenodo", "3"): "h3"}
    assert state.pending_batches("other") == []
    state.close()

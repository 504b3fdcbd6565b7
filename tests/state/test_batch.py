"""Group commit: steps queued in one turn of the event loop share a transaction, fail alone, and
return only once their transaction committed (on both state backends)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from envision_spiders.state.batch import GroupCommit
from envision_spiders.state.db import StateBusy, open_state

AT = "2026-12-05T00:00:00+00:00"


def mark(state, n: int, fail: bool = False):
    def step() -> int:
        state.mark_stored("zenodo", str(n), "m", None, AT)
        if fail:
            raise ValueError(f"step {n} failed after its write")
        return n

    return step


async def run_all(commits: GroupCommit, steps) -> list:
    return await asyncio.gather(*(commits.run(step) for step in steps), return_exceptions=True)


def counting_transactions(state, monkeypatch) -> list[int]:
    """A list that gains one entry per write transaction the state begins."""
    begun: list[int] = []
    real = state.immediate

    def immediate():
        if not state.in_transaction:
            begun.append(1)
        return real()

    monkeypatch.setattr(state, "immediate", immediate)
    return begun


def test_steps_of_one_turn_share_one_transaction(tmp_path: Path, state_url: str, monkeypatch):
    state = open_state(state_url, tmp_path)
    begun = counting_transactions(state, monkeypatch)
    assert asyncio.run(run_all(GroupCommit(state), [mark(state, n) for n in range(5)])) == [0, 1, 2, 3, 4]
    assert len(begun) == 1
    assert all(state.lookup("zenodo", str(n)) for n in range(5))
    state.close()


def test_at_most_max_steps_share_a_transaction(tmp_path: Path, state_url: str, monkeypatch):
    state = open_state(state_url, tmp_path)
    begun = counting_transactions(state, monkeypatch)
    asyncio.run(run_all(GroupCommit(state, max_steps=2), [mark(state, n) for n in range(5)]))
    assert len(begun) == 3
    state.close()


def test_a_failing_step_is_undone_alone(tmp_path: Path, state_url: str):
    state = open_state(state_url, tmp_path)
    steps = [mark(state, 0), mark(state, 1, fail=True), mark(state, 2)]
    results = asyncio.run(run_all(GroupCommit(state), steps))
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError)
    assert state.lookup("zenodo", "1") is None  # its write was rolled back
    assert state.lookup("zenodo", "0") and state.lookup("zenodo", "2")
    state.close()


def test_a_step_returns_only_after_its_transaction_committed(tmp_path: Path, state_url: str):
    state = open_state(state_url, tmp_path)
    commits = GroupCommit(state)
    seen_by_another_reader = []

    async def store_then_look(n: int) -> None:
        await commits.run(mark(state, n))
        other = open_state(state_url, tmp_path)  # another process's view: committed rows only
        seen_by_another_reader.append(other.lookup("zenodo", str(n)) is not None)
        other.close()

    async def main() -> None:
        await asyncio.gather(*(store_then_look(n) for n in range(3)))

    asyncio.run(main())
    assert seen_by_another_reader == [True, True, True]
    state.close()


def test_no_step_runs_when_the_transaction_cannot_begin(tmp_path: Path):
    state = open_state(None, tmp_path, timeout=0.1)
    holder = open_state(None, tmp_path)
    ran = []

    def step() -> None:
        ran.append(1)

    with holder.immediate():  # another crawl holds the write lock
        results = asyncio.run(run_all(GroupCommit(state), [step, step]))
    assert [type(r) for r in results] == [StateBusy, StateBusy]
    assert not ran
    holder.close()
    state.close()


@pytest.mark.parametrize("fail", [False, True])
def test_a_savepoint_keeps_or_undoes_its_part_only(tmp_path: Path, state_url: str, fail: bool):
    state = open_state(state_url, tmp_path)
    with state.immediate():
        state.mark_stored("zenodo", "kept", "m", None, AT)
        try:
            with state.savepoint():
                state.mark_stored("zenodo", "part", "m", None, AT)
                if fail:
                    raise ValueError("undo the part")
        except ValueError:
            pass
    assert state.lookup("zenodo", "kept")
    assert (state.lookup("zenodo", "part") is None) is fail
    state.close()

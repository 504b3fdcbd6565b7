"""StateDB claims: two processes claiming the same DOIs at the same moment end with one owner."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from envision_spiders.state.db import open_state

ROUNDS = 200


def _claimer(url: str, data: str, owner: tuple[str, str], rank: list, dois_of_round, barrier, out) -> None:
    state = open_state(url, data, timeout=30)
    barrier.wait()
    results = []
    for n in range(ROUNDS):
        claimed = state.claim(dois_of_round(n), owner, rank)
        results.append((claimed.canonical, [tuple(o) for o in claimed.superseded]))
    state.close()
    out.put((owner, results))


def _dois_a(n: int) -> list[str]:
    return [f"10.1000/a.{n}", f"10.1000/shared.{n}"]


def _dois_b(n: int) -> list[str]:
    return [f"10.1000/shared.{n}", f"10.1000/b.{n}"]


def test_two_processes_claiming_concurrently_agree_on_one_owner(tmp_path: Path, state_url: str):
    data = str(tmp_path / "data")
    open_state(state_url, data).close()  # schema (+ WAL) set up once
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    native, aggregator = ("zenodo", "1"), ("datacite", "10.1000/shared")
    procs = [
        ctx.Process(target=_claimer, args=(state_url, data, aggregator, [1, 0, 0, "datacite", "x"], _dois_b, barrier, out)),
        ctx.Process(target=_claimer, args=(state_url, data, native, [0, 0, 0, "zenodo", "1"], _dois_a, barrier, out)),
    ]
    for proc in procs:
        proc.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    # the better rank always wins, whoever committed first. When the aggregator claimed a round
    # first it owned those DOIs for a moment; the native claim that took them over reports it
    # (once: the winner takes every DOI the loser held, earlier rounds included).
    assert {canonical for canonical, _ in results[native]} == {native}
    assert {canonical for canonical, _ in results[aggregator]} <= {native, aggregator}
    aggregator_won_a_round = any(canonical == aggregator for canonical, _ in results[aggregator])
    native_superseded_it = any(aggregator in superseded for _, superseded in results[native])
    assert aggregator_won_a_round == native_superseded_it
    state = open_state(state_url, data)
    try:
        for n in range(ROUNDS):  # DOIs linked through the shared one have a single owner
            owners = {state.owner_of(doi) for doi in _dois_a(n) + _dois_b(n)}
            assert owners == {native}
    finally:
        state.close()


def test_lower_rank_takes_over_and_reports_the_superseded(tmp_path: Path, state_url: str):
    state = open_state(state_url, tmp_path)
    try:
        first = state.claim(["10.1/x"], ("datacite", "10.1/x"), [1, 0, 0, "datacite", "10.1/x"])
        assert first.canonical == ("datacite", "10.1/x") and first.superseded == []
        second = state.claim(["10.1/x", "10.1/concept"], ("zenodo", "7"), [0, -7, 0, "zenodo", "7"])
        assert second.canonical == ("zenodo", "7") and second.superseded == [("datacite", "10.1/x")]
        again = state.claim(["10.1/x"], ("datacite", "10.1/x"), [1, 0, 0, "datacite", "10.1/x"])
        assert again.canonical == ("zenodo", "7") and again.superseded == []
    finally:
        state.close()


def test_marks_of_many_records_are_one_transaction(tmp_path: Path):
    state = open_state(None, tmp_path)
    owners = [("zenodo", str(n)) for n in range(3)]
    statements: list[str] = []
    state._db.set_trace_callback(statements.append)  # the embedded backend's connection
    state.mark_undelivered(owners, "2026-12-05T00:00:00")
    state.mark_delivered(owners)
    state._db.set_trace_callback(None)
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"] * 2
    assert state.undelivered() == set()
    state.close()


def test_other_owners_lists_each_record_once_whatever_number_of_the_dois_it_owns(tmp_path: Path, state_url: str):
    state = open_state(state_url, tmp_path)
    try:
        state.claim(["10.1/a", "10.1/concept"], ("zenodo", "7"), [0, -7, 0, "zenodo", "7"])
        state.claim(["10.1/b"], ("dryad", "x"), [0, 0, 0, "dryad", "x"])
        dois = ["10.1/a", "10.1/concept", "10.1/b", "10.1/a"]
        assert state.other_owners(dois, ("figshare", "1")) == [("dryad", "x"), ("zenodo", "7")]
        assert state.other_owners(dois, ("zenodo", "7")) == [("dryad", "x")]
        assert state.other_owners([], ("zenodo", "7")) == []
    finally:
        state.close()


def test_a_withdrawn_acceptance_is_forgotten_and_only_accepted_ones_are_named(tmp_path: Path, state_url: str):
    state = open_state(state_url, tmp_path)
    try:
        state.accept_for_download([("zenodo", "7"), ("dryad", "doi:10.5061/x")], "2026-12-05T10:00:00+00:00")
        withdrawn = state.withdraw_acceptance([("zenodo", "7"), ("zenodo", "8"), ("zenodo", "7")])
        assert withdrawn == [("zenodo", "7")]  # once, and not the one never accepted
        assert state.accepted_for_download() == {("dryad", "doi:10.5061/x")}
        assert state.withdraw_acceptance([]) == []
    finally:
        state.close()


def test_an_accepted_record_is_remembered_with_its_first_acceptance(tmp_path: Path, state_url: str):
    state = open_state(state_url, tmp_path)
    try:
        assert state.accepted_for_download() == set()
        state.accept_for_download([("zenodo", "7")], "2026-12-05T10:00:00+00:00")
        state.accept_for_download([("zenodo", "7"), ("dryad", "x")], "2026-12-05T11:00:00+00:00")  # again: no error
        assert state.accepted_for_download() == {("zenodo", "7"), ("dryad", "x")}
        at = state._execute("SELECT accepted_at FROM accepted_downloads WHERE source_id=?", ("7",)).fetchone()[0]
        assert at == "2026-12-05T10:00:00+00:00"
    finally:
        state.close()
    again = open_state(state_url, tmp_path)  # kept across runs
    try:
        assert again.accepted_for_download() == {("zenodo", "7"), ("dryad", "x")}
    finally:
        again.close()

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from envision_spiders.downloads.shares import (
    AUTO_MIN_FILES,
    claim,
    claim_order,
    count_files,
    deal_records,
    gated_records,
    make_shares_folder,
    process_count,
    process_limits,
    read_share,
    record_work,
    remove_abandoned_share_folders,
    write_share,
    write_shares,
)

LIMITS = {"ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST": 4, "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
          "ENVISION_DOWNLOAD_CONCURRENCY": 16, "CONCURRENT_REQUESTS": 16}


def rec(source_id: str, n_files: int, size: int = 1000, **kw) -> tuple[str, dict]:
    files = [{"name": f"f{i}", "size": size, "url": f"http://h/{source_id}/{i}", "access": "open"} for i in range(n_files)]
    return source_id, {"source": "zenodo", "source_id": source_id, "files": files, "label": "EYE_IMAGING",
                       "confidence": 0.99, "eye_evidence": ["words"], **kw}


def test_every_gated_record_is_dealt_once_and_copies_and_ungated_ones_not_at_all():
    records = [rec(str(i), i % 7) for i in range(50)] + [rec("copy", 3, duplicate_of="zenodo:1"),
                                                         rec("neg", 3, label="NEGATIVE"), rec("low", 3, confidence=0.5)]
    shares = deal_records(gated_records(records, 0.8), 3)
    dealt = [owner for share in shares for owner in share]
    assert sorted(dealt) == sorted(("zenodo", str(i)) for i in range(50))


def test_a_record_held_for_review_is_dealt_once_a_curator_accepted_it():
    records = [rec("plain", 1), rec("paws", 1, eye_evidence=["sides"]), rec("accepted", 1, eye_evidence=["sides"])]
    dealt = gated_records(records, 0.8, accepted={("zenodo", "accepted")})
    assert [r["source_id"] for r in dealt] == ["plain", "accepted"]
    assert [r["source_id"] for r in gated_records(records, 0.8)] == ["plain"]


def test_shares_carry_about_equal_work_whatever_the_order():
    records = [rec(str(i), n)[1] for i, n in enumerate([50, 1, 1, 1, 30, 20, 2, 2, 2, 2, 10, 10])]
    by_id = {r["source_id"]: r for r in records}
    shares = deal_records(records, 2)
    work = [sum(record_work(by_id[source_id]) for _, source_id in share) for share in shares]
    assert abs(work[0] - work[1]) <= max(record_work(r) for r in records if len(r["files"]) <= 2)
    assert deal_records(list(reversed(records)), 2) == shares  # deterministic


def test_bytes_weigh_as_well_as_files():
    assert record_work(rec("a", 1, 400 * 1024 * 1024)[1]) > record_work(rec("b", 50)[1])


def test_a_share_file_round_trips_in_the_order_dealt(tmp_path):
    owners = [("zenodo", "1"), ("dryad", "doi:10.5061/dryad.x y"), ("figshare", "0")]
    assert read_share(write_share(tmp_path / "s.txt", owners)) == owners


def test_a_process_takes_its_own_share_first_then_the_others_from_their_ends(tmp_path):
    shares = [[("z", "a0"), ("z", "a1")], [("z", "b0"), ("z", "b1"), ("z", "b2")], [("z", "c0")]]
    paths = write_shares(tmp_path, shares)
    order = claim_order(tmp_path, paths[1])
    assert [owner[1] for _, owner, _ in order] == ["b0", "b1", "b2", "c0", "a1", "a0"]
    assert [mine for _, _, mine in order] == [True] * 3 + [False] * 3
    # every process names a record's claim alike: one claim per record, whoever takes it
    names = {owner: name for path in paths for name, owner, _ in claim_order(tmp_path, path)}
    assert len(set(names.values())) == 6 and all(name == names[o] for name, o, _ in order)


def test_a_record_is_claimed_by_one_process_only(tmp_path):
    write_shares(tmp_path, [[("z", "a")]])
    assert claim(tmp_path, "0-0") is True
    assert claim(tmp_path, "0-0") is False  # the other process, or this one again
    assert claim(tmp_path, "0-1") is True


def test_only_downloadable_files_are_counted():
    _, record = rec("a", 3)
    record["files"] += [{"name": "closed", "url": "http://h/c", "access": "restricted"}, {"name": "no-url", "access": "open"}]
    assert count_files([record]) == 3


def test_auto_takes_one_process_per_cpu_only_with_many_files():
    assert process_count(0, AUTO_MIN_FILES, 4, LIMITS, {}) == 4
    assert process_count(0, AUTO_MIN_FILES - 1, 4, LIMITS, {}) == 1
    assert process_count(3, 1, 8, LIMITS, {}) == 3  # asked for: taken whatever the files


def test_never_more_processes_than_the_smallest_concurrency_limit():
    assert process_count(8, 10_000, 8, {**LIMITS, "ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST": 2}, {}) == 2
    assert process_count(0, 10_000, 8, LIMITS, {"zenodo.org": {"concurrency": 1, "delay": 2.0}}) == 1


def test_the_processes_together_keep_to_one_processs_limits():
    parts = process_limits({**LIMITS, "ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST": 5}, 0.5,
                           {"files": {"concurrency": 3, "delay": 1.0}}, 2)
    for name, value in {**LIMITS, "ENVISION_DOWNLOAD_CONCURRENCY_PER_HOST": 5}.items():
        assert sum(part[name] for part in parts) == value and all(part[name] >= 1 for part in parts)
    assert [part["DOWNLOAD_DELAY"] for part in parts] == [1.0, 1.0]  # half the rate each
    assert [part["DOWNLOAD_SLOTS"]["files"] for part in parts] == [{"concurrency": 2, "delay": 2.0},
                                                                    {"concurrency": 1, "delay": 2.0}]
    assert "DOWNLOAD_DELAY" not in process_limits(LIMITS, 0.0, {}, 2)[0]


def test_a_budget_slot_is_shared_out_by_its_delay_not_capping_the_processes():
    """Figshare's one rate (its shared slot, concurrency 1): two processes each get it at twice
    the delay, one request at a time, so together they keep to the one budget."""
    from envision_spiders.downloads.shares import process_count, process_limits

    slots = {"figshare:all": {"delay": 1.0, "jitter": 0, "concurrency": 1}}
    assert process_count(2, 1000, 2, {"CONCURRENT_REQUESTS": 16}, slots) == 2
    parts = process_limits({"CONCURRENT_REQUESTS": 16}, 0.0, slots, 2)
    assert [p["DOWNLOAD_SLOTS"]["figshare:all"] for p in parts] == [{"delay": 2.0, "jitter": 0, "concurrency": 1}] * 2


def test_a_run_removes_the_share_folders_of_runs_killed_before_it_and_no_others(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    gone = tmp_path / f"envision-download-{done.stdout.strip()}-abc123"  # its process has exited: killed, say
    running = tmp_path / f"envision-download-{os.getpid()}-def456"  # a run going on now
    older = tmp_path / "envision-download-k849l2ff"  # an older release's name, no process id: left alone
    for folder in (gone, running, older):
        (folder / "claims").mkdir(parents=True)
        (folder / "share-0.txt").write_text("zenodo\t1\n")
    new = make_shares_folder(tmp_path)
    assert new.name.startswith(f"envision-download-{os.getpid()}-") and new.is_dir()
    assert not gone.exists() and running.is_dir() and older.is_dir()
    assert remove_abandoned_share_folders(tmp_path) == []

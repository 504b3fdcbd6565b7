from __future__ import annotations

from envision_spiders.downloads.shares import deal_records, read_share, record_work, write_share


def rec(source_id: str, n_files: int, size: int = 1000, **kw) -> tuple[str, dict]:
    files = [{"name": f"f{i}", "size": size, "url": f"http://h/{source_id}/{i}"} for i in range(n_files)]
    return source_id, {"source": "zenodo", "source_id": source_id, "files": files, **kw}


def test_every_record_is_dealt_once_and_copies_not_at_all():
    records = [rec(str(i), i % 7) for i in range(50)] + [rec("copy", 3, duplicate_of="zenodo:1")]
    shares = deal_records(records, 3)
    dealt = [owner for share in shares for owner in share]
    assert sorted(dealt) == sorted(("zenodo", str(i)) for i in range(50))
    assert ("zenodo", "copy") not in dealt


def test_shares_carry_about_equal_work_whatever_the_order():
    records = [rec(str(i), n) for i, n in enumerate([50, 1, 1, 1, 30, 20, 2, 2, 2, 2, 10, 10])]
    by_id = dict(records)
    shares = deal_records(records, 2)
    work = [sum(record_work(by_id[source_id]) for _, source_id in share) for share in shares]
    assert abs(work[0] - work[1]) <= max(record_work(r) for _, r in records if len(r["files"]) <= 2)
    assert deal_records(list(reversed(records)), 2) == shares  # deterministic


def test_bytes_weigh_as_well_as_files():
    assert record_work(rec("a", 1, 400 * 1024 * 1024)[1]) > record_work(rec("b", 50)[1])


def test_a_share_file_round_trips(tmp_path):
    owners = [("zenodo", "1"), ("dryad", "doi:10.5061/dryad.x y")]
    assert read_share(write_share(tmp_path / "s.txt", owners)) == set(owners)

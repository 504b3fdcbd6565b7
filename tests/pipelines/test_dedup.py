"""The canonical record of a dataset does not depend on the order records arrive in (on either state backend)."""

from __future__ import annotations

import asyncio
import itertools
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from scrapy.exceptions import DropItem

from envision_spiders.items import DatasetRecord
from envision_spiders.pipelines.dedup import DedupPipeline
from envision_spiders.pipelines.store import StorePipeline
from tests.conftest import project_crawler


def store_item(store: StorePipeline, item):
    """The store pipeline's process_item (a coroutine: the file is staged in a worker thread), run to its end."""
    return asyncio.run(store.process_item(item))


def dedup_item(dedup: DedupPipeline, item):
    """The dedup pipeline's process_item (a coroutine: its claim waits for the group commit), run to its end."""
    return asyncio.run(dedup.process_item(item))


def run_pipelines(tmp_path, records, state_url, run_id=0):
    crawler = project_crawler(ENVISION_DATA_DIR=str(tmp_path / "data"), ENVISION_STATE_URL=state_url)
    dedup, store = DedupPipeline.from_crawler(crawler), StorePipeline.from_crawler(crawler)
    kept, dropped = [], []
    for record in records:
        try:
            kept.append(store_item(store, dedup_item(dedup, record)))
        except DropItem as exc:
            dropped.append((record.source, record.source_id, str(exc)))
    return kept, dropped, crawler.stats


def zenodo_v(version_id: int, concept: int = 100) -> DatasetRecord:
    return DatasetRecord(
        source="zenodo", source_id=str(version_id), doi=f"10.5281/zenodo.{version_id}",
        version_of=f"10.5281/zenodo.{concept}", title="v", extra={"version_order": version_id},
    )


def datacite(doi: str) -> DatasetRecord:
    return DatasetRecord(source="datacite", source_id=doi, doi=f"https://doi.org/{doi.upper()}", title="d")


RECORDS = [zenodo_v(101), zenodo_v(103), datacite("10.5281/zenodo.103"), datacite("10.5281/zenodo.100")]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_latest_native_version_wins_whatever_the_order(tmp_path, order, state_url):
    run_pipelines(tmp_path, [RECORDS[i] for i in order], state_url)
    folder = tmp_path / "data" / "metadata"
    stored = {p.relative_to(folder).as_posix(): json.loads(p.read_text()) for p in folder.rglob("*.json")}
    canonical = [name for name, rec in stored.items() if not rec.get("duplicate_of")]
    assert canonical == ["zenodo/103.json"]
    for name, rec in stored.items():
        if name != "zenodo/103.json":
            assert rec["duplicate_of"] == "zenodo:103"


def test_drop_has_a_reason_and_counters(tmp_path, state_url):
    kept, dropped, stats = run_pipelines(tmp_path, [zenodo_v(103), datacite("10.5281/zenodo.103")], state_url)
    assert [r.source_id for r in kept] == ["103"]
    assert dropped[0][2] == "duplicate DOI 10.5281/zenodo.103: datacite:10.5281/zenodo.103 is a copy of zenodo:103"
    assert stats.get_value("envision/dedup/dropped") == 1
    assert stats.get_value("envision/dedup/dropped/datacite") == 1


def test_later_better_record_supersedes_a_stored_one(tmp_path, state_url):
    _, _, stats = run_pipelines(tmp_path, [datacite("10.5281/zenodo.103"), zenodo_v(103)], state_url)
    assert stats.get_value("envision/dedup/superseded") == 1
    loser = tmp_path / "data" / "metadata" / "datacite" / "10.5281%2Fzenodo.103.json"
    assert json.loads(loser.read_text())["duplicate_of"] == "zenodo:103"


def test_the_rule_holds_across_runs(tmp_path, state_url):
    run_pipelines(tmp_path, [zenodo_v(103)], state_url)
    _, dropped, _ = run_pipelines(tmp_path, [datacite("10.5281/zenodo.103")], state_url)
    assert dropped and "copy of zenodo:103" in dropped[0][2]


def test_a_record_met_twice_in_one_run_is_kept_once(tmp_path, state_url):
    kept, dropped, stats = run_pipelines(tmp_path, [zenodo_v(103), zenodo_v(103)], state_url)
    assert len(kept) == 1 and len(dropped) == 1
    assert stats.get_value("envision/dedup/repeat_in_run") == 1


def test_records_without_doi_pass(tmp_path, state_url):
    kept, _, stats = run_pipelines(tmp_path, [DatasetRecord(source="kaggle", source_id="a/b", title="x")], state_url)
    assert len(kept) == 1
    assert stats.get_value("envision/dedup/no_doi") == 1


def test_a_record_superseded_while_in_flight_is_stored_as_a_duplicate(tmp_path, state_url):
    """DataCite's copy passes dedup, then Zenodo's record claims the DOI before the copy is stored."""
    crawler = project_crawler(ENVISION_DATA_DIR=str(tmp_path / "data"), ENVISION_STATE_URL=state_url)
    dedup, store = DedupPipeline.from_crawler(crawler), StorePipeline.from_crawler(crawler)
    copy = dedup_item(dedup, datacite("10.5281/zenodo.103"))  # canonical for now, not stored yet
    store_item(store, dedup_item(dedup, zenodo_v(103)))
    store_item(store, copy)
    folder = tmp_path / "data" / "metadata"
    assert json.loads((folder / "datacite" / "10.5281%2Fzenodo.103.json").read_text())["duplicate_of"] == "zenodo:103"
    assert json.loads((folder / "zenodo" / "103.json").read_text())["duplicate_of"] is None
    assert crawler.stats.get_value("envision/store/superseded_in_flight") == 1


def test_a_claim_run_again_after_its_batch_was_refused_is_counted_once(tmp_path, state_url):
    """A group commit whose held object writes were refused rolls the batch back and runs its
    steps again one by one (state/batch.py): the supersession and the DOI adoption that the
    first run did, then undid, are counted and logged once."""
    from contextlib import contextmanager

    from envision_spiders.state.batch import GroupCommit
    from envision_spiders.state.store import PutsFailed

    crawler = project_crawler(ENVISION_DATA_DIR=str(tmp_path / "data"), ENVISION_STATE_URL=state_url)
    dedup, store = DedupPipeline.from_crawler(crawler), StorePipeline.from_crawler(crawler)
    store_item(store, dedup_item(dedup, datacite("10.17605/osf.io/abcde")))
    refusals = []

    @contextmanager
    def refused_once():
        yield
        if not refusals:
            refusals.append(1)
            raise PutsFailed({"metadata/datacite/x.json": ConnectionError("refused")})

    dedup._commits = GroupCommit(dedup.records.state, puts_together=refused_once, stats=crawler.stats)
    node = dedup_item(dedup, osf_node("abcde"))  # supersedes the stored copy and takes its DOI
    assert node.doi == "10.17605/osf.io/abcde"
    assert refusals == [1] and crawler.stats.get_value("envision/store/batch_writes_failed") == 1
    assert crawler.stats.get_value("envision/dedup/superseded") == 1
    assert crawler.stats.get_value("envision/dedup/doi_adopted") == 1


def test_superseding_never_overwrites_a_newer_version_stored_by_another_crawl(tmp_path, monkeypatch, state_url):
    """Crawl A's Zenodo record supersedes DataCite's copy and rewrites the copy's file. Crawl B
    stores a newer version of that copy at the worst moment: after A read the old file, before
    A wrote it back. B must wait for A's transaction (then store its version as a duplicate),
    never have its version replaced by A's stale rewrite."""
    import envision_spiders.state.store as record_store
    from envision_spiders.state.db import StateBusy

    data = str(tmp_path / "data")
    crawl_a = project_crawler(ENVISION_DATA_DIR=data, ENVISION_STATE_URL=state_url)
    # B stores durably: its file is staged (in a worker thread) before it asks for the lock
    crawl_b = project_crawler(ENVISION_DATA_DIR=data, ENVISION_STATE_URL=state_url, ENVISION_STATE_TIMEOUT=0.2,
                              ENVISION_STORE_FSYNC=True)
    dedup_a = DedupPipeline.from_crawler(crawl_a)
    dedup_b, store_b = DedupPipeline.from_crawler(crawl_b), StorePipeline.from_crawler(crawl_b)
    # crawl B runs in a thread of its own (its own event loop and state connection), as another
    # process would: A's step runs inside A's event loop, holding A's transaction
    crawl_b_thread = ThreadPoolExecutor(max_workers=1)

    def in_b(call, *args):
        return crawl_b_thread.submit(call, *args).result()

    old = datacite("10.5281/zenodo.103")
    old.modified = "2026-01-01"
    in_b(lambda: store_item(store_b, dedup_item(dedup_b, old)))
    newer = datacite("10.5281/zenodo.103")
    newer.modified, newer.title = "2026-02-01", "newer"  # passed B's dedup earlier, in flight since

    blocked = []
    real_load = record_store.load_record

    def load_then_let_b_store(path):
        stored = real_load(path)
        try:
            in_b(store_item, store_b, newer)  # B's write, between A's read and A's write
        except StateBusy as exc:  # A holds the state lock: B has to wait
            blocked.append(str(exc))
        return stored

    monkeypatch.setattr(record_store, "load_record", load_then_let_b_store)
    dedup_item(dedup_a, zenodo_v(103))
    monkeypatch.setattr(record_store, "load_record", real_load)
    if blocked:
        in_b(store_item, store_b, newer)  # B's retry once A committed
    crawl_b_thread.shutdown()

    copy = json.loads((tmp_path / "data" / "metadata" / "datacite" / "10.5281%2Fzenodo.103.json").read_text())
    assert (copy["title"], copy["modified"], copy["duplicate_of"]) == ("newer", "2026-02-01", "zenodo:103")
    assert blocked and "locked" in blocked[0]
    assert not list((tmp_path / "data").rglob("*.tmp"))  # B's file staged before the lock timed out is gone


def osf_node(guid: str) -> DatasetRecord:
    return DatasetRecord(source="osf", source_id=guid, doi=None, title="n",
                         extra={"alternate_dois": [f"10.17605/osf.io/{guid}"]})


@pytest.mark.parametrize("datacite_first", [True, False])
def test_a_winner_without_doi_takes_the_doi_of_the_copy_it_beat(tmp_path, datacite_first, state_url):
    records = [datacite("10.17605/osf.io/abcde"), osf_node("abcde")]
    kept, dropped, stats = run_pipelines(tmp_path, records if datacite_first else records[::-1], state_url)
    node = json.loads((tmp_path / "data" / "metadata" / "osf" / "abcde.json").read_text())
    assert node["doi"] == "10.17605/osf.io/abcde" and node["duplicate_of"] is None
    assert stats.get_value("envision/dedup/doi_adopted") == 1
    if datacite_first:  # the node passes after the copy: the item itself carries the DOI to the feed
        assert [(r.source, r.doi) for r in kept if r.source == "osf"] == [("osf", "10.17605/osf.io/abcde")]
    # a later crawl of the node (no DOI of its own again) keeps the adopted one
    kept, _, _ = run_pipelines(tmp_path, [osf_node("abcde")], state_url)
    assert kept[0].doi == "10.17605/osf.io/abcde"


def test_a_winner_with_its_own_doi_keeps_it(tmp_path, state_url):
    run_pipelines(tmp_path, [zenodo_v(103), datacite("10.5281/zenodo.100")], state_url)
    _, _, stats = run_pipelines(tmp_path, [datacite("10.5281/zenodo.103")], state_url)
    assert json.loads((tmp_path / "data" / "metadata" / "zenodo" / "103.json").read_text())["doi"] == "10.5281/zenodo.103"
    assert not stats.get_value("envision/dedup/doi_adopted")

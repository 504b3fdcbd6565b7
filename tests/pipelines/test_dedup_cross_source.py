"""The same DOI crawled from DataCite (aggregator) and from Zenodo (native) ends as one
canonical record, the Zenodo one, whichever crawl runs first (real crawls, one data dir; the
state on SQLite or on PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envision_spiders.exports.results import write_results
from envision_spiders.state.db import open_state
from tests.conftest import run_crawl
from tests.servers.datacite import FakeDataCite, datacite_from_zenodo
from tests.servers.zenodo import FakeZenodo

FAST = {"ENVISION_INSPECT_ENABLED": False}
SHARED = 3  # Zenodo records 1..3 are also indexed by DataCite


@pytest.fixture
def servers():
    zenodo = FakeZenodo(n_records=6)
    zenodo.start()
    mirrored = [datacite_from_zenodo(rec) for rec in zenodo.all_records()[:SHARED]]
    datacite = FakeDataCite(n_eye=4, n_other=0, extra=mirrored)
    datacite.start()
    yield zenodo, datacite
    zenodo.stop()
    datacite.stop()


def crawl_both(
    order: list[str], zenodo: FakeZenodo, datacite: FakeDataCite, tmp_path: Path, state_url: str = ""
) -> dict:
    settings = {
        "zenodo": {"ZENODO_API_URL": f"{zenodo.base_url}/api", "ENVISION_STATE_URL": state_url, **FAST},
        "datacite": {"DATACITE_API_URL": datacite.base_url, "ENVISION_STATE_URL": state_url, **FAST},
    }
    results = {}
    for spider in order:
        results[spider] = run_crawl(spider, tmp_path, settings=settings[spider], name=spider)
        assert results[spider].returncode == 0, results[spider].log
    return results


def stored(tmp_path: Path, source: str) -> dict[str, dict]:
    folder = tmp_path / "data" / "metadata" / source
    return {json.loads(p.read_text())["source_id"]: json.loads(p.read_text()) for p in folder.glob("*.json")}


@pytest.mark.parametrize("order", [["datacite", "zenodo"], ["zenodo", "datacite"]], ids=["datacite-first", "zenodo-first"])
def test_zenodo_record_is_canonical_whichever_crawl_runs_first(servers, tmp_path, order, state_url):
    zenodo, datacite = servers
    crawl_both(order, zenodo, datacite, tmp_path, state_url)
    shared = {rec["doi"]: str(rec["id"]) for rec in zenodo.all_records()[:SHARED]}

    state = open_state(state_url, tmp_path / "data")
    try:
        for doi, recid in shared.items():
            assert state.owner_of(doi) == ("zenodo", recid)
            concept = f"10.5281/zenodo.{int(recid) - 1}"
            assert state.owner_of(concept) == ("zenodo", recid)  # IsVersionOf linked the concept DOI too
    finally:
        state.close()

    zen, dc = stored(tmp_path, "zenodo"), stored(tmp_path, "datacite")
    assert all(zen[recid]["duplicate_of"] is None for recid in shared.values())
    for doi, recid in shared.items():
        if order[0] == "datacite":  # stored first, then superseded: its file says so
            assert dc[doi]["duplicate_of"] == f"zenodo:{recid}"
        else:  # dropped on arrival: never stored
            assert doi not in dc
    assert len([r for r in dc.values() if not r["duplicate_of"]]) == 4  # DataCite-only DOIs stay canonical

    summary = write_results(tmp_path / "data", ["zenodo", "datacite"])
    assert summary["zenodo"]["all"] == 6 and summary["datacite"]["all"] == 4
    listed = json.loads((tmp_path / "data" / "results" / "datacite_all_results.json").read_text())
    everything = listed + json.loads((tmp_path / "data" / "results" / "zenodo_all_results.json").read_text())
    dois = [r["doi"] for r in everything]
    assert len(dois) == len(set(dois))
    assert all(dois.count(doi) == 1 for doi in shared)


def test_a_dropped_duplicate_is_logged_as_one_line_naming_record_doi_and_winner(servers, tmp_path):
    zenodo, datacite = servers
    results = crawl_both(["zenodo", "datacite"], zenodo, datacite, tmp_path)
    log = results["datacite"].log.splitlines()
    for rec in zenodo.all_records()[:SHARED]:
        doi, recid = rec["doi"], rec["id"]
        lines = [line for line in log if "Dropped" in line and doi in line]
        assert len(lines) == 1, lines
        assert f"duplicate DOI {doi}: datacite:{doi} is a copy of zenodo:{recid}" in lines[0]
    assert "'source_id':" not in results["datacite"].log  # no item printed
    assert not any(rec["title"] in line for rec in zenodo.all_records()[:SHARED] for line in log)

"""The canonical record keeps the best identifiers: an OSF node that wins the dedup over
DataCite's record of the node's DOI ends with that DOI in ``doi`` — in its stored file and in
a feed line — whichever crawl runs first (real crawls against the fakes, one data dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_crawl
from tests.servers.datacite import FakeDataCite, datacite_from_osf
from tests.servers.osf import FakeOSF

SHARED = 2  # the first two public OSF nodes have a DOI DataCite indexes


@pytest.fixture
def servers():
    osf = FakeOSF(n_eye=4, n_other=0, n_private=0)
    osf.start()
    mirrored = [datacite_from_osf(node) for node in osf.all_nodes()[:SHARED]]
    datacite = FakeDataCite(n_eye=2, n_other=0, extra=mirrored)
    datacite.start()
    yield osf, datacite
    osf.stop()
    datacite.stop()


def settings(osf: FakeOSF, datacite: FakeDataCite) -> dict[str, dict]:
    return {"osf": {"OSF_API_URL": f"{osf.base_url}/v2"}, "datacite": {"DATACITE_API_URL": datacite.base_url}}


def stored(tmp_path: Path, source: str) -> dict[str, dict]:
    folder = tmp_path / "data" / "metadata" / source
    return {json.loads(p.read_text())["source_id"]: json.loads(p.read_text()) for p in folder.glob("*.json")}


def expected_dois(osf: FakeOSF) -> dict[str, str]:
    return {node["id"]: f"10.17605/osf.io/{node['id']}" for node in osf.all_nodes()[:SHARED]}


def test_osf_winner_takes_the_doi_when_datacite_was_stored_first(servers, tmp_path):
    osf, datacite = servers
    conf = settings(osf, datacite)
    assert run_crawl("datacite", tmp_path, settings=conf["datacite"], name="datacite").returncode == 0
    result = run_crawl("osf", tmp_path, settings=conf["osf"], name="osf")
    assert result.returncode == 0, result.log
    records = stored(tmp_path, "osf")
    fed = {item["source_id"]: item for item in result.items}
    for guid, doi in expected_dois(osf).items():
        assert records[guid]["doi"] == doi
        assert records[guid]["duplicate_of"] is None
        assert fed[guid]["doi"] == doi
    assert result.stats["envision/dedup/doi_adopted"] == SHARED
    assert all(records[g]["doi"] is None for g in records if g not in expected_dois(osf))  # none invented


def test_osf_winner_takes_the_doi_when_datacite_arrives_later(servers, tmp_path):
    osf, datacite = servers
    conf = settings(osf, datacite)
    first = run_crawl("osf", tmp_path, settings=conf["osf"], name="osf1")
    assert first.returncode == 0, first.log
    dc = run_crawl("datacite", tmp_path, settings=conf["datacite"], name="datacite")
    assert dc.returncode == 0, dc.log
    assert dc.stats["envision/dedup/doi_adopted"] == SHARED
    assert dc.stats["envision/dedup/dropped/datacite"] == SHARED
    records = stored(tmp_path, "osf")
    for guid, doi in expected_dois(osf).items():
        assert records[guid]["doi"] == doi  # the stored winner was rewritten
    # its feed line said doi null: the next OSF crawl emits it again, with the DOI
    again = run_crawl("osf", tmp_path, settings=conf["osf"], name="osf2")
    assert again.returncode == 0, again.log
    fed = {item["source_id"]: item for item in again.items}
    assert {g: fed[g]["doi"] for g in expected_dois(osf)} == expected_dois(osf)
    assert set(fed) == set(expected_dois(osf))  # the rest is unchanged and delivered: skipped
    assert stored(tmp_path, "osf")[next(iter(expected_dois(osf)))]["doi"]  # re-stored with the DOI

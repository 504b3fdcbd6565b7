"""``scrapy download`` locks only as many records as it downloads at once
(ENVISION_DOWNLOAD_RECORDS_IN_FLIGHT; by default ENVISION_DOWNLOAD_CONCURRENCY when the state is
shared), so a second node sharing the state finds the rest free."""

from __future__ import annotations

from pathlib import Path

import pytest

from envision_spiders.state.db import open_state
from tests.pipelines.test_files import blob, file_entry, finished_download, kill, start_download, store
from tests.servers.stall_files import StallingFileServer


@pytest.mark.parametrize("backend, settings", [
    ("sqlite", {"ENVISION_DOWNLOAD_RECORDS_IN_FLIGHT": 2}),
    ("postgres", {"ENVISION_DOWNLOAD_CONCURRENCY": 2}),  # the default bound on a shared state
])
def test_download_leases_no_more_records_than_it_has_in_flight(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str, settings: dict[str, int]
) -> None:
    data = tmp_path / "data"
    url = request.getfixturevalue("postgres_database") if backend == "postgres" else ""
    with StallingFileServer() as server:
        bodies = {str(i): blob(20_000 + i, f"rif{i}") for i in range(1, 6)}
        for sid, body in bodies.items():
            store(data, sid, [file_entry("a.bin", body, server.put(f"rif/{sid}/a.bin", body))])
        server.stall_after(0)  # every file request waits: the records stay in flight
        proc = start_download(data, tmp_path / "dl.log", {**settings, "ENVISION_STATE_URL": url})
        state = open_state(url, data)
        try:
            assert server.stalled.wait(90), (tmp_path / "dl.log").read_text()[-3000:]
            assert len(state.leases("download")) == 2  # five records stored, two taken
            server.resume()
            code, stats, log = finished_download(proc, tmp_path / "dl.log")
        finally:
            kill(proc)
            server.resume()
            state.close()
    assert code == 0, log[-3000:]
    assert stats["records/complete"] == 5
    for sid, body in bodies.items():
        assert (data / "downloads" / "zenodo" / sid / "a.bin").read_bytes() == body

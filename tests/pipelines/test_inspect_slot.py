"""File requests (archive inspection) have their own downloader slot and rate, apart from search."""

from __future__ import annotations

import io
import zipfile

from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from envision_spiders.http.slots import file_slot
from envision_spiders.spiders.zenodo import ZenodoSpider
from tests.conftest import run_crawl
from tests.servers.zenodo import FakeZenodo


def small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in range(3):
            zf.writestr(f"images/{n}.txt", f"entry {n}")
    return buf.getvalue()


def zenodo_settings(monkeypatch, token: bool, **cmdline) -> Settings:
    if token:
        monkeypatch.setenv("ZENODO_ACCESS_TOKEN", "t")
    else:
        monkeypatch.delenv("ZENODO_ACCESS_TOKEN", raising=False)
    settings = get_project_settings()
    for key, value in cmdline.items():
        settings.set(key, value, priority="cmdline")
    ZenodoSpider.update_settings(settings)
    return settings


def test_the_file_slot_takes_the_documented_file_rate_with_a_token(monkeypatch):
    with_token = zenodo_settings(monkeypatch, token=True)
    slot = with_token.getdict("DOWNLOAD_SLOTS")[file_slot("zenodo")]
    assert slot["delay"] == round(3600 / with_token.getfloat("ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN"), 3)
    assert slot["delay"] != with_token.getfloat("DOWNLOAD_DELAY")  # not the search delay


def test_a_guest_has_no_zenodo_file_slot(monkeypatch):
    """A guest's overall limit is hardly above the search rate: files share the search slot."""
    guest = zenodo_settings(monkeypatch, token=False)
    assert file_slot("zenodo") not in guest.getdict("DOWNLOAD_SLOTS")


def test_a_file_slot_given_on_the_command_line_wins(monkeypatch):
    settings = zenodo_settings(monkeypatch, token=True, DOWNLOAD_SLOTS={"zenodo:files": {"delay": 7.0}})
    assert settings.getdict("DOWNLOAD_SLOTS")["zenodo:files"] == {"delay": 7.0}


def test_a_delay_given_on_the_command_line_caps_the_file_slot_delay(monkeypatch):
    file_delay = 3600 / zenodo_settings(monkeypatch, token=True).getfloat("ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN")
    assert file_delay > 0.5
    capped = zenodo_settings(monkeypatch, token=True, DOWNLOAD_DELAY=0.5)
    assert capped.getdict("DOWNLOAD_SLOTS")[file_slot("zenodo")]["delay"] == 0.5
    off = zenodo_settings(monkeypatch, token=True, DOWNLOAD_DELAY=0)  # delays off: a local server
    assert off.getdict("DOWNLOAD_SLOTS")[file_slot("zenodo")]["delay"] == 0


def test_inspection_requests_do_not_wait_behind_the_search_delay(tmp_path):
    """Search at one request per 1.5 s, files at 10/s: the archive reads of one page's records
    follow each other at the file rate. Sharing the search slot, each would wait 1.5 s."""
    archive = small_zip()
    fake = FakeZenodo(n_records=12, file_bytes=lambda key: archive if key.endswith(".zip") else None)
    with fake:
        result = run_crawl(
            "zenodo", tmp_path,
            settings={
                "ZENODO_API_URL": f"{fake.base_url}/api",
                "ENVISION_INSPECT_ENABLED": True,
                "DOWNLOAD_DELAY": 1.5,
                "ZENODO_FILE_REQUESTS_PER_HOUR_TOKEN": 36000,
            },
            env={"ZENODO_ACCESS_TOKEN": fake.token},
        )
        starts = [call.at for call in fake.calls_to("file")]
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats.get("envision/inspect/status/complete", 0) >= 5
    assert len(starts) >= 6
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert max(gaps) < 1.0, gaps  # not spaced by the search delay
    assert min(gaps) >= 0.08, gaps  # but by their own rate (0.1 s)

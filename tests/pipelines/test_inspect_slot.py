"""File requests (archive inspection) have their own downloader slot and rate, apart from search."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from envision_spiders.http.slots import file_slot, shared_slot
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


@pytest.mark.parametrize("user_slots", [None, {"127.0.0.2": {"delay": 0}}], ids=["default", "with -s DOWNLOAD_SLOTS"])
def test_figshare_keeps_api_and_file_host_in_one_one_per_second_budget(tmp_path, user_slots):
    """Figshare documents one rate for every request: its search, details and the downloads on
    its file host (another host name here, as ndownloader.figshare.com is) share one slot, so
    no two requests to Figshare come closer than the delay. Per-host slots would give the file
    host a second budget: an article's downloads would go out beside the next detail request.
    A user's ``-s DOWNLOAD_SLOTS`` for another host keeps the shared slot too."""
    from tests.servers.figshare import FakeFigshare

    delay = 0.3
    fake = FakeFigshare(n_articles=8, files_host="localhost",
                        file_bytes=lambda name: small_zip() if name.endswith(".zip") else None)
    extra = {"DOWNLOAD_SLOTS": json.dumps(user_slots)} if user_slots else {}
    with fake:
        result = run_crawl("figshare", tmp_path, settings={
            "FIGSHARE_API_URL": f"{fake.base_url}/v2", "ENVISION_INSPECT_ENABLED": True, "DOWNLOAD_DELAY": delay,
            **extra})
        figshare = sorted(call.at for call in fake.calls)  # every host of Figshare; not the object store
        downloads = fake.calls_to("download")
        stored = fake.storage.calls_to("object")
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats.get("envision/inspect/status/complete", 0) >= 2
    assert len(downloads) >= 3 and len(stored) >= len(downloads)
    gaps = [b - a for a, b in zip(figshare, figshare[1:])]
    assert min(gaps) >= delay - 0.05, sorted(gaps)[:5]
    # the object store the downloads redirect to is not Figshare: its hops leave the budget
    assert result.stats.get("envision/slots/left_on_redirect", 0) == len(downloads)


def test_a_redirect_to_the_object_store_does_not_wait_in_the_file_slot(tmp_path):
    """Dryad's downloads (file slot, 1 per 0.6 s here) 302 to a presigned S3 URL: the hop goes
    out at once, not one file delay later, and the next download keeps the file rate."""
    from tests.servers.base import FakeAPI, ranged_reply
    from tests.servers.dryad import FakeDryad

    class ObjectStore(FakeAPI):
        bind_host = "127.0.0.2"

        def __init__(self) -> None:
            super().__init__()
            self.route("object", "GET", r"/(.+)", lambda call, m: ranged_reply(call, small_zip()))

    delay = 0.6
    with ObjectStore() as store:
        fake = FakeDryad(n_eye=4, n_other=0, storage_url=lambda path: f"{store.base_url}/{path}")
        with fake:
            result = run_crawl("dryad", tmp_path, settings={
                "DRYAD_API_URL": f"{fake.base_url}/api/v2", "ENVISION_INSPECT_ENABLED": True,
                "DOWNLOAD_SLOTS": json.dumps({"dryad:files": {"delay": delay, "jitter": 0, "concurrency": 1}})},
                env={"DRYAD_TOKEN": fake.token})
            downloads = sorted(call.at for call in fake.calls_to("download"))
        hops = sorted(call.at for call in store.calls)
    assert result.returncode == 0, result.log[-3000:]
    assert len(downloads) == 4 and len(hops) == 4
    gaps = [b - a for a, b in zip(downloads, downloads[1:])]
    assert min(gaps) >= delay - 0.05, gaps  # the file rate is kept
    assert max(hop - download for download, hop in zip(downloads, hops)) < delay / 2  # hops do not queue


def test_a_shared_rate_source_gets_one_slot_at_its_delay(monkeypatch):
    from envision_spiders.spiders.figshare import FigshareSpider

    settings = get_project_settings()
    FigshareSpider.update_settings(settings)
    assert settings.getdict("DOWNLOAD_SLOTS")[shared_slot("figshare")] == {"delay": 1.0, "jitter": 0, "concurrency": 1}
    faster = get_project_settings()
    faster.set("DOWNLOAD_DELAY", 0.2, priority="cmdline")
    FigshareSpider.update_settings(faster)
    assert faster.getdict("DOWNLOAD_SLOTS")[shared_slot("figshare")]["delay"] == 0.2
    assert shared_slot("zenodo") not in zenodo_settings(monkeypatch, token=True).getdict("DOWNLOAD_SLOTS")


def test_a_shared_rate_sources_api_and_file_requests_name_the_same_slot():
    from scrapy.utils.test import get_crawler

    from envision_spiders.pipelines.inspect import ArchiveInspectionPipeline
    from envision_spiders.spiders.figshare import FigshareSpider

    project = {k: v for k, v in get_project_settings().copy_to_dict().items() if not k.startswith(("TWISTED_", "ASYNCIO_"))}
    crawler = get_crawler(FigshareSpider, project)  # the spider's update_settings applied
    spider = FigshareSpider.from_crawler(crawler)
    api = spider.api_request(f"{spider.api_url}/articles/1", spider.parse_detail, meta={"x": 1})
    pipeline = ArchiveInspectionPipeline.from_crawler(crawler)
    assert api.meta == {"download_slot": shared_slot("figshare"), "x": 1}
    assert pipeline.request_meta({"source": "figshare"}) == {"download_slot": shared_slot("figshare")}
    assert pipeline.request_meta({"source": "osf"}) == {}  # no budget slot of its own in this crawl

"""BudgetSlotMiddleware: a redirect hop off the repository's origin leaves its rate-budget slot
for the object store's slot, with the store's politeness, not the repository's delay."""

from __future__ import annotations

from types import SimpleNamespace

from scrapy import Request
from scrapy.utils.test import get_crawler

from envision_spiders.middlewares.slots import BudgetSlotMiddleware


def hop(url: str, came_from: str, slot: str) -> Request:
    return Request(url, meta={"download_slot": slot, "redirect_urls": [came_from]})


def middleware(settings: dict | None = None) -> BudgetSlotMiddleware:
    from envision_spiders import settings as project

    crawler = get_crawler(settings_dict={"ENVISION_OBJECT_STORE_SLOT": project.ENVISION_OBJECT_STORE_SLOT,
                                         **(settings or {})})
    crawler.stats.open_spider()
    # the downloader's per-slot settings, read when it creates a slot
    crawler.engine = SimpleNamespace(downloader=SimpleNamespace(per_slot_settings={}))
    return BudgetSlotMiddleware.from_crawler(crawler)


def test_a_hop_to_an_object_store_leaves_the_shared_slot_and_is_counted():
    mw = middleware()
    request = hop("https://s3.example.com/bucket/f?sig=1", "https://ndownloader.figshare.com/files/1", "figshare:all")
    mw.process_request(request)
    assert request.meta["download_slot"] == "s3.example.com:object-store"
    assert mw.stats.get_value("envision/slots/left_on_redirect") == 1
    # the store's own politeness: no delay (keyed by its host alone it would get the spider's DOWNLOAD_DELAY)
    slot = mw.crawler.engine.downloader.per_slot_settings["s3.example.com:object-store"]
    assert slot["delay"] == 0 and slot["concurrency"] == 4


def test_a_hop_to_another_origin_leaves_a_file_slot():
    mw = middleware()
    request = hop("https://bucket.s3.amazonaws.com/f", "https://datadryad.org/api/v2/files/1/download", "dryad:files")
    mw.process_request(request)
    assert request.meta["download_slot"] == "bucket.s3.amazonaws.com:object-store"


def test_a_users_download_slots_entry_for_an_object_store_slot_wins():
    mw = middleware()
    mw.crawler.engine.downloader.per_slot_settings["s3.example.com:object-store"] = {"delay": 0.5}
    mw.process_request(hop("https://s3.example.com/f", "https://ndownloader.figshare.com/files/1", "figshare:all"))
    assert mw.crawler.engine.downloader.per_slot_settings["s3.example.com:object-store"] == {"delay": 0.5}


def test_a_hop_within_the_origin_stays_in_the_budget():
    mw = middleware()
    request = hop("https://zenodo.org/records/1/files/a.zip", "https://zenodo.org/record/1/files/a.zip", "zenodo:files")
    mw.process_request(request)
    assert request.meta["download_slot"] == "zenodo:files"
    assert mw.stats.get_value("envision/slots/left_on_redirect") is None


def test_other_slots_keep_scrapys_behaviour():
    """A per-host slot (or a user's DOWNLOAD_SLOTS entry) is not a repository's budget."""
    mw = middleware()
    request = hop("https://storage.googleapis.com/x", "https://www.kaggle.com/api/v1/datasets/download/a/b", "www.kaggle.com")
    mw.process_request(request)
    assert request.meta["download_slot"] == "www.kaggle.com"


def test_a_first_request_is_left_alone():
    mw = middleware()
    request = Request("https://s3.example.com/f", meta={"download_slot": "figshare:all"})
    mw.process_request(request)
    assert request.meta["download_slot"] == "figshare:all"


def zip_of_size(size: int) -> bytes:
    """A ZIP of three stored "PNG" entries, exactly ``size`` bytes (the size the fake lists)."""
    import io
    import zipfile

    def build(last: int) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            for n, length in enumerate((1000, 1000, last)):
                zf.writestr(f"img/{n}.png", b"\x89PNG\r\n\x1a\n" + b"\0" * length)
        return buf.getvalue()

    return build(1000 + size - len(build(1000)))


def test_object_store_reads_after_a_redirect_do_not_wait_the_repositorys_delay(crawl):
    """Figshare's archive inspection goes through its shared slot (here one request per 0.5 s);
    the 302 to the object store leaves it, and the store's later reads of that archive (sent
    to the store directly) are not spaced by Figshare's delay: they reach the store closer
    together than that delay."""
    from tests.servers.figshare import FakeFigshare

    fake = FakeFigshare(n_articles=7, files_host="localhost", file_bytes=lambda name: None)
    with fake:
        sizes = {str(f["id"]): f["size"] for a in fake.all_articles() for f in a["files"] if f["name"].endswith(".zip")}
        fake.storage.object_bytes = lambda file_id: zip_of_size(sizes[file_id]) if file_id in sizes else None
        result = crawl("figshare", settings={
            "FIGSHARE_API_URL": f"{fake.base_url}/v2", "DOWNLOAD_DELAY": 0.5, "ENVISION_INSPECT_ENABLED": True,
            "ENVISION_INSPECT_TAIL_BYTES": 1024, "ENVISION_INSPECT_SNIFF_BYTES": 64,
            "ENVISION_INSPECT_SNIFF_MERGE_GAP": 0, "ENVISION_INSPECT_MULTIRANGE": False})
    assert result.returncode == 0, result.log
    reads: dict[str, list[float]] = {}
    for call in fake.storage.calls_to("object"):
        reads.setdefault(call.path, []).append(call.at)
    gaps = [b - a for times in reads.values() for a, b in zip(times, times[1:])]
    assert gaps, f"no archive was read more than once at the store: {reads}"
    assert max(gaps) < 0.25, f"store reads spaced by the repository's delay: {gaps}"
    assert result.stats["envision/inspect/images_sniffed"] >= 3

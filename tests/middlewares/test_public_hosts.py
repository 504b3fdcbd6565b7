"""The network fence: only http(s), only public addresses (after DNS, on every redirect hop),
for every request the crawler makes — above all URLs that come from the data."""

from __future__ import annotations

import asyncio
import zipfile
from io import BytesIO

import pytest
from scrapy import Request
from scrapy.exceptions import NotConfigured

from envision_spiders.http.fence import HostAllowance, address_problem, scheme_problem, service_url_problem
from envision_spiders.middlewares.public_hosts import PublicHostsMiddleware, RequestRefused
from tests.conftest import project_crawler
from tests.pipelines.test_inspect import f, record, run_probe
from tests.servers.nginx import NginxServer


@pytest.mark.parametrize(
    "address, problem",
    [
        ("8.8.8.8", None), ("2606:4700::1", None),
        ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link_local"), ("fe80::1", "link_local"),
        ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "private"), ("fd00::1", "private"),
        ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"),
    ],
)
def test_address_classes(address, problem):
    assert address_problem(address) == problem


@pytest.mark.parametrize("url", ["file:///dev/zero", "data:,x", "data:text/plain;base64,AAAA", "ftp://example.org/a.zip", "s3://bucket/a.zip",
                                 "gopher://example.org/"])
def test_only_http_and_https_schemes(url):
    assert scheme_problem(url) == "scheme"
    assert scheme_problem("https://example.org/a.zip") is None
    assert scheme_problem("data:,") is None  # empty: a spider's idle callback (NEI)


def test_allowance_names_match_hosts_and_networks_match_addresses():
    allow = HostAllowance.parse(["127.0.0.1", "10.1.0.0/16", "Mirror.Lab"])
    assert allow.allows("127.0.0.1") and allow.allows("mirror.lab")
    assert not allow.allows("localhost", "127.0.0.1")  # a name resolving to an allowed literal
    assert allow.allows("files.lab", "10.1.2.3") and not allow.allows("files.lab", "10.2.0.1")


@pytest.mark.parametrize(
    "url, ok",
    [("https://portal.example.org/api/batches", True), ("http://127.0.0.1:8080/api", True),
     ("http://localhost/api", True), ("http://[::1]:8080/api", True),
     ("http://portal.example.org/api/batches", False), ("http://10.0.0.5/api", False), ("ftp://x/y", False)],
)
def test_portal_url_must_be_https_unless_loopback(url, ok):
    assert (service_url_problem(url) is None) == ok


def check(middleware: PublicHostsMiddleware, url: str) -> None:
    asyncio.run(middleware.process_request(Request(url)))


def test_middleware_refuses_and_counts_by_reason():
    crawler = project_crawler(ENVISION_FENCE_ALLOW=[], ZENODO_API_URL="http://10.9.8.7:5000/api")
    middleware = PublicHostsMiddleware.from_crawler(crawler)
    for url, reason in [("file:///dev/zero", "scheme"), ("http://169.254.169.254/latest/meta-data/", "link_local"),
                        ("http://127.0.0.1:6800/addversion.json", "loopback"), ("http://[::1]/x", "loopback"),
                        ("http://192.168.0.10/a.zip", "private")]:
        with pytest.raises(RequestRefused) as refused:
            check(middleware, url)
        assert refused.value.reason == reason
        assert crawler.stats.get_value(f"envision/fence/refused/{reason}") >= 1
    check(middleware, "https://93.184.215.14/a.zip")  # a public address
    # the configured API root's origin is trusted for its address, not another port or scheme
    check(middleware, "http://10.9.8.7:5000/api/records?page=2")
    with pytest.raises(RequestRefused):
        check(middleware, "http://10.9.8.7:5001/api/records")


def test_middleware_allowance_and_switch():
    middleware = PublicHostsMiddleware.from_crawler(project_crawler(ENVISION_FENCE_ALLOW=["127.0.0.0/8"]))
    check(middleware, "http://127.0.0.2:8080/files/a.zip")
    with pytest.raises(RequestRefused):
        check(middleware, "http://169.254.169.254/")
    with pytest.raises(RequestRefused):  # the allowance never re-enables other schemes
        check(middleware, "file:///dev/zero")
    with pytest.raises(NotConfigured):
        PublicHostsMiddleware.from_crawler(project_crawler(ENVISION_FENCE_ENABLED=False))


def test_an_origin_let_through_is_not_checked_again_and_its_neighbours_still_are(monkeypatch):
    crawler = project_crawler(ENVISION_FENCE_ALLOW=["127.0.0.1"], ZENODO_API_URL="http://10.9.8.7:5000/api")
    middleware = PublicHostsMiddleware.from_crawler(crawler)
    asked: list[str] = []
    monkeypatch.setattr(middleware.allowance.__class__, "allows",
                        lambda self, host, address=None: asked.append(host) or host == "127.0.0.1")
    for i in range(3):
        check(middleware, f"http://127.0.0.1:8080/files/{i}.jpg")
        check(middleware, f"http://10.9.8.7:5000/api/files/{i}")
    assert asked == ["127.0.0.1"]  # the API root is trusted before the allowance is asked
    check(middleware, "https://127.0.0.1:8080/a")  # another origin of the same host: asked again
    assert asked == ["127.0.0.1", "127.0.0.1"]
    for url in ["http://10.9.8.7:5001/api", "http://127.0.0.2:8080/a", "ftp://127.0.0.1:8080/a"]:
        with pytest.raises(RequestRefused):  # another port, host or scheme: checked, and refused
            check(middleware, url)


def test_unused_download_handlers_are_off():
    crawler = project_crawler()
    handlers = crawler.settings.getdict("DOWNLOAD_HANDLERS")
    assert all(handlers[scheme] is None for scheme in ("file", "s3", "ftp"))


def small_zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan_001.txt", b"x" * 100)
    return buffer.getvalue()


def test_urls_from_data_never_leave_when_not_public(nginx: NginxServer, tmp_path):
    """file:///dev/zero named scan.zip, the metadata service, a name resolving to loopback and a
    redirect to another loopback address: inspected records say why, nothing is fetched."""
    data = small_zip()
    nginx.put("fence.zip", data)
    local_name = nginx.url("fence.zip").replace("127.0.0.1", "localhost")
    records = [
        record("zero", f("scan.zip", "file:///dev/zero", 1 << 40, access="open")),
        record("metadata", f("creds.zip", "http://169.254.169.254/latest/meta-data/creds.zip", 1000)),
        record("dns", f("fence.zip", local_name, len(data))),
        record("redirect", f("fence.zip", nginx.url("fence.zip", "redirect"), len(data))),
        record("allowed", f("fence.zip", nginx.url("fence.zip"), len(data))),
    ]
    items, stats, log, output = run_probe(nginx, tmp_path, records, {
        "ENVISION_INSPECT_ENABLED": True, "ENVISION_FENCE_ALLOW": "127.0.0.1"})

    def report(source_id: str) -> dict:
        [report] = items[source_id]["archive_contents"]
        return report

    for source_id, reason in [("zero", "scheme"), ("metadata", "link_local"), ("dns", "loopback"),
                              ("redirect", "loopback")]:
        assert report(source_id)["status"] == "error"
        assert f"refused by the network fence ({reason}" in report(source_id)["error"], report(source_id)
    assert report("allowed")["status"] == "complete"
    assert "127.0.0.1" in report("dns")["error"]  # the resolved address is named
    assert stats["envision/fence/refused/scheme"] == 1
    assert stats["envision/fence/refused/link_local"] == 1
    assert stats["envision/fence/refused/loopback"] == 2
    # only the allowed origin was contacted: the redirect's first hop, and the allowed file
    assert {e["uri"].split("/")[1] for e in log} == {"files", "redirect"}
    assert not [e for e in log if e.get("host", "").startswith("127.0.0.2")]
    assert stats["downloader/request_count"] == 2  # the redirect's first hop and the allowed file
    assert [k for k in stats if k.startswith("downloader/exception_type_count/")] == [
        "downloader/exception_type_count/envision_spiders.middlewares.public_hosts.RequestRefused"], output[-2000:]

"""A bare file's record from HTTP headers (``pages.remote_file``), with no server."""

from __future__ import annotations

import asyncio

import pytest

from envision_spiders.pages.remote_file import disposition_filename, http_date, is_html, remote_file_record


@pytest.mark.parametrize("value, name", [
    ("attachment; filename*=UTF-8''fundus%20set.zip", "fundus set.zip"),
    ('attachment; filename="oct \\"v2\\".tar.gz"', 'oct "v2".tar.gz'),
    ("inline; filename=../../etc/passwd", "passwd"),
    ('attachment; filename="C:\\\\data\\\\scans.zip"', "scans.zip"),
    ("attachment", None),
])
def test_the_name_comes_from_content_disposition_without_folders(value, name):
    assert disposition_filename(value) == name


def test_a_record_from_headers_names_the_file_by_the_url_without_a_disposition():
    headers = {"Content-Type": "application/zip", "Last-Modified": "Tue, 02 Jan 2024 03:04:05 GMT", "ETag": '"abc"'}
    record = asyncio.run(remote_file_record("https://data.example.org/eye/retina%20scans.zip?x=1", headers, 2048,
                                            doi="10.5555/x"))
    assert (record.source, record.source_id, record.doi) == ("url", "data.example.org/eye/retina%20scans.zip?x=1",
                                                             "10.5555/x")
    assert record.title == "retina scans.zip" and record.archive_count == 1 and record.size_mb == 0.002
    assert record.files == [{"name": "retina scans.zip", "size": 2048, "url": "https://data.example.org/eye/retina%20scans.zip?x=1",
                             "checksum": None, "mimetype": "application/zip", "access": "open"}]
    assert record.modified == "2024-01-02T03:04:05+00:00" and record.extra["etag"] == '"abc"'


def test_html_types_and_bad_dates():
    assert is_html({"Content-Type": "text/html; charset=utf-8"}) and not is_html({"Content-Type": "application/zip"})
    assert http_date("yesterday") is None

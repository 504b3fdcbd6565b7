"""A bare file or archive URL -> a one-file DatasetRecord from its HTTP headers.

The answer is a ``HEAD`` (or, where HEAD is refused, a ranged ``GET`` of one byte): the name
comes from ``Content-Disposition`` (``filename*=`` then ``filename=``) or the URL's last path
segment, the size is given by the caller (``Content-Length`` of a HEAD, ``content_length``;
the total of a ranged answer, ``http.ranges``), the type from ``Content-Type``, ``modified``
from ``Last-Modified``. What is inside
an archive is read later by the inspection pipeline (HTTP Range), like any record's files.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from envision_spiders.items import DatasetRecord, FileEntry
from envision_spiders.pages.portal import PortalRecord

SOURCE = "url"
HTML_TYPES = ("text/html", "application/xhtml+xml")
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*(?:[\w-]+)?'[^']*'([^;]+)", re.IGNORECASE)
_FILENAME = re.compile(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)


def header(headers: Any, name: str) -> str:
    """A header's first value as text ('' when absent): Scrapy's bytes headers or a plain dict."""
    value = headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return (value or "").strip()


def disposition_filename(value: str) -> str | None:
    """``attachment; filename*=UTF-8''a%20b.zip`` -> ``a b.zip``; a bare name only (no folders)."""
    match = _FILENAME_STAR.search(value or "")
    name = unquote(match.group(1).strip().strip('"')) if match else None
    if not name:
        match = _FILENAME.search(value or "")
        name = (match.group(1) or match.group(2)).replace('\\"', '"') if match else None
    name = posixpath.basename((name or "").replace("\\", "/")).strip()
    return name or None


def url_filename(url: str) -> str:
    path = unquote(urlsplit(url).path).rstrip("/")
    return posixpath.basename(path) or (urlsplit(url).hostname or "download")


def content_type(headers: Any) -> str:
    return header(headers, "Content-Type").split(";")[0].strip().lower()


def is_html(headers: Any) -> bool:
    return content_type(headers) in HTML_TYPES


def content_length(headers: Any) -> int | None:
    length = header(headers, "Content-Length")
    return int(length) if length.isdigit() else None


def http_date(value: str) -> str | None:
    """An HTTP date -> ISO 8601 (UTC), or None."""
    try:
        return parsedate_to_datetime(value).isoformat() if value else None
    except (TypeError, ValueError):
        return None


def file_id(url: str) -> str:
    """``host/path`` (and query): one id per URL across hosts."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def remote_file_facts(url: str, headers: Mapping[str, Any] | Any, size: int | None,
                      doi: str | None = None) -> dict[str, Any]:
    """The record's fields for the file at ``url`` (the address after redirects), of ``size``
    bytes, answered with ``headers``; ``doi``: the DOI the input named, if any."""
    name = disposition_filename(header(headers, "Content-Disposition")) or url_filename(url)
    mimetype = content_type(headers) or None
    entry = FileEntry(name=name, size=size, url=url, checksum=None,
                      mimetype=mimetype, access="open")
    modified = http_date(header(headers, "Last-Modified"))
    return {
        "source": SOURCE,
        "source_id": file_id(url),
        "doi": doi,
        "url": url,
        "title": name,
        "modified": modified,
        "publication_date": modified[:10] if modified else None,
        "access_type": "open",
        "files": [entry],
        "extra": {"extraction": "http_headers", "etag": header(headers, "ETag") or None},
    }


async def remote_file_record(url: str, headers: Any, size: int | None, doi: str | None = None) -> DatasetRecord:
    return await PortalRecord(remote_file_facts(url, headers, size, doi)).to_item()

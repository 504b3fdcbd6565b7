"""A fake Zenodo REST API (legacy JSON serializer) that behaves as docs/sources-zenodo.md describes:
page size capped at 25 anonymous / 100 with a token (400 above), paging limited to the
result window (400 past it) while ``links.next`` is still computed from the total,
``publication_date``/``updated`` range filters inside ``q``, and scripted faults. ``drift`` makes
it answer like an API that changed under us (what ``scrapy canary`` must notice):
``"no_next"`` leaves ``links.next`` out, ``"creators_renamed"`` serves ``metadata.creators`` as
``metadata.authors``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from tests.servers.base import Call, FakeAPI, Reply, ranged_reply

_TITLES = [
    ("Retinal fundus photographs for diabetic retinopathy grading", ["fundus", "diabetic retinopathy"]),
    ("OCT B-scans of the macula in age-related macular degeneration", ["OCT", "AMD"]),
    ("Visual field tests of glaucoma patients (perimetry tables)", ["glaucoma", "perimetry"]),
    ("Slit-lamp images of the anterior segment with cataract grades", ["slit lamp", "cataract"]),
    ("Code for retinal vessel segmentation (no data)", ["software", "retina"]),
    ("Chest X-ray images for pneumonia detection", ["x-ray"]),
]
_FILES = [
    [("images.zip", 302_100_000), ("labels.csv", 12_000)],
    [("oct_volumes.tar.gz", 1_200_000_000), ("README.md", 2_000)],
    [("fields.xlsx", 80_000)],
    [("slitlamp/photo_001.jpg", 1_500_000), ("slitlamp/photo_002.jpg", 1_400_000)],
    [("vessel-seg-main.zip", 900_000)],
    [("cxr.zip", 2_000_000_000)],
]


def make_record(i: int, html_base: str, api_base: str, start: date = date(2015, 1, 1)) -> dict[str, Any]:
    """Record number ``i`` (1-based): deterministic, varied, in the legacy JSON shape."""
    title, keywords = _TITLES[i % len(_TITLES)]
    recid = 100000 + 2 * i  # versions of concept 100000+2i-1 would sit in between
    published = start + timedelta(days=(i * 7) % 3650)
    files = []
    for name, size in _FILES[i % len(_FILES)]:
        key = f"{i}-{name}" if "/" not in name else name
        files.append(
            {
                "id": f"f{i}-{len(files)}",
                "key": key,
                "size": size,
                "checksum": "md5:" + hashlib.md5(f"{recid}/{key}".encode()).hexdigest(),
                "links": {"self": f"{api_base}/records/{recid}/files/{quote(key)}/content"},
            }
        )
    return {
        "id": recid,
        "recid": str(recid),
        "conceptrecid": str(recid - 1),
        "doi": f"10.5281/zenodo.{recid}",
        "conceptdoi": f"10.5281/zenodo.{recid - 1}",
        "doi_url": f"https://doi.org/10.5281/zenodo.{recid}",
        "created": f"{published.isoformat()}T10:00:00.000000+00:00",
        "modified": f"{published.isoformat()}T12:00:00.000000+00:00",
        "updated": f"{published.isoformat()}T12:00:00.000000+00:00",
        "title": f"{title} #{i}",
        "links": {
            "self": f"{api_base}/records/{recid}",
            "self_html": f"{html_base}/records/{recid}",
        },
        "metadata": {
            "title": f"{title} #{i}",
            "doi": f"10.5281/zenodo.{recid}",
            "publication_date": published.isoformat(),
            "description": f"<p>{title}. Collected at site {i % 7}.</p><p>Images &amp; labels.</p>",
            "access_right": "open" if i % 9 else "restricted",
            "creators": [{"name": f"Author, {chr(65 + i % 26)}.", "affiliation": "Eye Institute"}],
            "keywords": keywords,
            "resource_type": {"title": "Dataset", "type": "dataset"},
            "license": {"id": "cc-by-4.0"},
            "related_identifiers": [
                {"identifier": f"10.1000/paper.{i}", "relation": "isSupplementTo", "scheme": "doi"},
                {"identifier": f"https://github.com/lab/project{i}", "relation": "isSupplementedBy", "scheme": "url"},
            ],
            "version": "1.0",
        },
        "files": files if i % 9 else [],
    }


def real_files(root: Path, recid: int, api_base: str) -> list[dict[str, Any]]:
    """The files under ``root/records/{recid}/files/`` in the legacy JSON shape (real size and md5)."""
    folder = root / "records" / str(recid) / "files"
    if not folder.is_dir():
        return []
    files = []
    for n, path in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        key = path.relative_to(folder).as_posix()
        md5 = hashlib.md5()
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                md5.update(block)
        files.append(
            {
                "id": f"real-{recid}-{n}",
                "key": key,
                "size": path.stat().st_size,
                "checksum": "md5:" + md5.hexdigest(),
                "links": {"self": f"{api_base}/records/{recid}/files/{quote(key)}/content"},
            }
        )
    return files


_RANGE = re.compile(r"(publication_date|updated):\[(\S+) TO (\S+)\]")


class FakeZenodo(FakeAPI):
    def __init__(
        self,
        n_records: int = 60,
        window: int = 10000,
        token: str = "zenodo-test-token",
        html_base: str | None = None,
        files_root: Path | None = None,
        file_bytes: Callable[[str], bytes | None] | None = None,
    ) -> None:
        super().__init__()
        self.n_records = n_records
        self.window = window
        self.token = token
        self.html_base = html_base
        # When set, a record whose folder ``files_root/records/{recid}/files/`` exists lists the
        # real files found there (size and md5 of their bytes), e.g. served by nginx at html_base.
        self.files_root = files_root
        self.modified_overrides: dict[int, str] = {}
        self.broken_pages: set[int] = set()  # pages that always answer an HTML error page
        self.drift: set[str] = set()  # "no_next", "creators_renamed"
        self._cache: tuple[tuple, list[dict[str, Any]]] | None = None
        self.route("search", "GET", r"/api/records/?", self.search)
        self.route("record", "GET", r"/api/records/(\d+)", self.record)
        # the landing-page file route the spider reads archives from (Range), with ``file_bytes``
        self.file_bytes = file_bytes
        if file_bytes is not None:
            self.route("file", "GET", r"/records/(\d+)/files/(.+)", self.file)

    def file(self, call: Call, match: Any) -> Reply:
        data = self.file_bytes(unquote(match.group(2))) if self.file_bytes else None
        if data is None:
            return Reply.json({"status": 404, "message": "not found"}, 404)
        return ranged_reply(call, data)

    def all_records(self) -> list[dict[str, Any]]:
        """Every record, oldest first; rebuilt only when the test changed something."""
        key = (self.n_records, self.html_base, self.files_root, tuple(sorted(self.modified_overrides.items())))
        if self._cache is None or self._cache[0] != key:
            api = f"{self.base_url}/api"
            records = [make_record(i, self.html_base or self.base_url, api) for i in range(1, self.n_records + 1)]
            for rec in records:
                if self.files_root is not None and rec["files"]:
                    rec["files"] = real_files(self.files_root, rec["id"], api) or rec["files"]
                if rec["id"] in self.modified_overrides:
                    rec["modified"] = rec["updated"] = self.modified_overrides[rec["id"]]
            records.sort(key=lambda r: (r["created"], r["id"]))
            self._cache = (key, records)
        return self._cache[1]

    def search(self, call: Call, _: Any) -> Reply:
        q = call.query.get("q", [""])[0]
        size = int(call.query.get("size", ["10"])[0])
        page = int(call.query.get("page", ["1"])[0])
        authed = call.headers.get("Authorization") == f"Bearer {self.token}"
        cap = 100 if authed else 25
        if size > cap:
            return Reply.json({"status": 400, "message": f"Page size cannot be greater than {cap}."}, 400)
        if page < 1 or (page - 1) * size >= self.window:
            return Reply.json({"status": 400, "message": "Invalid pagination parameters."}, 400)
        if page in self.broken_pages:
            return Reply(200, b"<html><body>Down for maintenance</body></html>", {"Content-Type": "text/html"})
        hits = self.all_records()  # already oldest first
        for fieldname, lo, hi in _RANGE.findall(q):
            key = "publication_date" if fieldname == "publication_date" else "updated"

            def value(rec: dict[str, Any], key: str = key) -> str:
                return rec["metadata"]["publication_date"] if key == "publication_date" else rec["updated"][:10]

            hits = [r for r in hits if (lo == "*" or value(r) >= lo) and (hi == "*" or value(r) <= hi)]
        total = len(hits)
        page_hits = hits[(page - 1) * size : page * size]
        links = {"self": self._url(call, page)}
        if page * size < total and "no_next" not in self.drift:  # like Zenodo: from the total, not the window
            links["next"] = self._url(call, page + 1)
        if "creators_renamed" in self.drift:
            page_hits = [{**r, "metadata": {("authors" if k == "creators" else k): v for k, v in r["metadata"].items()}}
                         for r in page_hits]
        if page > 1:
            links["prev"] = self._url(call, page - 1)
        return Reply.json(
            {"hits": {"hits": page_hits, "total": total}, "aggregations": {}, "links": links},
            headers={"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "29"},
        )

    def record(self, call: Call, match: Any) -> Reply:
        recid = int(match.group(1))
        for rec in self.all_records():
            if rec["id"] == recid:
                return Reply.json(rec)
        return Reply.json({"status": 404, "message": "PID does not exist."}, 404)

    def _url(self, call: Call, page: int) -> str:
        params = {k: v[0] for k, v in call.query.items()}
        params["page"] = str(page)
        return f"{self.base_url}{call.path}?{urlencode(params)}"

    @staticmethod
    def rate_limited(retry_after: str = "1") -> Reply:
        return Reply.json(
            {"status": 429, "message": "Too many requests"},
            429,
            {"Retry-After": retry_after, "X-RateLimit-Remaining": "0"},
        )

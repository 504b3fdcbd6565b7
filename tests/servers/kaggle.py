"""A fake Kaggle legacy API v1 that behaves as docs/sources-figshare-kaggle-nei.md describes:
``GET /api/v1/datasets/list``
(a bare array, a fixed 20 per page, empty past the page cap), ``/datasets/list/{owner}/{slug}``
file listings (``datasetFiles`` + ``nextPageToken``), HTTP Basic (username + key) required, a
Bearer token accepted only when ``accept_bearer`` (unconfirmed on the legacy routes), 401
``{"code": 401, ...}`` otherwise, 429 ``{"code": 429, "message": "TooManyRequests"}`` with no
headers, default-valued fields left out and int64s sometimes sent as strings. Like newer
Kaggle answers, every third list row carries ``title``, ``url``, ``licenseName``, ``totalBytes``
and ``ownerRef`` under ``<name>Nullable`` with the plain key absent or ``false``
(``newer_shape``). ``GET /api/v1/datasets/download/{owner}/{slug}/{fileName}`` takes each path
parameter as one segment (the official client encodes them with ``safe=""``): a file in a
folder sent with a raw ``/`` is not found. With ``archive`` every dataset also lists that file,
and with ``file_bytes`` (name -> bytes) downloads serve those bytes with Range, or, with
``storage_url`` (``"owner/slug/name"`` -> URL), 302 there as Kaggle's do to a signed GCS URL."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote

from tests.servers.base import Call, FakeAPI, Reply, ranged_reply

PAGE_SIZE = 20
NULLABLE_KEYS = ("title", "url", "licenseName", "totalBytes", "ownerRef")
_TOPICS = [
    ("Diabetic Retinopathy Fundus Images", "APTOS-style graded fundus photographs", ["diabetic retinopathy", "image"]),
    ("Retinal OCT Images (optical coherence tomography)", "CNV, DME, drusen and normal B-scans", ["healthcare", "retina"]),
    ("Glaucoma detection dataset", "Optic disc crops labelled for glaucoma", ["glaucoma", "eye"]),
    ("Cataract image dataset", "Slit lamp photos of cataract", ["cataract", "eye"]),
    ("Myopia study questionnaire", "Tabular myopia risk factors", ["myopia", "tabular"]),
]
_LICENSES = ["CC0: Public Domain", "Attribution 4.0 International (CC BY 4.0)", "Other (specified in description)",
             "Database: Open Database, Contents: Database Contents"]


def make_dataset(i: int, start: date = date(2018, 1, 1)) -> dict[str, Any]:
    """Dataset ``i`` (1-based) as an ``ApiDataset``; defaults left out like proto-JSON."""
    title, subtitle, tags = _TOPICS[i % len(_TOPICS)]
    updated = start + timedelta(days=13 * i)
    ref = f"user{i % 7}/eye-data-{i}"
    dataset: dict[str, Any] = {
        "id": 100000 + i if i % 2 else str(100000 + i),  # int64 as number or string
        "ref": ref,
        "subtitle": subtitle,
        "creatorName": f"Creator {i}",
        "creatorUrl": f"user{i % 7}",
        "totalBytes": str(5_000_000 * i) if i % 3 == 0 else 5_000_000 * i,
        "url": f"https://www.kaggle.com/datasets/{ref}",
        "lastUpdated": f"{updated.isoformat()}T10:20:30.123Z",
        "downloadCount": 10 * i,
        "licenseName": _LICENSES[i % len(_LICENSES)],
        "description": "",
        "ownerName": f"User {i % 7}",
        "ownerRef": f"user{i % 7}",
        "title": f"{title} {i}",
        "viewCount": 100 * i,
        "voteCount": i,
        "currentVersionNumber": 1 + i % 4,
        "usabilityRating": 0.75,
        "tags": [{"ref": t, "name": t, "fullPath": f"subject > {t}"} for t in [*tags, "ophthalmology"]],
        "files": [],
        "versions": [{"versionNumber": 1, "creationDate": f"{(updated - timedelta(days=90)).isoformat()}T00:00:00Z"}],
    }
    if i % 10 == 0:
        dataset["isFeatured"] = True
    return dataset


def newer_shape(dataset: dict[str, Any], i: int) -> dict[str, Any]:
    """Dataset ``i`` as newer list answers send it, for every third dataset: the values of
    ``NULLABLE_KEYS`` under ``<name>Nullable``, the plain key absent (or ``false``)."""
    if i % 3 != 1:
        return dataset
    out = dict(dataset)
    for key in NULLABLE_KEYS:
        out[key + "Nullable"] = out.pop(key)
        if i % 2:
            out[key] = False
    return out


def make_files(i: int, archive: str | None = None) -> list[dict[str, Any]]:
    """Files of dataset ``i``: every 6th has 7 files (more than a small pageSize); ``archive``
    (a file name) is one more file of every dataset."""
    count = 7 if i % 6 == 0 else 1 + i % 3
    ref = make_dataset(i)["ref"]
    files = []
    for n in range(count + (1 if archive else 0)):
        name = archive if n == count else f"images/img_{n:03d}.png" if n else "labels.csv"
        size = 1234 * (i + n)
        files.append({"ref": f"{ref}/{name}", "datasetRef": ref, "ownerRef": ref.split("/")[0], "name": name,
                      "creationDate": "2024-01-01T00:00:00Z", "fileType": name.rsplit(".", 1)[-1],
                      "totalBytes": str(size) if n % 2 else size, "columns": []})
    return files


class FakeKaggle(FakeAPI):
    def __init__(self, n_datasets: int = 50, max_page: int = 500, username: str = "kaggle-user",
                 key: str = "kaggle-test-key", token: str = "KGAT_test_token", accept_bearer: bool = True, archive: str | None = None,
                 file_bytes: Callable[[str], bytes | None] | None = None,
                 storage_url: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.archive, self.file_bytes, self.storage_url = archive, file_bytes, storage_url
        self.n_datasets, self.max_page = n_datasets, max_page
        self.username, self.key, self.token, self.accept_bearer = username, key, token, accept_bearer
        self.route("list", "GET", r"/api/v1/datasets/list", self.list)
        self.route("files", "GET", r"/api/v1/datasets/list/([^/]+)/([^/]+)", self.files)
        self.route("download", "GET", r"/api/v1/datasets/download/([^/]+)/([^/]+)/([^/]+)", self.download)

    def _authorized(self, call: Call) -> bool:
        sent = call.headers.get("Authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.username}:{self.key}".encode()).decode()
        return sent == basic or (self.accept_bearer and sent == f"Bearer {self.token}")

    def list(self, call: Call, _: Any) -> Reply:
        if not self._authorized(call):
            return Reply.json({"code": 401, "message": "Unauthenticated"}, 401)
        words = call.query.get("search", [""])[0].lower().split()
        page = int(call.query.get("page", ["1"])[0])
        hits = []
        for i in range(1, self.n_datasets + 1):
            d = make_dataset(i)
            text = " ".join([d["title"], d["subtitle"], *[t["name"] for t in d["tags"]]]).lower()
            if all(w in text for w in words):
                hits.append(newer_shape(d, i))
        if call.query.get("sortBy", [""])[0] == "votes":
            hits.sort(key=lambda d: (-d["voteCount"], d["ref"]))
        if page > self.max_page:
            return Reply.json([])  # Kaggle: pages past the cap come back empty
        return Reply.json(hits[(page - 1) * PAGE_SIZE : page * PAGE_SIZE])

    def files(self, call: Call, match: Any) -> Reply:
        if not self._authorized(call):
            return Reply.json({"code": 401, "message": "Unauthenticated"}, 401)
        ref = f"{unquote(match.group(1))}/{unquote(match.group(2))}"
        index = next((i for i in range(1, self.n_datasets + 1) if make_dataset(i)["ref"] == ref), None)
        if index is None:
            return Reply.json({"datasetFiles": [], "errorMessage": f"Dataset {ref} not found"})
        files = make_files(index, self.archive)
        size = int(call.query.get("pageSize", ["20"])[0])
        start = int(call.query.get("pageToken", ["0"])[0] or 0)
        body: dict[str, Any] = {"datasetFiles": files[start : start + size]}
        if start + size < len(files):
            body["nextPageToken"] = str(start + size)
        return Reply.json(body)

    def download(self, call: Call, match: Any) -> Reply:
        if not self._authorized(call):
            return Reply.json({"code": 401, "message": "Unauthenticated"}, 401)
        ref, name = f"{unquote(match.group(1))}/{unquote(match.group(2))}", unquote(match.group(3))
        index = next((i for i in range(1, self.n_datasets + 1) if make_dataset(i)["ref"] == ref), None)
        if index is None or name not in [f["name"] for f in make_files(index, self.archive)]:
            return Reply.json({"code": 404, "message": "Not found"}, 404)
        if self.storage_url is not None:
            return Reply(302, b"", {"Location": self.storage_url(f"{ref}/{name}")})
        data = self.file_bytes(name) if self.file_bytes else None
        if data is not None:
            return ranged_reply(call, data)
        return Reply(200, f"{ref}/{name}".encode(), {"Content-Type": "application/octet-stream"})

    @staticmethod
    def rate_limited() -> Reply:
        return Reply.json({"code": 429, "message": "TooManyRequests"}, 429)

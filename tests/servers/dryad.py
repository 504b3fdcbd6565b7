"""A fake Dryad API v2 (HAL+JSON) that behaves as docs/sources-dryad-osf-datacite.md describes:

* ``Accept`` (or a ``Content-Type``) that is not JSON -> **406**;
* ``/api/v2/search?q=&page=&per_page=`` over title/abstract/keywords, roughly as Dryad's Solr
  edismax with ``q.op=AND`` and ``mm=2<-1 5<-2 6<90%``: clauses separated by ``OR`` are OR-ed;
  in a clause, a quoted phrase must occur as such, and of its unquoted words 1-2 must all occur,
  3-5 all but one, 6 all but two, more 90% (a word matches as a substring: stemming, loosely);
  ``modifiedSince``, ``/api/v2/versions/{id}/files``, ``/api/v2/datasets/{url-encoded doi}``
  (a raw ``/`` in the DOI is a 404);
* list envelope ``{"_links": {self, first, last, prev?, next?}, "count", "total", "_embedded"}``
  with **path-only** hrefs, ``first`` without ``page``, ``next`` absent on the last page;
  ``per_page`` default 20, clamped to 100; no depth cap; blank fields dropped;
* files: ``digest`` + ``digestType`` (sha-256, some md5, some none), ``stash:download`` only
  for downloadable files;
* auth: ``Authorization: Bearer <token>`` must be the current token, else **401** even on
  public metadata; ``POST /oauth/token`` (client credentials) issues it;
* 429 with ``RateLimit-Limit``/``RateLimit-Remaining: 0``/``RateLimit-Reset`` (epoch, no ``X-``);
* ``/api/v2/files/{id}/download``: **401 without the current bearer token** (Dryad's file
  downloads since 2026), else a 302 to the file's storage URL on another origin
  (``storage_url(path)``, e.g. nginx's storage host: a signed S3 URL on Dryad).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from tests.servers.base import Call, FakeAPI, Reply

_EYE = [
    ("Fundus photographs of diabetic retinopathy in rural clinics", ["fundus", "diabetic retinopathy"]),
    ("Optical coherence tomography of glaucoma suspects", ["OCT", "glaucoma"]),
    ("Corneal confocal microscopy in keratoconus", ["cornea", "keratoconus"]),
]
_OTHER = [("Seed dispersal by ants in tropical forests", ["ecology"]),
          ("Optical projection tomography of zebrafish embryos", ["developmental biology"])]
_CLAUSE_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+")


def mm_required(n: int) -> int:
    """How many of ``n`` optional words ``mm=2<-1 5<-2 6<90%`` requires."""
    if n <= 2:
        return n
    if n <= 5:
        return n - 1
    if n == 6:
        return n - 2
    return math.floor(0.9 * n)


def edismax_match(q: str, text: str) -> bool:
    words = " ".join(_WORD.findall(text.lower()))
    clauses: list[list[tuple[str, bool]]] = [[]]
    for quoted, bare in _CLAUSE_TOKEN.findall(q):
        if bare == "OR":
            clauses.append([])
        else:
            clauses[-1].append((quoted.lower(), True) if quoted else (bare.lower(), False))
    if not any(clauses):
        return True  # no q: everything
    for clause in filter(None, clauses):
        phrases = [" ".join(_WORD.findall(t)) for t, is_phrase in clause if is_phrase]
        bare_words = [t for t, is_phrase in clause if not is_phrase]
        if not all(f" {p} " in f" {words} " for p in phrases):
            continue
        if sum(w in text.lower() for w in bare_words) >= mm_required(len(bare_words)):
            return True
    return False
_FILES = [("images.zip", "application/zip"), ("labels.csv", "text/csv"), ("README.md", "text/markdown"),
          ("scan_{n:03d}.png", "image/png")]


def make_dataset(i: int, n_eye: int, start: date = date(2019, 3, 1)) -> dict[str, Any]:
    eye = i <= n_eye
    title, keywords = (_EYE if eye else _OTHER)[i % (len(_EYE) if eye else len(_OTHER))]
    doi = f"10.5061/dryad.{i:04d}fk{i % 10}"
    enc = quote(f"doi:{doi}", safe="")
    published = start + timedelta(days=5 * i)
    dataset = {
        "_links": {
            "self": {"href": f"/api/v2/datasets/{enc}"},
            "stash:versions": {"href": f"/api/v2/datasets/{enc}/versions"},
            "stash:version": {"href": f"/api/v2/versions/{9000 + i}"},
            "stash:download": {"href": f"/api/v2/datasets/{enc}/download"},
            "curies": [{"name": "stash", "href": "https://github.com/CDL-Dryad/dryad-app/blob/main/documentation/apis/{rel}.md", "templated": "true"}],
        },
        "identifier": f"doi:{doi}",
        "id": 100 + i,
        "storageSize": 0,
        "title": f"{title} ({i})",
        "authors": [{"firstName": "Ana", "lastName": f"Silva{i}", "affiliation": "Eye Institute", "order": 1},
                    {"firstName": "Bo", "lastName": "Chen", "affiliation": "University", "order": 0}],
        "abstract": f"<p>{title}.</p><p>Collected&nbsp;2019.</p>",
        "keywords": keywords,
        "fieldOfScience": "Ophthalmology" if eye else "Ecology",
        "relatedWorks": [{"relationship": "primary_article", "identifierType": "DOI",
                          "identifier": f"https://doi.org/10.1167/IOVS.{i}"},
                         {"relationship": "software", "identifierType": "URL",
                          "identifier": f"https://github.com/lab/dryad{i}"}],
        "versionNumber": 1 + i % 3,
        "versionStatus": "submitted",
        "curationStatus": "Published",
        "publicationDate": published.isoformat(),
        "lastModificationDate": (published + timedelta(days=2)).isoformat(),
        "visibility": "public",
        "license": "https://spdx.org/licenses/CC0-1.0.html",
    }
    return dataset


def make_files(i: int) -> list[dict[str, Any]]:
    """Files of dataset ``i``'s latest version: dataset 7 has 130 (more than one page)."""
    count = 130 if i == 7 else 1 + i % 4
    files = []
    for n in range(count):
        name, mime = _FILES[n] if n < 3 else (_FILES[3][0].format(n=n), _FILES[3][1])
        name = f"{i}-{name}"
        entry: dict[str, Any] = {
            "_links": {"self": {"href": f"/api/v2/files/{i * 1000 + n}"},
                       "stash:download": {"href": f"/api/v2/files/{i * 1000 + n}/download"}},
            "path": name,
            "size": 1000 * (i + 1) + n,
            "mimeType": mime,
            "status": "created",
        }
        if n % 4 == 0:
            entry["digest"], entry["digestType"] = hashlib.sha256(name.encode()).hexdigest(), "sha-256"
        elif n % 4 == 1:
            entry["digest"], entry["digestType"] = hashlib.md5(name.encode()).hexdigest(), "md5"
        elif n % 4 == 3:
            del entry["_links"]["stash:download"]  # not downloadable
        files.append(entry)
    return sorted(files, key=lambda f: f["path"])


class FakeDryad(FakeAPI):
    def __init__(self, n_eye: int = 24, n_other: int = 3, token: str = "dryad-test-token",
                 client_id: str = "dryad-client", client_secret: str = "dryad-secret",
                 storage_url: Any = None) -> None:
        super().__init__()
        self.storage_url = storage_url  # file path -> where its download redirects (None: 404)
        self.n_eye = n_eye
        self.datasets = [make_dataset(i, n_eye) for i in range(1, n_eye + n_other + 1)]
        self.files = {9000 + i: make_files(i) for i in range(1, n_eye + n_other + 1)}
        for i, dataset in enumerate(self.datasets, start=1):
            dataset["storageSize"] = sum(f["size"] for f in self.files[9000 + i])
        self.token, self.client_id, self.client_secret = token, client_id, client_secret
        self.tokens_issued = 0
        self.route("search", "GET", r"/api/v2/search", self.guarded(self.search))
        self.route("files", "GET", r"/api/v2/versions/(\d+)/files", self.guarded(self.version_files))
        self.route("dataset", "GET", r"/api/v2/datasets/([^/]+)", self.guarded(self.dataset))
        self.route("oauth", "POST", r"/oauth/token", self.oauth)
        self.route("download", "GET", r"/api/v2/files/(\d+)/download", self.download)

    @property
    def eye_dois(self) -> set[str]:
        return {d["identifier"].removeprefix("doi:") for d in self.datasets[: self.n_eye]}

    def guarded(self, handler: Any) -> Any:
        def check(call: Call, match: Any) -> Reply:
            accept = call.headers.get("Accept", "")
            if "json" not in accept or ("Content-Type" in call.headers and "json" not in call.headers["Content-Type"]):
                return Reply(406, b"Not Acceptable", {"Content-Type": "text/plain"})
            auth = call.headers.get("Authorization")
            if auth is not None and auth != f"Bearer {self.token}":
                return Reply.json({"error": "Unauthorized, must have current bearer token"}, 401)
            return handler(call, match)

        return check

    def download(self, call: Call, match: Any) -> Reply:
        if call.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply.json({"error": "Unauthorized, must have current bearer token"}, 401)
        number = int(match.group(1))
        files = self.files.get(9000 + number // 1000, [])
        path = next((f["path"] for f in files if f["_links"]["self"]["href"].endswith(f"/{number}")), None)
        if path is None or self.storage_url is None:
            return Reply.json({"error": "Not found"}, 404)
        return Reply(302, b"", {"Location": self.storage_url(path)})

    def search(self, call: Call, _: Any) -> Reply:
        q = call.query.get("q", [""])[0]
        since = call.query.get("modifiedSince", [""])[0][:10]
        hits = []
        for d in self.datasets:
            text = " ".join([d["title"], d["abstract"], *d["keywords"]]).lower()
            if edismax_match(q, text) and (not since or d["lastModificationDate"] >= since):
                hits.append(d)
        return self.hal_list(call, "stash:datasets", hits)

    def version_files(self, call: Call, match: Any) -> Reply:
        files = self.files.get(int(match.group(1)))
        if files is None:
            return Reply.json({"error": "not found"}, 404)
        return self.hal_list(call, "stash:files", files)

    def dataset(self, call: Call, match: Any) -> Reply:
        for d in self.datasets:
            if match.group(1) == quote(d["identifier"], safe=""):
                return Reply.json(d)
        return Reply.json({"error": "not-found"}, 404)

    def oauth(self, call: Call, _: Any) -> Reply:
        form = {k: v[0] for k, v in parse_qs(call.body.decode()).items()}
        if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
            "client_credentials", self.client_id, self.client_secret
        ):
            return Reply.json({"error": "invalid_client"}, 401)
        self.tokens_issued += 1
        return Reply.json({"access_token": self.token, "token_type": "Bearer", "expires_in": 36000,
                           "scope": "all", "created_at": int(time.time())})

    def hal_list(self, call: Call, name: str, items: list[dict[str, Any]]) -> Reply:
        per_page = min(int(call.query.get("per_page", ["20"])[0]), 100)
        page = max(1, int(call.query.get("page", ["1"])[0]))
        last = max(1, math.ceil(len(items) / per_page))
        page_items = items[(page - 1) * per_page : page * per_page]

        def link(n: int | None) -> dict[str, str]:
            params = {k: v[0] for k, v in call.query.items() if k != "page"}
            if n is not None:
                params = {"page": str(n), **params}
            return {"href": f"{call.path}?{urlencode(params)}"}

        links = {"self": link(page), "first": link(None), "last": link(last)}
        if page > 1:
            links["prev"] = link(page - 1)
        if page < last:
            links["next"] = link(page + 1)
        body: dict[str, Any] = {"_links": links, "count": len(page_items), "total": len(items)}
        if page_items:
            body["_embedded"] = {name: page_items}
        return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json; charset=utf-8"})

    @staticmethod
    def rate_limited(reset_in: float = 1.0) -> Reply:
        return Reply(429, b"Request rejected due to rate limits.", {
            "Content-Type": "text/plain", "RateLimit-Limit": "30", "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(time.time() + reset_in + 1)),
        })

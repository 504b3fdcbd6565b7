"""A fake Figshare API v2 that behaves as docs/sources-figshare-kaggle-nei.md describes:
``POST /v2/articles/search``
with a JSON body only, a bare array with no total, ``page``/``page_size`` or ``offset``/``limit``
(mixing them, a limit over 1000 or an offset past the cap -> 422: the prose docs' cap is offset
1,000), ``item_type``, ``modified_since`` and ``published_since`` filters (the latter read as
the docs word it, "published after the date": the date itself excluded), ``order`` /
``order_direction``, field-less ``search_for`` phrases OR-ed, article details that list
at most 10 files, ``/articles/{id}/files`` paging, ``Authorization: token`` checked when sent
(403 for a bad token), 429 without rate-limit headers (none are documented), JSON errors
``{message, code}``. Download URLs go to ``files_host`` (default: the API's own host), as the
real ones go to ``ndownloader.figshare.com``, and 302 to an object store that serves
``file_bytes(name)`` with Range (default: a few bytes that are not an archive)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from tests.servers.base import Call, FakeAPI, Reply, ranged_reply

_TOPICS = [
    ("Fundus photographs of diabetic retinopathy", ["fundus", "diabetic retinopathy"]),
    ("OCT volumes of the macula", ["optical coherence tomography", "macula"]),
    ("Glaucoma visual fields and optic disc photographs", ["glaucoma"]),
    ("Slit lamp images of cataract", ["slit lamp", "cataract"]),
    ("Keratoconus corneal topography maps", ["keratoconus", "cornea"]),
    ("Retinal vessel segmentation masks", ["retina"]),
]
_EXTS = [".zip", ".csv", ".png", ".tar.gz", ".dcm", ".txt"]
_PHRASE = re.compile(r'"([^"]*)"')
DETAIL_FILES_CAP = 10


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def make_files(i: int, article_id: int, base: str) -> list[dict[str, Any]]:
    """Files of article ``i``: every 5th has 14 (more than the detail lists), every 7th a link-only
    file; md5s vary: computed, supplied only (computed still ""), or neither."""
    count = 14 if i % 5 == 0 else 1 + i % 3
    files = []
    for n in range(count):
        file_id = article_id * 100 + n
        name = f"part_{n:02d}{_EXTS[(i + n) % len(_EXTS)]}"
        computed = _md5(f"{file_id}") if (i + n) % 4 else ""
        supplied = _md5(f"{file_id}") if (i + n) % 4 in (0, 1) else ""
        files.append({
            "id": file_id, "name": name, "size": 1000 * (i + 1) + n, "is_link_only": False,
            "download_url": f"{base}/ndownloader/files/{file_id}", "supplied_md5": supplied,
            "computed_md5": computed, "mimetype": "application/octet-stream",
        })
    if i % 7 == 0:
        files.append({
            "id": article_id * 100 + 99, "name": "external data on lab server", "size": 0, "is_link_only": True,
            "download_url": f"https://lab.example.org/data/{article_id}", "supplied_md5": "", "computed_md5": "",
            "mimetype": "",
        })
    return files


def make_article(i: int, base: str, start: date = date(2016, 1, 1), per_day: int = 1,
                 files_base: str | None = None) -> dict[str, Any]:
    """Article number ``i`` (1-based) as ``ArticleComplete`` with *all* its files; ``per_day``
    consecutive articles share a publication day; download URLs on ``files_base`` (default ``base``)."""
    title, tags = _TOPICS[i % len(_TOPICS)]
    article_id = 9_000_000 + 17 * i
    version = 1 + i % 3
    prefix = "10.25573/data" if i % 6 == 0 else "10.6084/m9.figshare"
    published = start + timedelta(days=11 * ((i + per_day - 1) // per_day))
    modified = published + timedelta(days=30)
    files = make_files(i, article_id, files_base or base)
    defined_type = 1 if i % 11 == 0 else 3  # every 11th is a figure, not a dataset
    return {
        "id": article_id,
        "title": f"{title} (set {i})",
        "doi": f"{prefix}.{article_id}.v{version}",
        "handle": "",
        "url": f"{base}/v2/articles/{article_id}",
        "published_date": f"{published.isoformat()}T08:00:00Z",
        "modified_date": f"{modified.isoformat()}T09:30:00Z",
        "created_date": f"{published.isoformat()}T07:00:00Z",
        "thumb": "",
        "defined_type": defined_type,
        "defined_type_name": "dataset" if defined_type == 3 else "figure",
        "group_id": 100 + i % 4,
        "url_private_api": f"{base}/v2/account/articles/{article_id}",
        "url_public_api": f"{base}/v2/articles/{article_id}",
        "url_private_html": f"https://figshare.com/account/articles/{article_id}",
        "url_public_html": f"https://figshare.com/articles/dataset/set_{i}/{article_id}",
        "timeline": {"posted": f"{published.isoformat()}T08:00:00", "firstOnline": f"{published.isoformat()}T08:00:00"},
        "resource_title": f"Paper {i}",
        "resource_doi": f"10.1000/paper.{i}",
        "citation": f"Author {i} ({published.year}): {title}.",
        "description": f"<p>{title}, collected at site {i % 4}.</p><p>Images &amp; labels.</p>",
        "tags": tags,
        "keywords": tags,
        "categories": [{"id": 1, "title": "Ophthalmology", "parent_id": 0, "path": "", "source_id": "", "taxonomy_id": 1}],
        "license": ({"value": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}
                    if i % 2 else {"value": 2, "name": "CC0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}),
        "authors": [{"id": 500 + i, "full_name": f"Author {chr(65 + i % 26)}", "is_active": True, "url_name": "_", "orcid_id": ""}],
        "size": sum(f["size"] for f in files if not f["is_link_only"]),
        "version": version,
        "status": "public",
        "is_public": True,
        "is_embargoed": False,
        "is_metadata_record": False,
        "has_linked_file": any(f["is_link_only"] for f in files),
        "download_disabled": False,
        "related_materials": [],
        "references": [f"https://github.com/lab/project{i}"],
        "funding": None,
        "files": files,
        "figshare_url": f"https://figshare.com/articles/dataset/set_{i}/{article_id}",
    }


_HIT_KEYS = ("id", "title", "doi", "handle", "url", "published_date", "modified_date", "thumb", "defined_type",
             "defined_type_name", "group_id", "url_private_api", "url_public_api", "url_private_html",
             "url_public_html", "timeline", "resource_title", "resource_doi")


def _error(message: str, status: int, code: str) -> Reply:
    return Reply.json({"message": message, "code": code, "data": None}, status)


class FakeFigshare(FakeAPI):
    def __init__(self, n_articles: int = 40, max_offset: int = 1000, token: str = "figshare-test-token",
                 per_day: int = 1, files_host: str | None = None,
                 file_bytes: Callable[[str], bytes | None] | None = None) -> None:
        super().__init__()
        self.files_host = files_host
        self.n_articles = n_articles
        self.per_day = per_day
        self.max_offset = max_offset
        self.token = token
        self.modified_overrides: dict[int, str] = {}
        self.route("search", "POST", r"/v2/articles/search", self.search)
        self.route("article", "GET", r"/v2/articles/(\d+)", self.article)
        self.route("files", "GET", r"/v2/articles/(\d+)/files", self.files)
        self.route("download", "GET", r"/ndownloader/files/(\d+)", self.download)
        self.storage = FakeStorage(self._object_bytes if file_bytes else None)
        self.file_bytes = file_bytes

    @property
    def files_base(self) -> str:
        """Where download URLs point: the API's own server under ``files_host`` when given."""
        if not self.files_host:
            return self.base_url
        port = urlsplit(self.base_url).port
        return f"{self._scheme}://{self.files_host}:{port}"

    def _object_bytes(self, file_id: str) -> bytes | None:
        assert self.file_bytes is not None
        article = self._find(int(file_id) // 100)
        name = next((f["name"] for f in article["files"] if str(f["id"]) == file_id), None) if article else None
        return self.file_bytes(name) if name else None

    def start(self) -> str:
        self.storage.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.storage.stop()

    def download(self, call: Call, match: Any) -> Reply:
        """Like ndownloader.figshare.com: a 302 to a signed object-store URL on another host."""
        file_id = match.group(1)
        return Reply(302, b"", {"Location": f"{self.storage.base_url}/pfigshare-u-files/{file_id}/file?X-Amz-Signature=abc"})

    def all_articles(self) -> list[dict[str, Any]]:
        articles = [make_article(i, self.base_url, per_day=self.per_day, files_base=self.files_base)
                    for i in range(1, self.n_articles + 1)]
        for article in articles:
            if article["id"] in self.modified_overrides:
                article["modified_date"] = self.modified_overrides[article["id"]]
        return articles

    def _auth(self, call: Call) -> Reply | None:
        sent = call.headers.get("Authorization")
        if sent is not None and sent != f"token {self.token}":
            return _error("Invalid or expired token", 403, "Forbidden")
        return None

    def search(self, call: Call, _: Any) -> Reply:
        if denied := self._auth(call):
            return denied
        if "application/json" not in call.headers.get("Content-Type", ""):
            return _error("Only JSON bodies are accepted", 400, "BadRequest")
        try:
            body = json.loads(call.body)
        except ValueError:
            return _error("Invalid JSON body", 400, "BadRequest")
        if not isinstance(body, dict) or len(str(body.get("search_for", ""))) < 3:
            return _error("search_for is required", 422, "FieldError")
        if {"page", "page_size"} & body.keys() and {"offset", "limit"} & body.keys():
            return _error("Use either page/page_size or offset/limit", 422, "FieldError")
        if "page" in body or "page_size" in body:
            size = int(body.get("page_size", 10))
            offset = (int(body.get("page", 1)) - 1) * size
        else:
            size, offset = int(body.get("limit", 10)), int(body.get("offset", 0))
        if size > 1000 or offset > self.max_offset:
            return _error(f"Pagination past the allowed window (offset {offset})", 422, "FieldError")
        phrases = [p.lower() for p in _PHRASE.findall(body["search_for"])] or [body["search_for"].lower()]
        hits = []
        for article in self.all_articles():
            text = " ".join([article["title"], article["description"], *article["tags"]]).lower()
            if not any(p in text for p in phrases):
                continue
            if "item_type" in body and article["defined_type"] != int(body["item_type"]):
                continue
            if body.get("modified_since") and article["modified_date"][:10] < body["modified_since"]:
                continue
            if body.get("published_since") and article["published_date"][:10] <= body["published_since"]:
                continue
            hits.append(article)
        if body.get("order") == "published_date":
            hits.sort(key=lambda a: (a["published_date"], a["id"]), reverse=body.get("order_direction") == "desc")
        return Reply.json([{k: a[k] for k in _HIT_KEYS} for a in hits[offset : offset + size]])

    def _find(self, article_id: int) -> dict[str, Any] | None:
        return next((a for a in self.all_articles() if a["id"] == article_id), None)

    def article(self, call: Call, match: Any) -> Reply:
        if denied := self._auth(call):
            return denied
        article = self._find(int(match.group(1)))
        if article is None:
            return _error("Article not found", 404, "EntityNotFound")
        return Reply.json({**article, "files": article["files"][:DETAIL_FILES_CAP]})

    def files(self, call: Call, match: Any) -> Reply:
        if denied := self._auth(call):
            return denied
        article = self._find(int(match.group(1)))
        if article is None:
            return _error("Article not found", 404, "EntityNotFound")
        page = int(call.query.get("page", ["1"])[0])
        size = int(call.query.get("page_size", ["10"])[0])
        if size > 1000:
            return _error("page_size too large", 422, "FieldError")
        return Reply.json(article["files"][(page - 1) * size : page * size])

    @staticmethod
    def rate_limited() -> Reply:
        return _error("Too many requests", 429, "TooManyRequests")


class FakeStorage(FakeAPI):
    """The S3 bucket the downloads redirect to: it refuses any Authorization header it did not sign.
    With ``object_bytes`` (file id -> bytes) it serves them with Range, on a loopback address of
    its own (127.0.0.2: another host, as S3 is, for Scrapy's per-host slots)."""

    def __init__(self, object_bytes: Callable[[str], bytes | None] | None = None) -> None:
        super().__init__()
        self.object_bytes = object_bytes
        if object_bytes is not None:
            self.bind_host = "127.0.0.2"
        self.route("object", "GET", r"/pfigshare-u-files/(\d+)/file", self.object)

    def object(self, call: Call, match: Any) -> Reply:
        if "Authorization" in call.headers:
            return Reply(400, b"<Error><Code>InvalidArgument</Code><Message>Unsupported Authorization Type</Message></Error>",
                         {"Content-Type": "application/xml"})
        data = self.object_bytes(match.group(1)) if self.object_bytes else None
        if data is not None:
            return ranged_reply(call, data)
        return Reply(200, b"not really an archive " + match.group(1).encode(), {"Content-Type": "binary/octet-stream"})

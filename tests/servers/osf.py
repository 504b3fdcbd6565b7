"""A fake OSF API v2 (JSON:API) that behaves as docs/sources-dryad-osf-datacite.md describes:

* no ``/v2/search/`` (404); ``/v2/nodes/`` with ``filter[title]``, ``filter[description]`` or
  ``filter[title,description]`` (icontains, either field), ``filter[public]``,
  ``filter[date_modified][gte]``; default ordering ``-modified``, ``sort=<field>`` /
  ``sort=-<field>`` by a serializer field (``date_created``, ``date_modified``, ``title``, ``id``;
  others ignored, as DRF's ordering filter does);
* ``edits_during_crawl=n``: once the first page of a listing has been served, the ``n`` nodes
  modified longest ago are edited (``date_modified`` = now), as users do while a slow
  anonymous crawl runs: under ``-modified`` they jump to page 1 and push others down;
* ``embed=identifiers``: a node's minted identifiers at ``embeds.identifiers.data`` (with
  ``mint_every=n``, every n-th node by GUID has a DOI ``10.17605/OSF.IO/<GUID>``; by default none);
* ``page[size]`` default 10, silently clamped to 100; absolute page links with the ``page``
  param replaced and sorted, the link to page 1 without ``page``; ``first``/``prev`` null on
  the first page, ``last``/``next`` null on the last; API 2.0 puts the total at
  ``links.meta.total``, ``?version=2.1`` at ``meta.total``;
* ``/v2/nodes/{id}/files/osfstorage/`` (root) and ``.../osfstorage/{folder_id}/``: one level
  per listing, folders link their contents at ``relationships.files.links.related.href``;
  ``extra.hashes`` md5/sha256 (null on some files);
* private nodes visible only with the token; an unknown bearer token -> 401;
* 429 with DRF's ``Retry-After`` and ``{"errors": [{"detail": "Request was throttled..."}]}``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.servers.base import Call, FakeAPI, Reply, ranged_reply

_EYE = [
    ("Retinal vessel segmentation dataset", "Fundus images with manual vessel labels."),
    ("Glaucoma OCT study", "Data for an optical coherence tomography study of glaucoma."),
    ("Keratoconus corneal topography maps", "Pentacam exports of keratoconus patients."),
]
_OTHER = [("Reading times in sentence processing", "Eye-free behavioural data of a linguistics study.")]
LICENSES = {
    "563c1cf88c5e4a3877f9e96a": {"name": "CC-By Attribution 4.0 International",
                                 "url": "https://creativecommons.org/licenses/by/4.0/legalcode"},
    "563c1cf88c5e4a3877f9e965": {"name": "CC0 1.0 Universal",
                                 "url": "https://creativecommons.org/publicdomain/zero/1.0/legalcode"},
    "563c1cf88c5e4a3877f9e968": {"name": "MIT License", "url": "http://opensource.org/licenses/MIT"},
}
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def guid(i: int) -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    out = ""
    for _ in range(5):
        out = alphabet[i % len(alphabet)] + out
        i //= len(alphabet)
    return out


def make_node(i: int, n_eye: int, base: str) -> dict[str, Any]:
    eye = i <= n_eye
    title, description = (_EYE if eye else _OTHER)[i % (len(_EYE) if eye else len(_OTHER))]
    node_id = guid(1000 + i)
    created = _EPOCH + timedelta(days=4 * i)
    license_id = list(LICENSES)[i % len(LICENSES)] if i % 5 else None
    return {
        "id": node_id,
        "type": "nodes",
        "attributes": {
            "title": f"{title} {i}",
            "description": f"{description}  Part {i}.",
            "category": "data" if i % 2 else "project",
            "tags": ["ophthalmology", f"set-{i}"] if eye else ["psycholinguistics"],
            "date_created": created.isoformat(timespec="microseconds").replace("+00:00", ""),
            "date_modified": (created + timedelta(days=1, hours=i % 24)).isoformat(timespec="microseconds").replace("+00:00", ""),
            "public": True,
            "registration": False,
            "preprint": False,
            "fork": False,
            "collection": False,
            "node_license": {"copyright_holders": [f"Lab {i}"], "year": "2020"} if license_id else None,
        },
        "relationships": {
            "files": {"links": {"related": {"href": f"{base}/v2/nodes/{node_id}/files/", "meta": {}}}},
            "license": {"data": {"id": license_id, "type": "licenses"}} if license_id else {"data": None},
        },
        "embeds": {"contributors": {"data": [
            {"id": f"{node_id}-u1", "type": "contributors", "attributes": {"bibliographic": True},
             "embeds": {"users": {"data": {"id": "u1", "attributes": {"full_name": f"Maria Lopez {i}"}}}}},
            {"id": f"{node_id}-u2", "type": "contributors", "attributes": {"bibliographic": False},
             "embeds": {"users": {"data": {"id": "u2", "attributes": {"full_name": "Admin Helper"}}}}},
        ]}},
        "links": {"html": f"https://osf.io/{node_id}/", "self": f"{base}/v2/nodes/{node_id}/"},
    }


def make_tree(i: int) -> dict[str, list[dict[str, Any]]]:
    """Folder id -> entries ("" = root). Node 3 has 150 files in one folder (two pages)."""
    tree: dict[str, list[dict[str, Any]]] = {"": []}
    if i % 7 == 0:
        return tree  # an empty storage

    def file(path: str, n: int) -> dict[str, Any]:
        name = path.rsplit("/", 1)[-1]
        hashes = {"md5": hashlib.md5(path.encode()).hexdigest(), "sha256": hashlib.sha256(path.encode()).hexdigest()}
        if n % 5 == 4:
            hashes = {"md5": None, "sha256": None}
        elif n % 5 == 3:
            hashes["sha256"] = None
        fid = hashlib.md5(f"{i}{path}".encode()).hexdigest()[:24]
        return {"id": fid, "type": "files", "attributes": {
            "guid": None, "name": name, "kind": "file", "path": f"/{fid}", "materialized_path": path,
            "size": 10_000 * i + n, "provider": "osfstorage", "extra": {"hashes": hashes, "downloads": 0},
            "date_modified": "2020-05-01T00:00:00.000000", "current_version": 1},
            "links": {"download": f"https://osf.io/download/{fid}/"}}

    def folder(path: str, fid: str, base_href: str) -> dict[str, Any]:
        return {"id": fid, "type": "files", "attributes": {
            "name": path.rstrip("/").rsplit("/", 1)[-1], "kind": "folder", "path": f"/{fid}/",
            "materialized_path": path, "size": None, "provider": "osfstorage", "extra": {"hashes": {}}},
            "relationships": {"files": {"links": {"related": {"href": base_href, "meta": {}}}}},
            "links": {}}

    tree[""] = [file(f"/{i}-readme.txt", 0), file(f"/{i}-labels.csv", 1)]
    tree["images"] = [file(f"/images/{i}-img{n:03d}.png", n) for n in range(150 if i == 3 else 3)]
    tree["raw"] = [file(f"/images/raw/{i}-scan.zip", 3)]
    tree[""].append(folder("/images/", "images", "images"))
    tree["images"].append(folder("/images/raw/", "raw", "raw"))
    return tree


class FakeOSF(FakeAPI):
    def __init__(self, n_eye: int = 12, n_other: int = 2, n_private: int = 2, token: str = "osf-test-token",
                 edits_during_crawl: int = 0, mint_every: int = 0,
                 file_bytes: Callable[[str], bytes | None] | None = None) -> None:
        super().__init__()
        self.n_eye, self.n_other, self.n_private, self.token = n_eye, n_other, n_private, token
        self.edits_during_crawl, self.mint_every = edits_during_crawl, mint_every
        self.edited: dict[str, str] = {}  # node id -> date_modified after an edit during the crawl
        self.route("nodes", "GET", r"/v2/nodes/?", self.nodes)
        self.route("files", "GET", r"/v2/nodes/(\w+)/files/osfstorage/(?:(\w+)/)?", self.files)
        self.route("licenses", "GET", r"/v2/licenses/?", self.licenses)
        self.route("search", "GET", r"/v2/search/?", lambda c, m: Reply.json({"errors": [{"detail": "Not found."}]}, 404))
        # file downloads (links.download, rewritten to this server) with Range, bytes per file id
        self.file_bytes = file_bytes
        if file_bytes is not None:
            self.route("download", "GET", r"/download/(\w+)/?", self.download)

    def download(self, call: Call, match: Any) -> Reply:
        data = self.file_bytes(match.group(1)) if self.file_bytes else None
        if data is None:
            return Reply.json({"errors": [{"detail": "Not found."}]}, 404)
        return ranged_reply(call, data)

    def all_nodes(self) -> list[dict[str, Any]]:
        base = self.base_url
        nodes = [make_node(i, self.n_eye, base) for i in range(1, self.n_eye + self.n_other + self.n_private + 1)]
        for node in nodes[self.n_eye + self.n_other :]:  # private copies of eye-like projects
            node["attributes"]["public"] = False
            node["attributes"]["title"] = "Private fundus photographs " + node["id"]
        for node in nodes:
            node["attributes"]["date_modified"] = self.edited.get(node["id"], node["attributes"]["date_modified"])
        return nodes

    def minted_doi(self, node_id: str) -> str | None:
        """The DOI OSF minted for a node (every ``mint_every``-th one), or None."""
        minted = self.mint_every and sum(map(ord, node_id)) % self.mint_every == 0
        return f"10.17605/OSF.IO/{node_id.upper()}" if minted else None

    def identifiers(self, node_id: str) -> list[dict[str, Any]]:
        doi = self.minted_doi(node_id)
        return [{"id": f"{node_id}-doi", "type": "identifiers",
                 "attributes": {"category": "doi", "value": doi}}] if doi else []

    @property
    def public_eye_ids(self) -> set[str]:
        return {n["id"] for n in self.all_nodes()[: self.n_eye]}

    def tree_of(self, node_id: str) -> dict[str, list[dict[str, Any]]]:
        for i, node in enumerate(self.all_nodes(), start=1):
            if node["id"] == node_id:
                tree = make_tree(i)
                for entries in tree.values():
                    for entry in entries:
                        rel = entry.get("relationships", {}).get("files")
                        if rel and "://" not in rel["links"]["related"]["href"]:
                            rel["links"]["related"]["href"] = (
                                f"{self.base_url}/v2/nodes/{node_id}/files/osfstorage/{rel['links']['related']['href']}/")
                        # file bytes on this loopback server too: nothing in a test may reach osf.io
                        download = entry.get("links", {}).get("download")
                        if download:
                            entry["links"]["download"] = download.replace("https://osf.io", self.base_url)
                return tree
        return {}

    def authorised(self, call: Call) -> bool | None:
        auth = call.headers.get("Authorization")
        if auth is None:
            return False
        return True if auth == f"Bearer {self.token}" else None

    def nodes(self, call: Call, _: Any) -> Reply:
        authed = self.authorised(call)
        if authed is None:
            return self.invalid_token()
        nodes = [n for n in self.all_nodes() if n["attributes"]["public"] or authed]
        for key, values in call.query.items():
            if key.startswith("filter[") and key.endswith("]") and "][" not in key:
                fields = key[7:-1].split(",")
                needle = values[0].lower()
                if fields == ["public"]:
                    nodes = [n for n in nodes if str(n["attributes"]["public"]).lower() == needle]
                else:
                    nodes = [n for n in nodes if any(needle in str(n["attributes"].get(f, "")).lower() for f in fields)]
            elif key == "filter[date_modified][gte]":
                nodes = [n for n in nodes if n["attributes"]["date_modified"][:10] >= values[0][:10]]
        sort = call.query.get("sort", ["-date_modified"])[0]
        key = sort.lstrip("-")
        if key not in ("date_created", "date_modified", "title", "id"):
            sort, key = "-date_modified", "date_modified"
        nodes.sort(key=lambda n: n["id"] if key == "id" else n["attributes"][key], reverse=sort.startswith("-"))
        embed = call.query.get("embed", [])
        if "contributors" not in embed:
            nodes = [{k: v for k, v in n.items() if k != "embeds"} for n in nodes]
        if "identifiers" in embed:
            nodes = [{**n, "embeds": {**n.get("embeds", {}), "identifiers": {"data": self.identifiers(n["id"])}}}
                     for n in nodes]
        reply = self.page(call, nodes)
        if self.edits_during_crawl and "page" not in call.query:  # users edit nodes while we page
            oldest = sorted(self.all_nodes(), key=lambda n: n["attributes"]["date_modified"])[: self.edits_during_crawl]
            now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "")
            self.edited.update({n["id"]: now for n in oldest})
        return reply

    def files(self, call: Call, match: Any) -> Reply:
        if self.authorised(call) is None:
            return self.invalid_token()
        tree = self.tree_of(match.group(1))
        entries = tree.get(match.group(2) or "")
        if entries is None:
            return Reply.json({"errors": [{"detail": "Not found."}]}, 404)
        return self.page(call, entries)

    def licenses(self, call: Call, _: Any) -> Reply:
        data = [{"id": k, "type": "licenses", "attributes": {**v, "text": "...", "required_fields": []}}
                for k, v in LICENSES.items()]
        return self.page(call, data)

    def page(self, call: Call, items: list[dict[str, Any]]) -> Reply:
        size = min(int(call.query.get("page[size]", ["10"])[0]), 100)  # silently clamped
        number = max(1, int(call.query.get("page", ["1"])[0]))
        last = max(1, math.ceil(len(items) / size))
        params = {k: v[0] for k, v in call.query.items() if k != "page"}

        def url(n: int) -> str:
            query = dict(sorted({**params, **({"page": str(n)} if n > 1 else {})}.items()))
            return f"{self.base_url}{call.path}?{urlencode(query)}"

        links: dict[str, Any] = {
            "first": url(1) if number > 1 else None, "last": url(last) if number < last else None,
            "prev": url(number - 1) if number > 1 else None, "next": url(number + 1) if number < last else None,
        }
        body: dict[str, Any] = {"data": items[(number - 1) * size : number * size], "links": links}
        if call.query.get("version", ["2.0"])[0] >= "2.1":
            links["self"] = url(number)
            body["meta"] = {"total": len(items), "per_page": size, "version": "2.1"}
        else:
            links["meta"] = {"total": len(items), "per_page": size}
        return Reply.json(body, headers={"Content-Type": "application/vnd.api+json"})

    @staticmethod
    def invalid_token() -> Reply:
        return Reply.json({"errors": [{"detail": "User provided an invalid OAuth2 access token"}]}, 401)

    @staticmethod
    def throttled(seconds: int = 1) -> Reply:
        return Reply.json({"errors": [{"detail": f"Request was throttled. Expected available in {seconds} seconds."}]},
                          429, {"Retry-After": str(seconds)})

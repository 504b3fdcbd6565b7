"""A fake DataCite REST API (``/dois``) that behaves as docs/sources-dryad-osf-datacite.md describes:

* JSON:API list ``{"data", "meta": {"total", "totalPages", "page"?}, "links": {"self", "next"?}}``,
  no ``prev``/``last``;
* ``page[size]`` silently clamped to 1000;
* page-number mode over at most ``window`` records, ``page[number]`` past it silently clamped
  to the last allowed page (the same page repeats);
* cursor mode (``page[cursor]=1`` first): ascending creation order, cursor = URL-safe base64
  (no padding) of ``<created ms>,<doi>``; ``next`` omitted when a page comes back short;
  ``links.next`` rebuilt from the documented parameter whitelist, so ``mailto``/``sort``/...
  are dropped, keys sorted and encoded;
* ``query`` evaluated crudely: every parenthesised group of quoted words is an AND-group, a
  record matches when any group's words all occur in its title/description/subjects;
  ``updated:[X TO *]`` filters on ``updated``; ``resource-type-id`` on resourceTypeGeneral;
* no rate-limit headers on 429 (none documented); the firewall's 403 HTML page for bursts.
"""

from __future__ import annotations

import base64
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.servers.base import Call, FakeAPI, Reply

_EYE = [
    ("Color fundus photographs with diabetic retinopathy grades", ["fundus", "diabetic retinopathy"]),
    ("Optical coherence tomography volumes of the macula", ["OCT", "macula"]),
    ("Glaucoma optic disc photographs and visual fields", ["glaucoma", "optic disc"]),
    ("Slit lamp images of keratoconus corneas", ["slit lamp", "keratoconus"]),
]
_OTHER = [
    ("Soil microbiome samples from alpine meadows", ["soil"]),
    ("Hourly traffic counts on city roads", ["transport"]),
]
NEXT_WHITELIST = (
    "query", "provider-id", "client-id", "consortium-id", "funder-id", "affiliation-id", "resource-type-id",
    "prefix", "certificate", "published", "created", "registered", "disable-facets", "detail", "composite",
    "affiliation", "fields[dois]", "page[size]", "page[cursor]",
)
_GROUP = re.compile(r'\(("[^"()]+"(?:\s+AND\s+"[^"()]+")*)\)')
_UPDATED = re.compile(r"updated:\[(\S+) TO (\S+)\]")
_EPOCH = datetime(2018, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def make_doi(i: int, n_eye: int) -> dict[str, Any]:
    """DOI number ``i`` (1-based). The first ``n_eye`` are eye-imaging datasets matching the
    shared terms; the rest match none of them. Deterministic and varied."""
    eye = i <= n_eye
    title, subjects = (_EYE if eye else _OTHER)[i % (len(_EYE) if eye else len(_OTHER))]
    doi = f"10.80{i % 3}{i % 7}/dc.{i:05d}"
    created = _EPOCH + timedelta(days=i * 3, hours=i % 5)
    updated = created + timedelta(days=30 + i % 11)
    related = [{"relationType": "IsSupplementTo", "relatedIdentifier": f"10.1000/PAPER.{i}",
                "relatedIdentifierType": "DOI"},
               {"relationType": "IsDocumentedBy", "relatedIdentifier": f"https://example.org/docs/{i}",
                "relatedIdentifierType": "URL"}]
    if i % 4 == 0:
        related.append({"relationType": "IsVersionOf", "relatedIdentifier": f"10.8099/concept.{i}",
                        "relatedIdentifierType": "DOI"})
    if i % 5 == 0:
        related.append({"relationType": "IsIdenticalTo", "relatedIdentifier": f"https://doi.org/10.8098/mirror.{i}",
                        "relatedIdentifierType": "DOI"})
    rights = [{"rights": "Creative Commons Attribution 4.0 International", "rightsUri":
               "https://creativecommons.org/licenses/by/4.0/legalcode", "rightsIdentifier": "cc-by-4.0",
               "rightsIdentifierScheme": "SPDX"}]
    if i % 3 == 0:
        rights = [{"rights": "CC0 1.0", "rightsUri": "https://creativecommons.org/publicdomain/zero/1.0/"}]
    rights.append({"rights": "Open access", "rightsUri": "info:eu-repo/semantics/openAccess"})
    return {
        "id": doi,
        "type": "dois",
        "attributes": {
            "doi": doi,
            "identifiers": [],
            "creators": [{"name": f"Researcher, {chr(65 + i % 26)}.", "nameType": "Personal",
                          "affiliation": ["Eye Institute"], "nameIdentifiers": []}],
            "titles": [{"title": f"{title} ({i})"}, {"title": "Alt", "titleType": "AlternativeTitle"}],
            "publisher": "Demo Repository",
            "publicationYear": created.year,
            "subjects": [{"subject": s} for s in subjects] + [{"subject": "FOS: Clinical medicine",
                                                               "subjectScheme": "Fields of Science and Technology (FOS)"}],
            "dates": [{"date": created.date().isoformat(), "dateType": "Issued"}],
            "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Image collection"},
            "relatedIdentifiers": related,
            "sizes": [f"{1000 * i + 7} bytes", f"{i} files"] if i % 2 else ["1.5 GB"],
            "formats": ["application/zip"] if i % 2 else ["image/png", "text/csv"],
            "version": str(1 + i % 3),
            "rightsList": rights,
            "descriptions": [{"description": f"<p>{title}.</p> Site {i % 4}.", "descriptionType": "Abstract"}],
            "url": f"https://repo.example.org/records/{i}",
            "contentUrl": [f"https://repo.example.org/files/{i}/data.zip"] if i % 6 == 0 else None,
            "state": "findable",
            "created": iso(created),
            "registered": iso(created),
            "published": str(created.year),
            "updated": iso(updated),
        },
        "relationships": {"client": {"data": {"id": "demo.repo", "type": "clients"}}},
    }


def datacite_from_zenodo(record: dict[str, Any]) -> dict[str, Any]:
    """How DataCite indexes a Zenodo record (legacy JSON from ``tests.servers.zenodo``)."""
    meta = record["metadata"]
    return {
        "id": record["doi"],
        "type": "dois",
        "attributes": {
            "doi": record["doi"].upper(),
            "creators": [{"name": c["name"]} for c in meta["creators"]],
            "titles": [{"title": meta["title"]}],
            "publisher": "Zenodo",
            "publicationYear": int(meta["publication_date"][:4]),
            "subjects": [{"subject": k} for k in meta["keywords"]],
            "dates": [{"date": meta["publication_date"], "dateType": "Issued"}],
            "types": {"resourceTypeGeneral": "Dataset"},
            "relatedIdentifiers": [{"relationType": "IsVersionOf", "relatedIdentifier": record["conceptdoi"],
                                    "relatedIdentifierType": "DOI"}],
            "rightsList": [{"rightsIdentifier": "cc-by-4.0"}],
            "descriptions": [{"description": meta["description"], "descriptionType": "Abstract"}],
            "url": f"https://zenodo.org/records/{record['id']}",
            "created": record["created"][:19] + ".000Z",
            "updated": record["modified"][:19] + ".000Z",
            "sizes": [],
            "formats": [],
        },
        "relationships": {"client": {"data": {"id": "cern.zenodo", "type": "clients"}}},
    }


def _sort_key(entry: dict[str, Any]) -> tuple[int, str]:
    created = datetime.strptime(entry["attributes"]["created"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(created.replace(tzinfo=UTC).timestamp() * 1000), entry["id"].lower()


def encode_cursor(key: tuple[int, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]},{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[int, str] | None:
    try:
        ms, doi = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().split(",", 1)
        return int(ms), doi
    except ValueError:
        return None  # "any undecodable value means the first page"


class FakeDataCite(FakeAPI):
    def __init__(self, n_eye: int = 45, n_other: int = 5, extra: list[dict[str, Any]] | None = None,
                 window: int = 10000) -> None:
        super().__init__()
        self.records = [make_doi(i, n_eye) for i in range(1, n_eye + n_other + 1)] + list(extra or [])
        self.eye_dois = {r["id"].lower() for r in self.records[:n_eye]} | {r["id"].lower() for r in extra or []}
        self.window = window
        self.route("dois", "GET", r"/dois/?", self.dois)

    def matching(self, call: Call) -> list[dict[str, Any]]:
        query = call.query.get("query", [""])[0]
        groups = [[w.lower() for w in re.findall(r'"([^"]+)"', g)] for g in _GROUP.findall(query)]
        types = call.query.get("resource-type-id", [""])[0].split(",")
        hits = []
        for rec in self.records:
            attrs = rec["attributes"]
            text = " ".join([attrs["titles"][0]["title"], attrs["descriptions"][0]["description"],
                             *(s["subject"] for s in attrs["subjects"])]).lower()
            if groups and not any(all(w in text for w in group) for group in groups):
                continue
            if types != [""] and attrs["types"]["resourceTypeGeneral"].lower() not in types:
                continue
            if any(attrs["updated"][:10] < lo for lo, _ in _UPDATED.findall(query)):
                continue
            hits.append(rec)
        return sorted(hits, key=_sort_key)

    def dois(self, call: Call, _: Any) -> Reply:
        size = min(int(call.query.get("page[size]", ["25"])[0]), 1000)
        hits = self.matching(call)
        total = len(hits)
        params = {k: v[0] for k, v in call.query.items()}
        links = {"self": f"{self.base_url}{call.path}?{urlencode(params)}"}
        meta: dict[str, Any] = {"total": total}
        if "page[cursor]" in call.query:
            after = decode_cursor(call.query["page[cursor]"][0])
            if after is not None:
                hits = [h for h in hits if _sort_key(h) > after]
            page_hits = hits[:size]
            meta["totalPages"] = math.ceil(total / size)
            if len(page_hits) == size:
                kept = {k: v for k, v in params.items() if k in NEXT_WHITELIST}
                kept["page[cursor]"] = encode_cursor(_sort_key(page_hits[-1]))
                links["next"] = f"{self.base_url}/dois?{urlencode(sorted(kept.items()))}"
        else:
            last_allowed = max(1, self.window // size)
            number = min(max(1, int(call.query.get("page[number]", ["1"])[0])), last_allowed)  # silent clamp
            page_hits = hits[(number - 1) * size : number * size]
            meta["totalPages"] = min(math.ceil(total / size), last_allowed)
            meta["page"] = number
            if number < meta["totalPages"]:
                kept = {k: v for k, v in params.items() if k in NEXT_WHITELIST}
                kept["page[number]"] = str(number + 1)
                links["next"] = f"{self.base_url}/dois?{urlencode(sorted(kept.items()))}"
        return Reply.json({"data": page_hits, "meta": meta, "links": links},
                          headers={"Content-Type": "application/vnd.api+json; charset=utf-8"})

    @staticmethod
    def rate_limited() -> Reply:
        return Reply(429, b"Too Many Requests", {"Content-Type": "text/plain"})

    @staticmethod
    def firewall_403() -> Reply:
        body = b"<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center></body></html>"
        return Reply(403, body, {"Content-Type": "text/html", "Server": "awselb/2.0"})


def datacite_from_osf(node: dict[str, Any], doi_prefix: str = "10.17605/OSF.IO") -> dict[str, Any]:
    """How DataCite indexes the DOI OSF minted for a node (a node from ``tests.servers.osf``)."""
    attrs = node["attributes"]
    doi = f"{doi_prefix}/{node['id'].upper()}"
    created = attrs["date_created"][:19] + ".000Z"
    return {
        "id": doi.lower(),
        "type": "dois",
        "attributes": {
            "doi": doi,
            "creators": [{"name": "Lopez, Maria"}],
            "titles": [{"title": attrs["title"]}],
            "publisher": "OSF",
            "publicationYear": int(created[:4]),
            "subjects": [{"subject": t} for t in attrs["tags"]],
            "dates": [{"date": created[:10], "dateType": "Issued"}],
            "types": {"resourceTypeGeneral": "Dataset"},
            "relatedIdentifiers": [],
            "rightsList": [],
            "descriptions": [{"description": attrs["description"], "descriptionType": "Abstract"}],
            "url": f"https://osf.io/{node['id']}/",
            "created": created,
            "updated": attrs["date_modified"][:19] + ".000Z",
            "sizes": [],
            "formats": [],
        },
        "relationships": {"client": {"data": {"id": "cos.osf", "type": "clients"}}},
    }

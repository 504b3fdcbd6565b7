"""The recall check: ``scrapy crawl url -a urls=`` over the shipped list of known ophthalmic
imaging datasets (tests/fixtures/ingest/known_ophthalmic_datasets.txt), in one run, each entry
giving the record its annotation promises.

Every host of the list is served by a local fake answering a hand-written stand-in for what
that URL answers (the Kaggle API's record of a dataset, a landing page with JSON-LD, meta tags
or only a heading): the file is crawled with each URL's ``https://host`` replaced by its fake's
address, paths kept, and ``KAGGLE_API_URL`` pointed at the fake Kaggle so that its host counts
as Kaggle's (``ingest.route.source_hosts``). The stand-ins are not captures of the real pages;
running the same file against the real services is docs/url-ingest.md, "Running the recall list".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from envision_spiders.ingest.route import read_inputs
from envision_spiders.pages.portal import url_id
from envision_spiders.pages.portal_presets import source_for_url
from tests.conftest import run_crawl
from tests.servers.base import Call, Reply
from tests.servers.kaggle import FakeKaggle
from tests.servers.kaggle import make_dataset as kaggle_dataset
from tests.spiders.test_url import HTML, FakeWeb, by_input

KNOWN = Path(__file__).resolve().parent.parent / "fixtures" / "ingest" / "known_ophthalmic_datasets.txt"


def jsonld_page(name: str, description: str, doi: str | None = None, files: tuple[str, ...] = ()) -> bytes:
    dataset: dict[str, Any] = {"@context": "https://schema.org", "@type": "Dataset", "name": name,
                               "description": description, "keywords": ["ophthalmology", "retina"]}
    if doi:
        dataset["identifier"] = f"https://doi.org/{doi}"
    if files:
        dataset["distribution"] = [{"@type": "DataDownload", "contentUrl": f} for f in files]
    return (f'<!DOCTYPE html><html><head><title>{name}</title><script type="application/ld+json">'
            f"{json.dumps(dataset)}</script></head><body><h1>{name}</h1></body></html>").encode()


def meta_page(title: str, description: str) -> bytes:
    return (f'<!DOCTYPE html><html><head><title>{title} | Site</title><meta property="og:title" content="{title}">'
            f'<meta name="description" content="{description}"></head><body><div id="app"></div></body></html>').encode()


def heading_page(heading: str, links: tuple[str, ...] = ()) -> bytes:
    anchors = "".join(f'<li><a href="{href}">{href.rsplit("/", 1)[-1]}</a></li>' for href in links)
    return (f"<!DOCTYPE html><html><head><title>{heading}</title></head><body><h1>{heading}</h1>"
            f"<p>Retinal images with manual annotations.</p><ul>{anchors}</ul></body></html>").encode()


# What each entry's URL answers here (Kaggle datasets: the API's title), and the title its record must carry.
KAGGLE_DATASETS = {
    "paultimothymooney/kermany2018": "Retinal OCT Images (optical coherence tomography)",
    "andrewmvd/ocular-disease-recognition-odir5k": "Ocular Disease Recognition",
}
MENDELEY_DOI = "10.17632/rscbjbr9sj.2"
PAGES: dict[str, bytes] = {
    "https://data.mendeley.com/datasets/rscbjbr9sj/2": jsonld_page(
        "Labeled Optical Coherence Tomography (OCT) and Chest X-Ray Images for Classification",
        "OCT B-scans and chest radiographs labelled by disease.", MENDELEY_DOI, ("/files/OCT2017.tar.gz",)),
    "https://www.kaggle.com/c/diabetic-retinopathy-detection": meta_page(
        "Diabetic Retinopathy Detection", "Identify signs of diabetic retinopathy in eye images"),
    "https://www.kaggle.com/c/aptos2019-blindness-detection": meta_page(
        "APTOS 2019 Blindness Detection", "Detect diabetic retinopathy to stop blindness"),
    "https://drive.grand-challenge.org/": heading_page("DRIVE: Digital Retinal Images for Vessel Extraction"),
    "https://cecas.clemson.edu/~ahoover/stare/": heading_page(
        "STARE: STructured Analysis of the Retina", ("/~ahoover/stare/images/all-images.tar",)),
    "https://www.adcis.net/en/third-party/messidor/": meta_page(
        "Messidor", "Fundus images for computer-assisted diagnoses of diabetic retinopathy"),
    "https://refuge.grand-challenge.org/": heading_page("REFUGE: Retinal Fundus Glaucoma Challenge"),
    "https://ieee-dataport.org/open-access/indian-diabetic-retinopathy-image-dataset-idrid": jsonld_page(
        "Indian Diabetic Retinopathy Image Dataset (IDRiD)", "Fundus images with lesion segmentations and DR grades."),
    "https://people.duke.edu/~sf59/Chiu_BOE_2014_dataset.htm": heading_page(
        "Duke SD-OCT dataset of DME patients", ("/~sf59/2015_BOE_Chiu.zip",)),
    "https://physionet.org/content/brazilian-ophthalmological/1.0.0/": jsonld_page(
        "A Brazilian Multilabel Ophthalmological Dataset (BRSET)", "Retinal fundus photographs of 8,524 patients."),
}


def page_title(url: str) -> str:
    body = PAGES[url].decode()
    found = (re.search(r'"name": "([^"]+)"', body) or re.search(r'og:title" content="([^"]+)"', body)
             or re.search(r"<h1>([^<]+)</h1>", body))
    assert found
    return found.group(1)


class FakeKaggleSite(FakeKaggle):
    """The fake Kaggle API serving the listed datasets by ref (``/datasets/view`` and the file
    listing), plus Kaggle's competition pages (``/c/...``, GET and HEAD)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pages: dict[str, Reply] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        for n, (ref, title) in enumerate(KAGGLE_DATASETS.items(), start=1):
            dataset = kaggle_dataset(n) | {"ref": ref, "title": title, "url": f"https://www.kaggle.com/datasets/{ref}",
                                           "ownerRef": ref.split("/")[0], "creatorUrl": ref.split("/")[0]}
            self.datasets[ref] = dataset
        self.route("view", "GET", r"/api/v1/datasets/view/([^/]+)/([^/]+)", self.view)
        for method in ("GET", "HEAD"):
            self.route(f"page_{method.lower()}", method, r"/c/.+",
                       lambda call, match: self.pages.get(call.path) or Reply(404, b"Not Found", HTML))

    def _ref(self, call: Call, match: Any) -> str | None:
        ref = f"{unquote(match.group(1))}/{unquote(match.group(2))}"
        return ref if ref in self.datasets and self._authorized(call) else None

    def view(self, call: Call, match: Any) -> Reply:
        ref = self._ref(call, match)
        return Reply.json(self.datasets[ref]) if ref else Reply.json({"code": 404, "message": "Not found"}, 404)

    def files(self, call: Call, match: Any) -> Reply:
        ref = self._ref(call, match)
        if not ref:
            return Reply.json({"datasetFiles": [], "errorMessage": "Dataset not found"})
        return Reply.json({"datasetFiles": [
            {"ref": f"{ref}/{name}", "datasetRef": ref, "ownerRef": ref.split("/")[0], "name": name,
             "creationDate": "2018-06-01T00:00:00Z", "fileType": name.rsplit(".", 1)[-1], "totalBytes": 1000 + n,
             "columns": []} for n, name in enumerate(("train/NORMAL/img_001.jpeg", "labels.csv"))]})


@pytest.fixture(scope="module")
def recall_run(tmp_path_factory):
    inputs = read_inputs(KNOWN)
    kaggle = FakeKaggleSite(n_datasets=0)
    fakes: dict[str, Any] = {"www.kaggle.com": kaggle}
    for url in inputs:
        host = urlsplit(url).hostname
        assert host is not None
        fakes.setdefault(host, FakeWeb())
    for fake in fakes.values():
        fake.start()
    try:
        for url, body in PAGES.items():
            parts = urlsplit(url)
            fakes[parts.hostname].pages[parts.path] = Reply(200, body, HTML)
        local = {url: re.sub(r"^https://[^/]+", fakes[urlsplit(url).hostname].base_url, url) for url in inputs}
        text = KNOWN.read_text()
        for url, there in local.items():
            text = re.sub(rf"^{re.escape(url)}(?=\s|$)", there, text, flags=re.MULTILINE)
        tmp = tmp_path_factory.mktemp("url-recall")
        (tmp / "known_local.txt").write_text(text)
        result = run_crawl("url", tmp, settings={"KAGGLE_API_URL": f"{kaggle.base_url}/api/v1"},
                           args={"urls": str(tmp / "known_local.txt")},
                           env={"KAGGLE_USERNAME": kaggle.username, "KAGGLE_KEY": kaggle.key})
        (tmp / "crawl.log").write_text(result.log)  # for a failing test's reader
    finally:
        for fake in fakes.values():
            fake.stop()
    return result, local


def test_the_whole_list_is_read_in_one_run_and_nothing_is_lost(recall_run):
    result, local = recall_run
    assert result.returncode == 0, result.log
    assert "Traceback" not in result.log
    assert len(local) == len(read_inputs(KNOWN)) >= 10
    assert result.stats["envision/ingest/inputs"] == len(local)
    assert result.stats["envision/ingest/records"] == len(local)
    assert result.stats.get("envision/ingest/missing", 0) == 0
    assert sorted(by_input(result)) == sorted(local.values()) and len(result.items) == len(local)
    for there in local.values():
        assert f"Input {there} -> " in result.log and f"Input {there} gives no record" not in result.log


def test_kaggle_entries_give_the_kaggle_spiders_record_of_that_dataset(recall_run):
    result, local = recall_run
    records = by_input(result)
    for ref, title in KAGGLE_DATASETS.items():
        record = records[local[f"https://www.kaggle.com/datasets/{ref}"]]
        assert (record["source"], record["source_id"], record["title"]) == ("kaggle", ref, title)
        assert record["file_count"] == 2


def test_web_entries_give_the_portal_extraction_of_their_landing_page(recall_run):
    result, local = recall_run
    records = by_input(result)
    for url in PAGES:
        there = local[url]
        record = records[there]
        doi = MENDELEY_DOI if "mendeley" in url else None
        assert record["source"] == source_for_url(there), url
        assert (record["source_id"], record["doi"]) == (doi or url_id(there), doi), url
        assert record["title"] == page_title(url), url


def test_every_entry_gives_the_source_its_annotation_names(recall_run):
    result, local = recall_run
    records = by_input(result)
    for line in KNOWN.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        url, _, note = line.partition("  # ")
        expected = note.rsplit("|", 1)[1].strip()
        source = records[local[url.strip()]]["source"]
        assert (source if expected != "web" else "web" if source.startswith("portal-") else source) == expected, url

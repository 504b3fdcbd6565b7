"""Portal page objects over rendered HTML (what Chromium hands back), and over the raw HTML a
plain HTTP fetch of the JavaScript site gets (nothing)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from itemadapter import ItemAdapter
from web_poet import HttpResponse, PageParams

from envision_spiders.pages.portal import (
    PortalDatasetPage,
    PortalListingPage,
    select_urls,
    url_id,
)
from envision_spiders.schema import record_errors

FIXTURES = Path(__file__).parent.parent / "fixtures" / "portal"
SITE = FIXTURES / "site"
BASE = "https://eyes.example.org/"
DATASETS = json.loads((SITE / "data" / "datasets.json").read_text())["datasets"]


def response(name: str | None, url: str, body: str | None = None) -> HttpResponse:
    text = body if body is not None else (FIXTURES / name).read_text()
    return HttpResponse(url, body=text.encode(), status=200, headers={"Content-Type": "text/html; charset=utf-8"})


def rendered_dataset(key: str) -> str:
    """dataset.html as the browser sees it once app.js ran: JSON-LD in <head>, text in <main>."""
    ds = DATASETS[key]
    return (
        "<html><head><title>Dataset - Eye Data Portal</title>"
        f'<script type="application/ld+json">{json.dumps(ds["jsonld"])}</script></head>'
        f'<body><main id="dataset"><h1>{ds["heading"]}</h1><p>{ds["text"]}</p></main></body></html>'
    )


def record_of(page: PortalDatasetPage) -> dict:
    return ItemAdapter(asyncio.run(page.to_item())).asdict()


def dataset_page(key: str, source: str = "eye-portal") -> PortalDatasetPage:
    url = f"{BASE}dataset.html?id={key}"
    return PortalDatasetPage(response(None, url, rendered_dataset(key)), PageParams(source=source))


# --- dataset pages with JSON-LD ----------------------------------------------------------


def test_graph_dataset_record():
    record = record_of(dataset_page("ds-fundus"))
    assert record_errors(record) == []
    assert record["source"] == "eye-portal"
    assert record["source_id"] == record["doi"] == "10.5555/eye.fundus.1"
    assert record["title"] == "Fundus photographs for diabetic retinopathy grading"
    assert record["description"] == "3,662 colour fundus photographs graded 0\u20134 by two ophthalmologists."
    assert record["keywords"] == ["fundus", "diabetic retinopathy", "retina"]
    assert record["creators"] == ["Silva, Ana", "Eye Hospital"]
    assert record["license"] == "cc-by-4.0"
    assert (record["publication_date"], record["modified"], record["version"]) == ("2023-02-01", "2023-03-15", "2")
    assert record["url"] == f"{BASE}dataset.html?id=ds-fundus"


def test_files_and_portal_counts_from_distribution():
    record = record_of(dataset_page("ds-fundus"))
    assert record["files"] == [
        {"name": "fundus_images.zip", "size": 1_200_000_000, "url": f"{BASE}files/fundus_images.zip",
         "checksum": None, "mimetype": "application/zip", "access": "open"},
        {"name": "labels.csv", "size": 20480, "url": f"{BASE}files/labels.csv",
         "checksum": None, "mimetype": "text/csv", "access": "open"},
    ]
    assert (record["file_count"], record["archive_count"], record["file_types"]) == (2, 1, [".csv", ".zip"])
    assert record["size_mb"] == 1200.02


def test_text_dois_are_related_when_the_jsonld_names_the_doi():
    record = record_of(dataset_page("ds-fundus"))
    assert record["related_dois"] == ["10.1000/not-this-one"]
    assert record["extra"]["doi_source"] == "jsonld"
    assert record["extra"]["extraction"] == "jsonld" and record["extra"]["files_from"] == "jsonld"


def test_property_value_doi_and_binary_size():
    record = record_of(dataset_page("ds-oct"))
    assert record["doi"] == "10.5555/eye.oct.2"
    assert record["keywords"] == ["OCT", "AMD"]
    assert record["files"][0]["name"] == "oct_volumes.tar.gz"
    assert record["files"][0]["size"] == 3_758_096_384


def test_no_doi_gives_url_path_id():
    record = record_of(dataset_page("ds-octa"))
    assert record["doi"] is None
    assert record["source_id"] == "dataset.html?id=ds-octa"
    assert record["files"][0]["name"] == "octa_scans.zip"  # "OCTA scans" is no file name


def test_dataset_nested_in_catalog_matches_page_url():
    page = dataset_page("ds-slitlamp")
    record = record_of(page)
    assert record["title"] == "Slit-lamp photographs of cataract"
    assert record["doi"] == "10.5555/eye.slit.4"
    assert page.catalog_links == []  # a dataset page, not a catalogue to follow


def test_not_free_means_restricted_files():
    record = record_of(dataset_page("ds-angio"))
    assert record["access_type"] == "restricted"
    assert record["files"][0]["access"] == "restricted" and record["files"][0]["size"] == 12_345_678


# --- fallback: meta tags, text DOIs, links ----------------------------------------------


def rendered_plain() -> str:
    """site/plain.html once its script wrote the download list (the same <li>s it creates)."""
    items = "".join(f'<li><a href="files/{name}">{name}</a></li>'
                    for name in ("topography_maps.zip", "clinical.csv", "readme.pdf"))
    raw = (SITE / "plain.html").read_text()
    assert '<ul id="downloads"></ul>' in raw
    return raw.replace('<ul id="downloads"></ul>', f'<ul id="downloads">{items}</ul>')


@pytest.fixture
def meta_record():
    page = PortalDatasetPage(response(None, f"{BASE}lab/cornea.html", rendered_plain()),
                             PageParams(source="portal-eyes-example-org"))
    assert page.has_record and page.catalog_links == []
    return record_of(page)


def test_meta_tags_fill_the_descriptive_fields(meta_record):
    assert record_errors(meta_record) == []
    assert meta_record["title"] == "Corneal topography maps of keratoconus patients"  # citation_ over og:
    assert meta_record["description"].startswith("Pentacam elevation and curvature maps")
    assert meta_record["keywords"] == ["keratoconus", "cornea", "corneal topography", "Pentacam"]
    assert meta_record["creators"] == ["Moreau, Claire", "Ito, Ken"]
    assert meta_record["publication_date"] == "2022/05/17"
    assert meta_record["license"] == "cc-by-nc-4.0"
    assert meta_record["url"] == f"{BASE}lab/corneal-topography"  # rel=canonical
    assert meta_record["extra"]["extraction"] == "meta"


def test_first_text_doi_is_the_records_and_scripts_are_not_text(meta_record):
    assert meta_record["doi"] == "10.5555/eyelab.cornea.2022"
    assert meta_record["source_id"] == "10.5555/eyelab.cornea.2022"
    assert meta_record["related_dois"] == ["10.1016/j.jcrs.2021.09.001"]
    assert meta_record["extra"]["doi_source"] == "text"


def test_same_origin_file_links_become_files(meta_record):
    assert [(f["name"], f["url"]) for f in meta_record["files"]] == [
        ("topography_maps.zip", f"{BASE}lab/files/topography_maps.zip"),
        ("clinical.csv", f"{BASE}lab/files/clinical.csv"),
        ("readme.pdf", f"{BASE}lab/files/readme.pdf"),
        ("volumes.nii.gz", f"{BASE}download?id=7"),  # named by its download attribute
    ]
    assert meta_record["medical_count"] == 1 and meta_record["archive_count"] == 1
    assert meta_record["external_links"] == ["https://mirror.example.net/cornea/all_maps.zip"]
    assert meta_record["extra"]["files_from"] == "links"


def test_without_doi_or_canonical_the_id_is_the_path():
    body = "<html><head><title>t</title></head><body><h1>Only a heading</h1></body></html>"
    record = record_of(PortalDatasetPage(response(None, "https://eyes.example.org/d/42/?v=2", body),
                                         PageParams(source="x")))
    assert record["title"] == "Only a heading" and record["source_id"] == "d/42?v=2"
    assert url_id("https://eyes.example.org/") == "eyes.example.org"


# --- catalogue and listing pages ---------------------------------------------------------


def test_catalog_page_lists_datasets_and_counts_unreadable_blocks():
    page = PortalDatasetPage(response("rendered/catalog.html", "https://portal.example.org/collections"),
                             PageParams(source="x"))
    assert page.catalog_links == [
        "https://portal.example.org/datasets/a",
        "https://portal.example.org/datasets/b",
        "https://portal.example.org/datasets/c",
    ]
    assert page.unreadable_jsonld == 1
    assert not page.has_record


def listing(links: str, next_: str | None = "a[rel=next]", same_origin: bool = True) -> PortalListingPage:
    return PortalListingPage(
        response("rendered/listing_page2.html", f"{BASE}listing.html?page=2"),
        PageParams(links=links, next=next_, same_origin=same_origin),
    )


def test_listing_links_css_same_origin_deduplicated_without_fragments():
    page = listing("a.dataset")
    assert page.links_in() == [f"{BASE}dataset.html?id=ds-slitlamp", f"{BASE}dataset.html?id=ds-angio"]
    assert page.next_url == f"{BASE}listing.html?page=3"


def test_listing_links_xpath_and_other_hosts_when_allowed():
    page = listing("//ul[@id='datasets']//a/@href", next_="//a[@rel='next']", same_origin=False)
    assert page.links_in()[2] == "https://elsewhere.example.com/dataset/9"
    assert len(page.links_in()) == 3  # mailto: dropped
    assert page.next_url == f"{BASE}listing.html?page=3"


def test_listing_reads_click_snapshots():
    snapshot = '<ul><li><a class="dataset" href="dataset.html?id=ds-b3">B3</a></li></ul>'
    assert listing("a.dataset").links_in(snapshot) == [f"{BASE}dataset.html?id=ds-b3"]


def test_no_next_link_on_last_page():
    assert listing("a.dataset", next_="a.no-such-link").next_url is None
    assert listing("a.dataset", next_=None).next_url is None


def test_select_urls_text_nodes():
    from parsel import Selector

    sel = Selector(text="<div data-u='x'><span class='u'>/a/1</span></div>")
    assert select_urls(sel, "span.u::text", BASE) == [f"{BASE}a/1"]


# --- the raw site: a plain HTTP fetch sees none of it ------------------------------------


def test_raw_site_html_has_no_links_no_next_and_no_jsonld():
    raw_listing = PortalListingPage(response("site/listing.html", f"{BASE}listing.html"),
                                    PageParams(links="a.dataset", next="a[rel=next]"))
    assert raw_listing.links_in() == [] and raw_listing.next_url is None
    raw_dataset = PortalDatasetPage(response("site/dataset.html", f"{BASE}dataset.html?id=ds-fundus"),
                                    PageParams(source="x"))
    assert raw_dataset.facts()["extra"]["extraction"] == "meta"
    assert raw_dataset.facts()["extra"]["jsonld_types"] == []

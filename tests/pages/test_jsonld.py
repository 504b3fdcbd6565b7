"""schema.org JSON-LD helpers: blocks, node walking, the page's own Dataset, value shapes."""

from __future__ import annotations

import json

import pytest

from envision_spiders.pages.jsonld import (
    catalog_dataset_urls,
    dataset_facts,
    distribution_files,
    doi_of,
    jsonld_blocks,
    keywords_of,
    main_dataset,
    parse_size,
    people_of,
    types_of,
)

PAGE = "https://portal.example.org/datasets/7"


def html(*blocks: object, raw: str = "") -> str:
    scripts = "".join(f'<script type="application/ld+json">{json.dumps(b)}</script>' for b in blocks)
    return f"<html><head>{scripts}{raw}</head><body></body></html>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2 GB", 1_200_000_000),
        ("850 MB", 850_000_000),
        ("512 KiB", 524_288),
        ("3.5 GiB", 3_758_096_384),
        ("12,345,678 bytes", 12_345_678),
        ("2048", 2048),
        (2048, 2048),
        ("1.5TB", 1_500_000_000_000),
        ("10 kB", 10_000),
        ("about 3 GB", None),
        ("12 parsecs", None),
        (-5, None),
        (True, None),
        (None, None),
    ],
)
def test_parse_size(value, expected):
    assert parse_size(value) == expected


def test_blocks_skip_unreadable_and_accept_comment_guards_and_type_case():
    page = html(
        {"@type": "Dataset", "name": "a"},
        raw='<script type="application/ld+json">{oops</script>'
        '<script type="Application/LD+JSON"><!-- {"@type": "Dataset", "name": "b"} --></script>'
        '<script type="application/ld+json">   </script>',
    )
    blocks, bad = jsonld_blocks(page)
    assert [b["name"] for b in blocks] == ["a", "b"]
    assert bad == 1


def test_types_accept_iris_prefixes_and_lists():
    assert types_of({"@type": ["http://schema.org/Dataset", "schema:CreativeWork", "Thing"]}) == {
        "Dataset", "CreativeWork", "Thing"}
    assert types_of({"@type": "https://schema.org/Dataset"}) == {"Dataset"}
    assert types_of({}) == set()


def test_main_dataset_in_graph_and_in_list():
    graph = {"@context": "https://schema.org", "@graph": [{"@type": "WebSite"}, {"@type": "Dataset", "name": "g"}]}
    assert main_dataset([graph], PAGE)["name"] == "g"
    listed = [{"@type": "Organization"}, {"@type": "Dataset", "name": "l"}]
    assert main_dataset([listed], PAGE)["name"] == "l"
    assert main_dataset([{"@type": "WebPage"}], PAGE) is None


def test_main_dataset_prefers_the_one_naming_this_page():
    catalog = {
        "@type": "DataCatalog",
        "dataset": [
            {"@type": "Dataset", "name": "other", "url": "/datasets/8"},
            {"@type": "Dataset", "name": "mine", "url": "/datasets/7/"},
        ],
    }
    assert main_dataset([catalog], PAGE)["name"] == "mine"


def test_catalog_listing_has_no_main_dataset_but_lists_urls():
    catalog = {"@type": "DataCatalog", "dataset": [
        {"@type": "Dataset", "url": "/datasets/1"}, {"@type": "Dataset", "url": "/datasets/2"}]}
    items = {"@type": "ItemList", "itemListElement": [
        {"@type": "ListItem", "item": {"@type": "Dataset", "@id": "/datasets/3"}},
        {"@type": "ListItem", "url": "/datasets/1"}, "ftp://old.example.org/x"]}
    assert main_dataset([catalog, items], "https://portal.example.org/catalog") is None
    assert catalog_dataset_urls([catalog, items], "https://portal.example.org/catalog") == [
        "https://portal.example.org/datasets/1",
        "https://portal.example.org/datasets/2",
        "https://portal.example.org/datasets/3",
    ]


@pytest.mark.parametrize(
    ("node", "doi"),
    [
        ({"identifier": "https://doi.org/10.5281/ZENODO.42"}, "10.5281/zenodo.42"),
        ({"identifier": {"@type": "PropertyValue", "propertyID": "DOI", "value": "10.1234/ABC"}}, "10.1234/abc"),
        ({"identifier": {"@type": "PropertyValue", "propertyID": "doi", "value": "doi:10.1234/x"}}, "10.1234/x"),
        ({"identifier": ["internal-7", "doi:10.1234/y"]}, "10.1234/y"),
        ({"sameAs": ["https://example.org/x", "https://dx.doi.org/10.1234/z"]}, "10.1234/z"),
        ({"@id": "https://doi.org/10.1234/id"}, "10.1234/id"),
        ({"identifier": "ark:/13030/tf5p30086k"}, None),
    ],
)
def test_doi_from_every_identifier_shape(node, doi):
    assert doi_of(node) == doi


def test_keywords_people_shapes():
    assert keywords_of("fundus, OCT ,") == ["fundus", "OCT"]
    assert keywords_of([{"@type": "DefinedTerm", "name": "retina"}, "OCT", "OCT"]) == ["retina", "OCT"]
    assert people_of([{"@type": "Person", "givenName": "Ana", "familyName": "Silva"},
                      {"@type": "Organization", "name": "Eye Hospital"}, "J. Doe"]) == [
        "Silva, Ana", "Eye Hospital", "J. Doe"]


def test_distribution_files_names_sizes_urls_and_mimetypes():
    node = {"distribution": [
        {"@type": "DataDownload", "name": "Images", "contentUrl": "/files/fundus%20images.zip",
         "encodingFormat": "application/zip", "contentSize": "1.2 GB"},
        {"@type": "DataDownload", "name": "labels.csv", "contentUrl": "https://cdn.example.org/l.csv?sig=1",
         "encodingFormat": "CSV", "contentSize": 2048},
        {"@type": "DataDownload", "contentUrl": "/files/fundus%20images.zip"},  # same file again
        {"@type": "DataDownload", "name": "Request access"},  # no URL: a link, nothing to download
        "https://portal.example.org/files/readme.txt",
    ]}
    files = distribution_files(node, PAGE, "open")
    assert [f["name"] for f in files] == ["fundus images.zip", "labels.csv", "Request access", "readme.txt"]
    assert files[0]["size"] == 1_200_000_000 and files[0]["mimetype"] == "application/zip"
    assert files[0]["url"] == "https://portal.example.org/files/fundus%20images.zip"
    assert files[1]["mimetype"] is None and files[1]["size"] == 2048
    assert files[2]["url"] is None and files[2]["access"] == "link"
    assert all(f["checksum"] is None for f in files)


def test_dataset_facts_full_node():
    node = {
        "@type": "Dataset",
        "name": "Retinal OCT",
        "description": "<p>B-scans &amp; labels</p>",
        "keywords": "OCT, retina",
        "license": {"@type": "CreativeWork", "url": "https://creativecommons.org/licenses/by/4.0/"},
        "identifier": "10.5555/OCT.1",
        "creator": {"@type": "Person", "name": "Ana Silva"},
        "datePublished": "2021-01-02",
        "dateModified": "2021-02-03T10:00:00Z",
        "version": 3,
        "isAccessibleForFree": False,
        "citation": [{"@id": "https://doi.org/10.1016/j.x.2020.1"}],
        "distribution": [{"@type": "DataDownload", "contentUrl": "oct.zip", "contentSize": "10 MB"}],
    }
    facts = dataset_facts(node, PAGE)
    assert facts["title"] == "Retinal OCT" and facts["description"] == "B-scans & labels"
    assert facts["keywords"] == ["OCT", "retina"] and facts["creators"] == ["Ana Silva"]
    assert facts["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert facts["doi"] == "10.5555/oct.1" and facts["related_dois"] == ["10.1016/j.x.2020.1"]
    assert facts["version"] == "3" and facts["modified"] == "2021-02-03T10:00:00Z"
    assert facts["access_type"] == "restricted" and facts["files"][0]["access"] == "restricted"
    assert facts["files"][0]["url"] == "https://portal.example.org/datasets/oct.zip"


def test_dataset_facts_leave_out_what_is_missing():
    assert dataset_facts({"@type": "Dataset", "name": "x"}, PAGE) == {"title": "x"}

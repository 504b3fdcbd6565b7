"""Which source answers an input (``ingest.route``), with no server: DOIs by prefix, record
URLs by host and path, the rest as web pages; inputs files; login redirects."""

from __future__ import annotations

import pytest

from envision_spiders.ingest.ledger import Ledger
from envision_spiders.ingest.lookups import LOOKUPS
from envision_spiders.ingest.route import InputError, Target, is_login_redirect, read_inputs, route, source_hosts


@pytest.mark.parametrize("text, source, key", [
    ("10.5281/zenodo.1234567", "zenodo", "1234567"),
    ("doi:10.5281/ZENODO.42", "zenodo", "42"),
    ("https://doi.org/10.6084/m9.figshare.5678.v3", "figshare", "5678"),
    ("https://dx.doi.org/10.5061/dryad.abc123", "dryad", "10.5061/dryad.abc123"),
    ("10.17605/OSF.IO/AB3CD", "osf", "ab3cd"),
])
def test_a_doi_minted_by_a_crawled_repository_names_its_record(text, source, key):
    target = route(text)
    assert (target.kind, target.source, target.key) == ("record", source, key)
    assert target.doi and target.doi.startswith("10.")


def test_any_other_doi_goes_to_datacite():
    assert route("doi:10.1016/J.X.2020.1") == Target("doi:10.1016/J.X.2020.1", "doi", "datacite", "10.1016/j.x.2020.1",
                                                      "10.1016/j.x.2020.1")


@pytest.mark.parametrize("url, source, key", [
    ("https://zenodo.org/records/7654321", "zenodo", "7654321"),
    ("https://zenodo.org/record/7654321/files/a.zip?download=1", "zenodo", "7654321"),
    ("https://figshare.com/articles/dataset/Fundus_images/12345678/2", "figshare", "12345678"),
    ("https://springernature.figshare.com/articles/dataset/x/777", "figshare", "777"),
    ("https://api.figshare.com/v2/articles/99", "figshare", "99"),
    ("https://datadryad.org/stash/dataset/doi:10.5061/dryad.q2bvq83", "dryad", "10.5061/dryad.q2bvq83"),
    ("https://datadryad.org/dataset/doi%3A10.5061%2Fdryad.q2bvq83", "dryad", "10.5061/dryad.q2bvq83"),
    ("https://osf.io/ab3cd/", "osf", "ab3cd"),
    ("https://osf.io/ab3cd/files/osfstorage", "osf", "ab3cd"),
    ("https://www.kaggle.com/datasets/owner/retina-oct", "kaggle", "owner/retina-oct"),
    ("https://reporter.nih.gov/project-details/10123456", "nei", "10123456"),
    ("https://reporter.nih.gov/search/abc/project-details/10123456", "nei", "10123456"),
])
def test_a_record_url_of_a_crawled_source_names_its_record(url, source, key):
    target = route(url)
    assert (target.kind, target.source, target.key) == ("record", source, key)


@pytest.mark.parametrize("url", [
    "https://osf.io/about/", "https://www.kaggle.com/datasets/search/fundus", "https://zenodo.org/communities/eye",
    "https://example.org/data/retina.zip", "https://lab.example.edu/datasets/oct",
])
def test_other_urls_are_web_pages_or_files(url):
    assert route(url).kind == "web"


def test_github_repository_urls():
    assert route("https://github.com/owner/repo.git").key == "owner/repo"
    assert route("https://github.com/owner/repo/releases/tag/v1").kind == "github"


def test_the_configured_api_hosts_count_as_the_sources_hosts():
    hosts = source_hosts({"zenodo": "http://127.0.0.1:8001/api", "osf": "http://127.0.0.1:8002/v2"})
    assert route("http://127.0.0.1:8001/records/5", hosts)[1:3] == ("record", "zenodo")
    assert route("http://127.0.0.1:8002/v2/nodes/ab3cd/", hosts)[1:4] == ("record", "osf", "ab3cd")
    assert route("http://127.0.0.1:8003/records/5", hosts).kind == "web"  # another port: not the source


@pytest.mark.parametrize("text", ["", "retina.zip", "ftp://example.org/x.zip", "doi:not-a-doi", "10.12/short"])
def test_unusable_inputs_say_why(text):
    with pytest.raises(InputError):
        route(text)


def test_an_inputs_file_skips_blank_lines_and_comments(tmp_path):
    path = tmp_path / "inputs.txt"
    path.write_text("# a review's datasets\n\n10.5281/zenodo.1  # the first\nhttps://example.org/a#frag\n  \n")
    assert read_inputs(path) == ["10.5281/zenodo.1", "https://example.org/a#frag"]


def test_login_redirects_are_recognised():
    assert is_login_redirect("https://ex.org/data.zip", "https://ex.org/users/sign_in?next=/data.zip")
    assert is_login_redirect("https://ex.org/d", "https://login.ex.org/")
    assert not is_login_redirect("https://ex.org/d", "https://ex.org/d/")
    assert not is_login_redirect("https://ex.org/d", "https://cdn.ex.org/d.zip")


def test_every_routed_source_has_a_lookup():
    assert {"zenodo", "figshare", "dryad", "osf", "kaggle", "nei", "datacite"} == set(LOOKUPS)
    assert LOOKUPS["dryad"].url("http://h/api/v2", "10.5061/dryad.x") == "http://h/api/v2/datasets/doi%3A10.5061%2Fdryad.x"
    assert LOOKUPS["kaggle"].url("http://h/api/v1", "o/s") == "http://h/api/v1/datasets/view/o/s"


def test_the_ledger_keeps_the_first_record_and_reasons_only_without_one():
    ledger = Ledger()
    ledger.expect("a")
    ledger.expect("b")
    ledger.failed("a", "http_error", "HTTP 404")
    assert ledger.recorded("a", "zenodo:1") and not ledger.recorded("a", "zenodo:2")
    ledger.failed("a", "dropped", "late")
    assert ledger.summary() == ["a -> zenodo:1", "b -> no record (unanswered)"]
    assert ledger.missing == 1

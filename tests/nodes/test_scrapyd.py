from __future__ import annotations

import pytest
from scrapy.settings import Settings

from envision_spiders.http.credentials import redact_url
from envision_spiders.nodes.scrapyd import Node, configured_nodes, node_urls


def test_node_urls_split_on_commas_and_spaces_drop_trailing_slashes_and_repeats():
    assert node_urls("http://a:6800/, http://b:6800  https://c/x/\nhttp://a:6800") == [
        "http://a:6800", "http://b:6800", "https://c/x"]
    assert node_urls(["http://a", "http://b,http://a"]) == ["http://a", "http://b"]
    assert node_urls("") == [] and node_urls(None) == []


@pytest.mark.parametrize("bad", ["ftp://a", "a:6800", "http://"])
def test_a_node_url_that_is_not_http_is_refused(bad):
    with pytest.raises(ValueError, match="not an http"):
        node_urls(f"http://ok, {bad}")


def test_nodes_come_from_the_option_then_scrapyd_urls_then_scrapyd_url():
    settings = Settings({"SCRAPYD_URL": "http://one:6800", "SCRAPYD_URLS": []})
    assert configured_nodes(settings) == ["http://one:6800"]
    settings.set("SCRAPYD_URLS", "http://a:6800,http://b:6800")  # -s SCRAPYD_URLS=... is a string
    assert configured_nodes(settings) == ["http://a:6800", "http://b:6800"]
    assert configured_nodes(settings, ["http://c:6800"]) == ["http://c:6800"]
    with pytest.raises(ValueError, match="no scrapyd node"):
        configured_nodes(Settings({"SCRAPYD_URL": "", "SCRAPYD_URLS": []}))


def test_a_password_in_a_shared_url_setting_is_masked_for_output():
    assert redact_url("postgresql://crawler:s3cret@db:5432/envision") == "postgresql://crawler:***@db:5432/envision"
    assert redact_url("postgresql://db/envision") == "postgresql://db/envision"
    assert redact_url("/srv/data") == "/srv/data"


def test_a_node_without_the_project_answers_but_takes_no_jobs():
    node = Node("http://a", answering=True, error="project 'envision_spiders' not found", running=2, pending=1)
    assert not node.usable and node.load == 3
    node = Node("http://a", answering=True, jobs={"pending": [{"spider": "osf", "id": "1"}],
                                                   "running": [{"spider": "zenodo", "id": "2"}],
                                                   "finished": [{"spider": "nei", "id": "3"}]})
    assert node.usable and node.active_spiders() == {"osf", "zenodo"}

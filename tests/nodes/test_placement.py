from __future__ import annotations

import pytest

from envision_spiders.nodes.placement import Placement, busy_spiders


def test_jobs_go_to_the_least_busy_node_counting_the_jobs_just_placed():
    placement = Placement({"http://a": 2, "http://b": 0, "http://c": 1})
    chosen = []
    for _ in range(5):
        node = placement.next()
        placement.placed(node)
        chosen.append(node)
    # b (0) -> b|c tie at 1 -> ...; ties go to the node listed first
    assert chosen == ["http://b", "http://b", "http://c", "http://a", "http://b"]
    assert placement.loads == {"http://a": 3, "http://b": 3, "http://c": 2}


def test_a_tie_goes_to_the_node_listed_first_whatever_its_name():
    assert Placement({"http://z": 0, "http://a": 0}).next() == "http://z"


def test_a_dropped_node_takes_no_more_jobs_and_none_left_is_falsy():
    placement = Placement({"http://a": 0, "http://b": 5})
    placement.drop("http://a")
    assert placement.next() == "http://b"
    placement.drop("http://b")
    assert not placement
    with pytest.raises(KeyError):
        placement.next()


def test_busy_spiders_lists_every_node_a_spider_is_active_on():
    busy = busy_spiders({"http://a": {"zenodo", "osf"}, "http://b": {"zenodo"}, "http://c": set()})
    assert busy == {"zenodo": ["http://a", "http://b"], "osf": ["http://a"]}

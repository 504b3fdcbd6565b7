"""Rate-budget slots (``http/slots.py``): names, which slots are budgets, when a request leaves one."""

from __future__ import annotations

import pytest

from envision_spiders.http.slots import file_slot, is_budget_slot, leaves_budget, shared_slot


def test_budget_slots_are_the_file_and_shared_slots_only():
    assert is_budget_slot(file_slot("zenodo")) and is_budget_slot(shared_slot("figshare"))
    assert not is_budget_slot("api.figshare.com")
    assert not is_budget_slot(None)


@pytest.mark.parametrize(("to_url", "leaves"), [
    ("https://s3.amazonaws.com/b/f", True),  # another host
    ("http://api.example.org/f", True),  # another scheme
    ("https://api.example.org:8443/f", True),  # another port
    ("https://api.example.org:443/other", False),  # the default port spelled out
])
def test_a_request_leaves_a_budget_slot_when_the_origin_changes(to_url, leaves):
    assert leaves_budget("example:all", "https://api.example.org/files/1", to_url) is leaves


def test_a_slot_that_is_no_budget_is_never_left():
    assert not leaves_budget("api.example.org", "https://api.example.org/files/1", "https://s3.amazonaws.com/b/f")

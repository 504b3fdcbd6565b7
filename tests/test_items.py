"""items.field_value / record_owner read what ItemAdapter reads, a DatasetRecord without building one."""

from __future__ import annotations

import attrs
import pytest
from itemadapter import ItemAdapter

from envision_spiders.items import RECORD_FIELDS, DatasetRecord, field_value, record_owner

RECORD = DatasetRecord(source="zenodo", source_id="7", doi="10.5281/zenodo.7", label="EYE_IMAGING")


@pytest.mark.parametrize("item", [RECORD, attrs.asdict(RECORD)], ids=["DatasetRecord", "dict"])
def test_field_value_is_what_item_adapter_gets(item):
    for name in [*RECORD_FIELDS, "no_such_field"]:
        assert field_value(item, name, "default") == ItemAdapter(item).get(name, "default")


def test_record_owner_is_source_and_source_id_as_strings_or_none():
    assert record_owner(RECORD) == ("zenodo", "7")
    assert record_owner({"source": "osf", "source_id": 12}) == ("osf", "12")
    assert record_owner({"source": "osf"}) is None
    assert record_owner(object()) is None  # not an item at all

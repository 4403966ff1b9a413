"""The sandbox's Notion emulation: search's object filter, a query's timestamp filter, pages
completed as Notion returns them."""

from __future__ import annotations

import pytest

from engine.sandbox.protocols import BadRequest
from engine.sandbox.protocols.notion import _matcher, notion_page
from engine.sandbox.store import Entry


def entry(record: dict) -> Entry:
    return Entry(record.get("id"), record, b"{}")


PAGE = entry({"id": "p1", "object": "page", "last_edited_time": "2025-11-03T14:20:00.000Z"})
SOURCE = entry({"id": "d1", "object": "data_source", "last_edited_time": "2025-10-15T12:00:00.000Z"})


def test_search_filters_by_object() -> None:
    keep = _matcher({"property": "object", "value": "data_source"})
    assert [keep(PAGE), keep(SOURCE)] == [False, True]
    with pytest.raises(BadRequest, match="page` or `data_source"):
        _matcher({"property": "object", "value": "database"})


def test_queries_filter_by_timestamp() -> None:
    since = _matcher(
        {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": "2025-11-03T14:20:00Z"}}
    )
    before = _matcher({"timestamp": "last_edited_time", "last_edited_time": {"before": "2025-11-01"}})
    assert [since(PAGE), since(SOURCE), before(PAGE), before(SOURCE)] == [True, False, False, True]
    with pytest.raises(BadRequest, match="should hold one of"):
        _matcher({"timestamp": "last_edited_time", "last_edited_time": {"since": "2025-11-01"}})


def test_a_written_page_gets_types_plain_text_and_its_parent_type() -> None:
    page = notion_page(
        {
            "parent": {"data_source_id": "d1"},
            "properties": {
                "Name": {"title": [{"type": "text", "text": {"content": "Acme"}}]},
                "Status": {"status": {"name": "Active"}},
            },
        }
    )
    assert page["parent"] == {"type": "data_source_id", "data_source_id": "d1"}
    name = page["properties"]["Name"]
    assert (name["type"], name["id"], name["title"][0]["plain_text"]) == ("title", "title", "Acme")
    assert page["properties"]["Status"]["type"] == "status"

"""Patches (a batch that writes only some columns), per-record versions and `[]` paths in webhook
events, and streams that only webhooks fill: what WhatsApp's status receipts need, on both
warehouses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from engine.destinations import Batch, Destination, StateKey, open_destination
from engine.paths import get_all
from engine.spec.models import StreamSpec

from .conftest import WAREHOUSES, WarehouseFactory

KEY = ["_provider", "_connection_id", "id"]
SCHEMA = pa.schema(
    [
        ("_provider", pa.string()),
        ("_connection_id", pa.string()),
        ("id", pa.string()),
        ("text", pa.string()),
        ("status", pa.string()),
        ("_version", pa.timestamp("us", tz="UTC")),
    ]
)
STATE = StateKey("whatsapp", "_webhooks", "default")


def at(second: int) -> datetime:
    return datetime(2025, 6, 8, 21, 0, second, tzinfo=UTC)


def rows(*items: tuple[str, str | None, str | None, int]) -> pa.Table:
    return pa.table(
        {
            "_provider": ["whatsapp"] * len(items),
            "_connection_id": ["default"] * len(items),
            "id": [i[0] for i in items],
            "text": [i[1] for i in items],
            "status": [i[2] for i in items],
            "_version": [at(i[3]) for i in items],
        },
        schema=SCHEMA,
    )


@pytest.fixture(params=WAREHOUSES)
def dest(request: pytest.FixtureRequest, new_warehouse: WarehouseFactory) -> Iterator[Destination]:
    destination = open_destination(new_warehouse(request.param, "w"))
    destination.ensure_table("messages", SCHEMA)
    yield destination
    destination.close()


def table(dest: Destination) -> list[tuple[Any, ...]]:
    cursor = dest.connection.execute("SELECT id, text, status FROM messages ORDER BY id")  # type: ignore[attr-defined]
    return [tuple(r) for r in cursor.fetchall()]


def test_a_patch_sets_its_columns_keeps_the_others_and_inserts_missing_rows(dest: Destination) -> None:
    dest.commit(
        [Batch("messages", rows(("w1", "Hi", "accepted", 10)), KEY, "merge", versioned=True)], STATE, {}
    )
    patch = rows(("w1", None, "delivered", 12), ("w2", None, "sent", 12))
    columns = ["_provider", "_connection_id", "id", "status", "_version"]
    counts = dest.commit([Batch("messages", patch, KEY, "merge", versioned=True, columns=columns)], STATE, {})
    assert (counts.inserted, counts.updated, counts.stale) == (1, 1, 0)
    assert table(dest) == [("w1", "Hi", "delivered"), ("w2", None, "sent")]

    older = rows(("w1", None, "sent", 11))  # a receipt older than the stored version
    counts = dest.commit([Batch("messages", older, KEY, "merge", versioned=True, columns=columns)], STATE, {})
    assert (counts.inserted, counts.updated, counts.stale) == (0, 0, 1)
    assert table(dest) == [("w1", "Hi", "delivered"), ("w2", None, "sent")]


def test_brackets_in_a_records_path_flatten_every_list_on_the_way() -> None:
    body = {
        "entry": [
            {"changes": [{"value": {"messages": [{"id": "a"}, {"id": "b"}]}}, {"value": {"statuses": []}}]},
            {"changes": [{"value": {"messages": [{"id": "c"}]}}]},
            {"changes": "not a list"},
        ]
    }
    assert [m["id"] for m in get_all(body, "entry[].changes[].value.messages")] == ["a", "b", "c"]
    assert get_all(body, "entry[].changes[].value.nothing") == []
    assert get_all({"a": {"b": 1}}, "a.b") == [1]


def test_a_stream_without_a_request_is_filled_by_webhooks_only() -> None:
    stream = StreamSpec.model_validate({"into": "messages", "fields": {"id": "id"}})
    assert stream.request is None and not stream.polled
    with pytest.raises(ValidationError, match="needs `into`"):
        StreamSpec.model_validate({"fields": {"id": "id"}})
    with pytest.raises(ValidationError, match="incremental"):
        StreamSpec.model_validate(
            {"into": "messages", "incremental": {"type": "cursor", "field": "t", "param": "since"}}
        )

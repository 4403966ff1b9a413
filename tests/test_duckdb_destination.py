"""DuckDB destination: merge and append, in-batch duplicates, schema evolution, state in the same transaction."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from engine.destinations import Batch, StateKey, open_destination
from engine.destinations.duckdb import DuckDBDestination

KEY = StateKey("stripe", "invoices", "default")
SCHEMA = pa.schema(
    [
        ("_provider", pa.string()),
        ("_connection_id", pa.string()),
        ("id", pa.string()),
        ("status", pa.string()),
    ]
)


def rows(*pairs: tuple[str, str], schema: pa.Schema = SCHEMA) -> pa.Table:
    data = {"_provider": ["stripe"] * len(pairs), "_connection_id": ["default"] * len(pairs)}
    data["id"] = [p[0] for p in pairs]
    data["status"] = [p[1] for p in pairs]
    return pa.table(data, schema=schema)


@pytest.fixture
def dest(tmp_path: Path) -> DuckDBDestination:
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    destination.ensure_table("invoices", SCHEMA)
    return destination


def table(dest: DuckDBDestination) -> list[tuple]:
    return dest.connection.execute("SELECT id, status FROM invoices ORDER BY id").fetchall()


def test_merge_upserts_on_the_key_and_counts(dest: DuckDBDestination) -> None:
    key = ["_provider", "_connection_id", "id"]
    counts = dest.commit(
        [Batch("invoices", rows(("in_1", "open"), ("in_2", "draft")), key, "merge")], KEY, {"a": 1}
    )
    assert (counts.inserted, counts.updated) == (2, 0)
    counts = dest.commit(
        [Batch("invoices", rows(("in_2", "paid"), ("in_3", "open")), key, "merge")], KEY, {"a": 2}
    )
    assert (counts.inserted, counts.updated) == (1, 1)
    assert table(dest) == [("in_1", "open"), ("in_2", "paid"), ("in_3", "open")]
    assert dest.get_state(KEY) == {"a": 2}


def test_merge_keeps_the_last_of_duplicates_within_a_batch(dest: DuckDBDestination) -> None:
    key = ["_provider", "_connection_id", "id"]
    dest.commit(
        [Batch("invoices", rows(("in_1", "open"), ("in_2", "x"), ("in_1", "paid")), key, "merge")], KEY, {}
    )
    assert table(dest) == [("in_1", "paid"), ("in_2", "x")]


def test_append_keeps_every_row(dest: DuckDBDestination) -> None:
    batch = Batch("invoices", rows(("in_1", "open"), ("in_1", "paid")), ["id"], "append")
    assert dest.commit([batch], KEY, {}).inserted == 2
    assert len(table(dest)) == 2


def test_new_model_columns_are_added_as_nullable(dest: DuckDBDestination) -> None:
    key = ["_provider", "_connection_id", "id"]
    dest.commit([Batch("invoices", rows(("in_1", "open")), key, "merge")], KEY, {})
    wider = SCHEMA.append(pa.field("amount_due", pa.decimal128(18, 2)))
    dest.ensure_table("invoices", wider)
    columns = dest.connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'invoices'"
    ).fetchall()
    assert ("amount_due", "DECIMAL(18,2)") in columns
    assert dest.connection.execute("SELECT amount_due FROM invoices").fetchall() == [(None,)]


def test_a_failed_load_rolls_back_rows_and_state(dest: DuckDBDestination) -> None:
    key = ["_provider", "_connection_id", "id"]
    dest.commit([Batch("invoices", rows(("in_1", "open")), key, "merge")], KEY, {"page": 1})
    bad = Batch("no_such_table", rows(("in_2", "open")), key, "merge")
    good = Batch("invoices", rows(("in_3", "open")), key, "merge")
    with pytest.raises(Exception, match="no_such_table"):
        dest.commit([good, bad], KEY, {"page": 2})
    assert table(dest) == [("in_1", "open")]
    assert dest.get_state(KEY) == {"page": 1}


def test_state_is_per_connector_stream_and_connection(dest: DuckDBDestination) -> None:
    dest.commit([], StateKey("stripe", "invoices", "acct_a"), {"cursor": 1})
    dest.commit([], StateKey("stripe", "invoices", "acct_b"), {"cursor": 2})
    assert dest.get_state(StateKey("stripe", "invoices", "acct_a")) == {"cursor": 1}
    assert dest.get_state(StateKey("stripe", "charges", "acct_a")) == {}


def test_warehouse_url_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANIFOLD_WAREHOUSE_URL", f"duckdb:///{tmp_path}/elsewhere.duckdb")
    destination = open_destination()
    destination.close()
    assert (tmp_path / "elsewhere.duckdb").exists()
    with pytest.raises(Exception, match="not supported"):
        open_destination("mysql://x")

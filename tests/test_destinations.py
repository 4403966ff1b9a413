"""Destinations, on DuckDB and on Postgres: merge and append, in-batch duplicates, schema evolution,
state in the same transaction; then what only Postgres has: its column types, jsonb, its key."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from rich.console import Console

from engine.destinations import Batch, Destination, StateKey, open_destination
from engine.destinations.postgres import PostgresDestination, split_schema
from engine.errors import ConfigError, ManifoldError, WarehouseError
from engine.models import load_models
from engine.redact import redact_url
from engine.warehouse_query import run_query

from .conftest import POSTGRES_URL, WAREHOUSES, WarehouseFactory

KEY = StateKey("stripe", "invoices", "default")
TABLE_KEY = ["_provider", "_connection_id", "id"]
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


def fetch(dest: Destination, sql: str) -> list[tuple[Any, ...]]:
    """A read query on the destination's own connection (DuckDB and psycopg both answer this)."""
    return [tuple(r) for r in dest.connection.execute(sql).fetchall()]  # type: ignore[attr-defined]


def table(dest: Destination) -> list[tuple[Any, ...]]:
    return fetch(dest, "SELECT id, status FROM invoices ORDER BY id")


@pytest.fixture(params=WAREHOUSES)
def dest(request: pytest.FixtureRequest, new_warehouse: WarehouseFactory) -> Iterator[Destination]:
    destination = open_destination(new_warehouse(request.param, "w"))
    destination.ensure_table("invoices", SCHEMA)
    yield destination
    destination.close()


@pytest.fixture
def pg(new_warehouse: WarehouseFactory) -> Iterator[PostgresDestination]:
    destination = open_destination(new_warehouse("postgres", "w"))
    assert isinstance(destination, PostgresDestination)
    yield destination
    destination.close()


def test_merge_upserts_on_the_key_and_counts(dest: Destination) -> None:
    counts = dest.commit(
        [Batch("invoices", rows(("in_1", "open"), ("in_2", "draft")), TABLE_KEY, "merge")], KEY, {"a": 1}
    )
    assert (counts.inserted, counts.updated) == (2, 0)
    counts = dest.commit(
        [Batch("invoices", rows(("in_2", "paid"), ("in_3", "open")), TABLE_KEY, "merge")], KEY, {"a": 2}
    )
    assert (counts.inserted, counts.updated) == (1, 1)
    assert table(dest) == [("in_1", "open"), ("in_2", "paid"), ("in_3", "open")]
    assert dest.get_state(KEY) == {"a": 2}


def test_merge_keeps_the_last_of_duplicates_within_a_batch(dest: Destination) -> None:
    batch = Batch("invoices", rows(("in_1", "open"), ("in_2", "x"), ("in_1", "paid")), TABLE_KEY, "merge")
    counts = dest.commit([batch], KEY, {})
    assert (counts.inserted, counts.updated) == (2, 0)
    assert table(dest) == [("in_1", "paid"), ("in_2", "x")]


def test_append_keeps_every_row(dest: Destination) -> None:
    batch = Batch("invoices", rows(("in_1", "open"), ("in_1", "paid")), ["id"], "append")
    assert dest.commit([batch], KEY, {}).inserted == 2
    assert dest.commit([batch], KEY, {}).inserted == 2
    assert len(table(dest)) == 4


def test_new_model_columns_are_added_as_nullable(dest: Destination) -> None:
    dest.commit([Batch("invoices", rows(("in_1", "open")), TABLE_KEY, "merge")], KEY, {})
    wider = SCHEMA.append(pa.field("amount_due", pa.decimal128(18, 2)))
    dest.ensure_table("invoices", wider)
    columns = fetch(
        dest,
        "SELECT lower(data_type), numeric_precision, numeric_scale, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'invoices' AND column_name = 'amount_due'",
    )
    assert len(columns) == 1
    kind, precision, scale, nullable = columns[0]
    assert kind in ("decimal(18,2)", "numeric") and (precision, scale, nullable) == (18, 2, "YES")
    assert fetch(dest, "SELECT amount_due FROM invoices") == [(None,)]
    money = pa.table({**rows(("in_2", "open")).to_pydict(), "amount_due": [Decimal("12.34")]}, schema=wider)
    dest.commit([Batch("invoices", money, TABLE_KEY, "merge")], KEY, {})
    assert fetch(dest, "SELECT amount_due FROM invoices WHERE id = 'in_2'") == [(Decimal("12.34"),)]


def test_a_failed_load_rolls_back_rows_and_state(dest: Destination) -> None:
    dest.commit([Batch("invoices", rows(("in_1", "open")), TABLE_KEY, "merge")], KEY, {"page": 1})
    bad = Batch("no_such_table", rows(("in_2", "open")), TABLE_KEY, "merge")
    good = Batch("invoices", rows(("in_3", "open")), TABLE_KEY, "merge")
    with pytest.raises(Exception, match="no_such_table"):
        dest.commit([good, bad], KEY, {"page": 2})
    assert table(dest) == [("in_1", "open")]
    assert dest.get_state(KEY) == {"page": 1}
    dest.commit([good], KEY, {"page": 2})  # the destination is usable after the rollback
    assert table(dest) == [("in_1", "open"), ("in_3", "open")]


def test_state_is_per_connector_stream_and_connection(dest: Destination) -> None:
    dest.commit([], StateKey("stripe", "invoices", "acct_a"), {"cursor": 1})
    dest.commit([], StateKey("stripe", "invoices", "acct_b"), {"cursor": 2})
    dest.commit([], StateKey("stripe", "invoices", "acct_b"), {"cursor": 3, "slices": {"": {"page": "x"}}})
    assert dest.get_state(StateKey("stripe", "invoices", "acct_a")) == {"cursor": 1}
    assert dest.get_state(StateKey("stripe", "invoices", "acct_b")) == {
        "cursor": 3,
        "slices": {"": {"page": "x"}},
    }
    assert dest.get_state(StateKey("stripe", "charges", "acct_a")) == {}


def test_warehouse_url_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANIFOLD_WAREHOUSE_URL", f"duckdb:///{tmp_path}/elsewhere.duckdb")
    destination = open_destination()
    destination.close()
    assert (tmp_path / "elsewhere.duckdb").exists()
    with pytest.raises(ConfigError, match="not supported") as error:
        open_destination("mysql://x")
    assert "duckdb:///" in str(error.value) and "postgresql://" in str(error.value)


# ---------------------------------------------------------------- Postgres only


def test_urls_give_the_schema_and_are_shown_without_passwords() -> None:
    shown = redact_url("postgresql://app:p@ss/word@db:5432/w?password=x&schema=s")
    assert shown == "postgresql://app:***@db:5432/w?password=***&schema=s"
    assert redact_url("duckdb:///state/w.duckdb") == "duckdb:///state/w.duckdb"
    assert split_schema("postgresql://u@h/db?schema=s&sslmode=disable") == (
        "postgresql://u@h/db?sslmode=disable",
        "s",
    )
    assert split_schema("postgres://u@h:5433/db") == ("postgres://u@h:5433/db", None)


def test_model_types_map_to_postgres_types(pg: PostgresDestination) -> None:
    models = load_models()
    pg.ensure_table("invoices", models["invoices"].arrow_schema())
    pg.ensure_table("calendar_events", models["calendar_events"].arrow_schema())
    pg.ensure_table("files", models["files"].arrow_schema())
    types = {
        (t, c): kind
        for t, c, kind in fetch(
            pg,
            "SELECT table_name, column_name, CASE WHEN data_type = 'ARRAY' THEN udt_name"
            " WHEN data_type = 'numeric' THEN format('numeric(%s,%s)', numeric_precision, numeric_scale)"
            " ELSE data_type END FROM information_schema.columns WHERE table_schema = current_schema()",
        )
    }
    assert types[("invoices", "created_at")] == "timestamp with time zone"
    assert types[("invoices", "amount_due")] == "numeric(18,2)"
    assert types[("invoices", "issue_date")] == "date"
    assert types[("invoices", "line_items")] == "jsonb"
    assert types[("invoices", "_raw")] == "jsonb"
    assert types[("invoices", "id")] == "text"
    assert types[("calendar_events", "all_day")] == "boolean"
    assert types[("calendar_events", "recurrence")] == "_text"  # text[]
    assert types[("files", "size_bytes")] == "bigint"
    assert types[("_manifold_state", "state")] == "jsonb"
    assert types[("_manifold_runs", "stats")] == "jsonb"


def test_values_round_trip_and_jsonb_is_queryable(pg: PostgresDestination) -> None:
    model = load_models()["calendar_events"]
    schema = model.arrow_schema()
    pg.ensure_table("calendar_events", schema)
    row: dict[str, Any] = {f.name: None for f in schema}
    row.update(
        id="evt_1",
        calendar_id="primary",
        title='Say "hi"\\ to\x00 Jo',  # a NUL: Postgres text cannot hold one, it is dropped
        all_day=True,
        start_date=date(2025, 11, 24),
        start_at=datetime(2025, 11, 3, 15, 0, 0, 123456, tzinfo=UTC),
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO", 'say "hi", {x}', None, ""],
        attendees='[{"email": "maya@example.com"}, {"email": "jo@northwind.example"}]',
        _provider="google_calendar",
        _connection_id="default",
        _synced_at=datetime(2025, 11, 5, tzinfo=UTC),
        _raw='{"object": "event", "kind": "calendar#event", "note": "a\\u0000b"}',
    )
    empty = {**row, "id": "evt_2", "recurrence": [], "attendees": None, "title": ""}
    batch = Batch(
        "calendar_events", pa.Table.from_pylist([row, empty], schema=schema), model.table_key, "merge"
    )
    assert pg.commit([batch], StateKey("google_calendar", "events", "default"), {}).inserted == 2
    got = fetch(
        pg,
        "SELECT title, all_day, start_date, start_at, recurrence, attendees->1->>'email', _raw->>'object',"
        " _raw->>'note' FROM calendar_events WHERE _raw->>'kind' = 'calendar#event' ORDER BY id",
    )
    assert got[0] == (
        'Say "hi"\\ to Jo',
        True,
        date(2025, 11, 24),
        datetime(2025, 11, 3, 15, 0, 0, 123456, tzinfo=UTC),
        ["RRULE:FREQ=WEEKLY;BYDAY=MO", 'say "hi", {x}', None, ""],
        "jo@northwind.example",
        "event",
        "ab",
    )
    assert got[1][0] == "" and got[1][4] == [] and len(got) == 2


def test_the_first_merge_gives_the_table_its_primary_key(pg: PostgresDestination) -> None:
    primary_key = (
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '{}'::regclass AND i.indisprimary ORDER BY 1"
    )
    pg.ensure_table("invoices", SCHEMA)
    pg.ensure_table("events", SCHEMA)
    assert fetch(pg, primary_key.format("invoices")) == []
    pg.commit([Batch("invoices", rows(("in_1", "open")), TABLE_KEY, "merge")], KEY, {})
    assert fetch(pg, primary_key.format("invoices")) == [("_connection_id",), ("_provider",), ("id",)]
    pg.commit([Batch("events", rows(("ev_1", "a"), ("ev_1", "b")), TABLE_KEY, "append")], KEY, {})
    assert fetch(pg, primary_key.format("events")) == []  # append tables keep duplicates
    with pytest.raises(
        WarehouseError, match=r"primary key \(_provider, _connection_id, id\) but rows are merged"
    ):
        pg.commit([Batch("invoices", rows(("in_1", "x")), ["id", "status"], "merge")], KEY, {})


def test_concurrent_merges_of_the_same_keys_both_land(pg: PostgresDestination) -> None:
    """Two processes (a webhook and a poll) may upsert the same rows at once: ON CONFLICT copes."""
    pg.ensure_table("invoices", SCHEMA)
    pg.commit([Batch("invoices", rows(("in_0", "open")), TABLE_KEY, "merge")], KEY, {})
    others = [open_destination(pg.url) for _ in range(2)]
    errors: list[BaseException] = []

    def load(dest: Destination, status: str) -> None:
        try:
            for _ in range(5):
                batch = rows(*[(f"in_{i}", status) for i in range(50)])
                dest.commit([Batch("invoices", batch, TABLE_KEY, "merge")], StateKey("s", status, "c"), {})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(d, s)) for d, s in zip(others, ["a", "b"], strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.close()
    assert errors == []
    assert fetch(pg, "SELECT count(*), count(DISTINCT id) FROM invoices") == [(50, 50)]


def test_connection_errors_never_show_the_password(new_warehouse: WarehouseFactory) -> None:
    host = POSTGRES_URL.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    with pytest.raises(ConfigError) as error:
        open_destination(f"postgresql://postgres:hunter2secret@{host}:1/test?schema=x")
    message = str(error.value)
    assert "cannot connect to the Postgres warehouse postgresql://postgres:***@" in message
    assert "hunter2secret" not in message
    url = new_warehouse("postgres", "w")
    dest = open_destination(url.replace("://postgres@", "://postgres:hunter2secret@"))
    try:
        assert "hunter2secret" not in repr(dest) + dest.url
    finally:
        dest.close()


def test_manifold_query_reads_postgres_and_only_reads(pg: PostgresDestination) -> None:
    pg.ensure_table("invoices", SCHEMA)
    pg.commit([Batch("invoices", rows(("in_1", "open")), TABLE_KEY, "merge")], KEY, {})
    out = io.StringIO()
    run_query(
        "SELECT id, status FROM invoices WHERE id LIKE 'in_%'", pg.url, console=Console(file=out, width=80)
    )
    assert "in_1" in out.getvalue() and "1 row(s)" in out.getvalue()
    with pytest.raises(ManifoldError, match="read-only transaction"):
        run_query("DELETE FROM invoices", pg.url)
    assert table(pg) == [("in_1", "open")]


def test_a_versioned_batch_keeps_the_newest_version_of_a_key() -> None:
    """A page of events lists an object's newest event first: the merge writes the newest."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from engine.destinations.base import Batch, merge_rows

    older, newer = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    rows = pa.table(
        {
            "id": ["in_1", "in_1", "in_2"],
            "status": ["paid", "open", "draft"],
            "_version": [newer, older, older],
        }
    )
    kept = merge_rows(Batch("invoices", rows, ["id"], "merge", versioned=True)).to_pylist()
    assert sorted((r["id"], r["status"]) for r in kept) == [("in_1", "paid"), ("in_2", "draft")]
    unversioned = merge_rows(Batch("invoices", rows, ["id"], "merge")).to_pylist()
    assert sorted((r["id"], r["status"]) for r in unversioned) == [("in_1", "open"), ("in_2", "draft")]

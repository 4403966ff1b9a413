"""The read API (`GET /api/models/{model}`) over HTTP on 127.0.0.1, against a warehouse filled by
real sandbox syncs of Stripe (two connections), on DuckDB and on Postgres."""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg
import pytest
from psycopg import sql

from engine.destinations import open_destination
from engine.models import load_models
from engine.runner import build_runtime, sandbox_environ
from engine.sandbox import Sandbox
from engine.spec.loader import LoadedConnector, load_connector
from engine.sync import sync_connector

from .conftest import POSTGRES_URL, ROOT, WAREHOUSES, WarehouseFactory, schema_of
from .web_support import RunningService, running_service, settings_for

CONNECTORS = ROOT / "connectors"
MODELS = load_models()
INVOICES = MODELS["invoices"]
Key = tuple[str, str, str]


@functools.cache
def stripe() -> LoadedConnector:
    path = CONNECTORS / "stripe.yaml"
    return load_connector(path, environ=sandbox_environ(load_connector(path, check_env=False)))


def fill(url: str, *connections: str, full_refresh: bool = False) -> list[datetime]:
    """Sync Stripe's invoices (5) from the sandbox into `url` for each connection in turn; answers
    the time each run started after (rows of that run and later ones are newer, earlier ones older)."""
    loaded = stripe()
    sandbox = Sandbox([(loaded.spec, loaded.path)])
    destination = open_destination(url)
    starts: list[datetime] = []
    try:
        sandbox.start()
        for connection_id in connections:
            starts.append(datetime.now(UTC))
            runtime = build_runtime(loaded, connection_id=connection_id, sandbox_url=sandbox.url)
            try:
                sync_connector(
                    runtime, destination, streams=["invoices"], full_refresh=full_refresh, models=MODELS
                )
            finally:
                runtime.close()
    finally:
        destination.close()
        sandbox.stop()
    return starts


def warehouse_keys(url: str) -> set[Key]:
    """Every invoice key, read from the warehouse directly."""
    query = "SELECT _provider, _connection_id, id FROM invoices"
    if url.startswith("duckdb:///"):
        with duckdb.connect(url.removeprefix("duckdb:///"), read_only=True) as con:
            return set(con.execute(query).fetchall())
    with psycopg.connect(POSTGRES_URL, autocommit=True) as con:
        con.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(url))))
        return set(con.execute(query).fetchall())


def key_of(row: dict[str, Any]) -> Key:
    return (row["_provider"], row["_connection_id"], row["id"])


def pages(client: httpx.Client, model: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page's rows, following next_cursor; checks each page's size."""
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while len(found) < 100:
        answer = client.get(
            f"/api/models/{model}", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["model"] == model and len(page["rows"]) <= params.get("limit", 100)
        found.append(page["rows"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the walk did not end")


def walk(client: httpx.Client, model: str, **params: Any) -> list[dict[str, Any]]:
    return [row for page in pages(client, model, **params) for row in page]


def cursor_of(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@dataclass
class Synced:
    running: RunningService
    url: str
    between: datetime  # after the 'default' run, before the 'acme' one


@pytest.fixture(params=WAREHOUSES)
def synced(
    request: pytest.FixtureRequest, tmp_path: Path, new_warehouse: WarehouseFactory, secret_key: str
) -> Iterator[Synced]:
    url = new_warehouse(request.param, "warehouse")
    _, between = fill(url, "default", "acme")
    with running_service(settings_for(tmp_path, CONNECTORS, warehouse_url=url)) as running:
        yield Synced(running, url, between)


@pytest.fixture
def unsynced(tmp_path: Path, secret_key: str) -> Iterator[RunningService]:
    """The service over a DuckDB warehouse no sync has created yet."""
    url = f"duckdb:///{tmp_path / 'nothing-yet.duckdb'}"
    with running_service(settings_for(tmp_path, CONNECTORS, warehouse_url=url)) as running:
        yield running


def test_pages_walk_the_whole_table_once_in_change_order_as_json_values_without_raw(synced: Synced) -> None:
    with synced.running.api() as client:
        walked = pages(client, "invoices", limit=2)
        nothing_yet = client.get("/api/models/calendar_events").json()
    assert [len(page) for page in walked] == [2, 2, 2, 2, 2]
    rows = [row for page in walked for row in page]
    keys = [key_of(row) for row in rows]
    assert len(keys) == len(set(keys)) == 10 and set(keys) == warehouse_keys(synced.url)
    order = [(datetime.fromisoformat(row["_synced_at"]), *key_of(row)) for row in rows]
    assert order == sorted(order)
    assert nothing_yet == {"model": "calendar_events", "rows": [], "next_cursor": None}

    for row in rows:
        assert list(row) == [*INVOICES.columns, "_provider", "_connection_id", "_synced_at"]
    ours = {row["number"]: row for row in rows if row["_connection_id"] == "default"}
    assert ours["ACME-1001"]["amount_due"] == "1500.00"
    first = rows[0]
    assert isinstance(first["line_items"], list) and first["line_items"][0]["object"] == "line_item"
    assert isinstance(first["metadata"], dict)
    assert datetime.fromisoformat(first["created_at"]).utcoffset() == timedelta(0)
    assert datetime.fromisoformat(first["_synced_at"]) < synced.between
    assert all(date.fromisoformat(row["due_date"]) for row in rows if row["due_date"] is not None)


def test_filters_by_connection_provider_and_updated_since(synced: Synced) -> None:
    with synced.running.api() as client:
        acme = walk(client, "invoices", connection="acme", limit=2)
        assert len(acme) == 5 and {row["_connection_id"] for row in acme} == {"acme"}
        assert len(walk(client, "invoices", provider="stripe")) == 10
        assert walk(client, "invoices", provider="paypal") == []
        since = walk(client, "invoices", updated_since=synced.between.isoformat(), limit=3)
        assert sorted(map(key_of, since)) == sorted(map(key_of, acme))
        newest = since[-1]["_synced_at"]
        assert len(walk(client, "invoices", updated_since=newest.replace("+00:00", "Z"))) == 5  # inclusive
        later = (synced.between + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")  # no offset: UTC
        assert walk(client, "invoices", updated_since=later) == []
        assert walk(client, "invoices", connection="default", updated_since=synced.between.isoformat()) == []

        fill(synced.url, "default", full_refresh=True)  # the next round: 'default' re-synced, after 'acme'
        polled = walk(client, "invoices", updated_since=newest, limit=4)
    assert [row["_connection_id"] for row in polled] == ["acme"] * 5 + ["default"] * 5


GARBAGE_CURSORS = {
    "not base64": "%%%not-a-cursor%%%",
    "not json": "YWJj",
    "json but not an object": cursor_of([1, 2]),
    "another model": cursor_of({"model": "customers", "after": ["2025-01-01T00:00:00+00:00", "s", "c", "i"]}),
    "wrong number of values": cursor_of({"model": "invoices", "after": ["2025-01-01T00:00:00+00:00"]}),
    "timestamp without offset": cursor_of(
        {"model": "invoices", "after": ["2025-01-01T00:00:00", "s", "c", "i"]}
    ),
    "a number for a string": cursor_of({"model": "invoices", "after": ["2025-01-01T00:00:00Z", 1, "c", "i"]}),
    "too long": "A" * 5000,
}


def test_bad_requests_are_refused_with_the_reason(unsynced: RunningService) -> None:
    with unsynced.client() as anonymous, unsynced.client(Authorization="Bearer wrong") as wrong:
        assert anonymous.get("/api/models/invoices").status_code == 401
        assert wrong.get("/api/models/invoices").status_code == 401
    with unsynced.api() as client:
        assert client.get("/api/models/invoices").json() == {
            "model": "invoices",
            "rows": [],
            "next_cursor": None,
        }
        unknown = client.get("/api/models/invoice")
        assert unknown.status_code == 404
        assert (
            "did you mean 'invoices'" in unknown.json()["detail"]
            and "calendar_events" in unknown.json()["detail"]
        )
        for case, cursor in GARBAGE_CURSORS.items():
            answer = client.get("/api/models/invoices", params={"cursor": cursor})
            assert answer.status_code == 400, case
            assert "pass next_cursor back unchanged" in answer.json()["detail"], case
        bad_time = client.get("/api/models/invoices", params={"updated_since": "yesterday"})
        assert bad_time.status_code == 400 and "ISO 8601" in bad_time.json()["detail"]
        assert client.get("/api/models/invoices", params={"limit": 0}).status_code == 422
        assert client.get("/api/models/invoices", params={"limit": 1001}).status_code == 422
        operation = client.get("/openapi.json").json()["paths"]["/api/models/{model}"]["get"]
    described = {p["name"]: p.get("description") for p in operation["parameters"]}
    assert set(described) == {"model", "connection", "provider", "updated_since", "limit", "cursor"}
    assert all(described.values())


HOLD_WRITER = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()"
)


@contextmanager
def write_connection(path: Path, writer: str) -> Iterator[None]:
    """A write connection to the file, held by a sync-like process or by this one."""
    if writer == "this process":
        with duckdb.connect(str(path)):
            yield
        return
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("", timeout=10)


@pytest.mark.parametrize("writer", ["another process", "this process"])
def test_a_duckdb_file_held_by_a_writer_answers_503_with_retry_after(
    tmp_path: Path, secret_key: str, writer: str
) -> None:
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    settings = settings_for(tmp_path, CONNECTORS, warehouse_url=f"duckdb:///{path}")
    with running_service(settings) as running, running.api() as client:
        with write_connection(path, writer):
            busy = client.get("/api/models/invoices")
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "10"
        assert "a sync is writing" in busy.json()["detail"]
        assert client.get("/api/models/invoices").status_code == 200  # the writer is gone

"""Stream reading guards: a provider that repeats its cursor or never ends stops with a clear error."""

from __future__ import annotations

from pathlib import Path

import httpx

from engine.destinations.duckdb import DuckDBDestination
from engine.runtime import Connection, ConnectorRuntime
from engine.spec.loader import load_connector
from engine.sync import sync_connector

SPEC = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: loopy
title: Loopy
docs: https://loopy.example/docs
base_url: https://api.loopy.example
http: {page_cap: 5}
streams:
  customers:
    request: {path: /customers}
    records: data
    paging: {type: body_cursor, cursor: next, param: cursor}
    into: customers
    fields: {id: id}
"""


def sync(tmp_path: Path, handler) -> tuple[str | None, int]:
    path = tmp_path / "loopy.yaml"
    path.write_text(SPEC)
    runtime = ConnectorRuntime(
        load_connector(path), Connection(), environ={}, transport=httpx.MockTransport(handler)
    )
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    result = sync_connector(runtime, destination)[0]
    rows = destination.connection.execute("SELECT count(*) FROM customers").fetchone()
    return result.error, rows[0] if rows else 0


def test_a_repeated_cursor_stops_the_stream(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("cursor", "c0")
        return httpx.Response(
            200, json={"data": [{"id": f"{page}-1"}], "next": "c1" if page == "c0" else "c1"}
        )

    error, _ = sync(tmp_path, handler)
    assert error is not None and error.startswith("loopy.customers page 3")
    assert "repeated cursor" in error


def test_the_page_cap_stops_a_provider_that_never_ends(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("cursor", "0"))
        return httpx.Response(200, json={"data": [{"id": str(page)}], "next": str(page + 1)})

    error, _ = sync(tmp_path, handler)
    assert error is not None and "page cap 5 reached" in error and "loopy.customers page 6" in error

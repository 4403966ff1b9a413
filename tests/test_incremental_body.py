"""A cursor incremental that sends its stored value in the POST body (Notion's timestamp filter),
through a real sync: every page of the incremental run carries it, a resumed run too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from engine.destinations.duckdb import DuckDBDestination
from engine.models import load_models
from engine.runtime import Connection, ConnectorRuntime
from engine.spec.loader import load_connector
from engine.sync import StreamSync

SPEC = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: bodyfilter
title: Body filter
docs: https://bodyfilter.example/docs
base_url: https://api.bodyfilter.example
http: {retry: {max_attempts: 1}}
streams:
  pages:
    request: {method: POST, path: /v1/query, json: {page_size: 2}}
    records: results
    paging: {type: post_body_cursor, cursor: next_cursor, body_field: start_cursor, more: has_more}
    incremental:
      type: cursor
      field: last_edited_time
      body_path: filter.last_edited_time.on_or_after
      body: {filter: {timestamp: last_edited_time}}
    into: customers
    fields: {id: id}
"""

RECORDS = [
    {"id": "a", "last_edited_time": "2025-11-01T09:00:00.000Z"},
    {"id": "b", "last_edited_time": "2025-11-02T09:00:00.000Z"},
    {"id": "c", "last_edited_time": "2025-11-03T09:00:00.000Z"},
]


class Provider:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_cursor: str | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        since = (body.get("filter") or {}).get("last_edited_time", {}).get("on_or_after", "")
        live = [r for r in RECORDS if r["last_edited_time"] >= since]
        start = int(body.get("start_cursor") or 0)
        if self.fail_cursor is not None and body.get("start_cursor") == self.fail_cursor:
            return httpx.Response(400, json={"object": "error", "status": 400, "code": "validation_error"})
        chunk = live[start : start + body["page_size"]]
        more = start + len(chunk) < len(live)
        return httpx.Response(
            200, json={"results": chunk, "has_more": more, "next_cursor": str(start + 2) if more else None}
        )


def run(tmp_path: Path, provider: Provider) -> str | None:
    """One sync of the stream, committing after every page (so a failure leaves a checkpoint)."""
    path = tmp_path / "bodyfilter.yaml"
    path.write_text(SPEC)
    runtime = ConnectorRuntime(
        load_connector(path), Connection(), environ={}, transport=httpx.MockTransport(provider)
    )
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    try:
        return StreamSync(runtime, "pages", destination, load_models()["customers"], batch_rows=1).run().error
    finally:
        destination.close()
        runtime.close()


def test_the_stored_value_goes_into_the_body_on_every_page_of_the_next_run(tmp_path: Path) -> None:
    provider = Provider()
    assert run(tmp_path, provider) is None
    assert provider.bodies == [{"page_size": 2}, {"page_size": 2, "start_cursor": "2"}]
    provider.bodies.clear()
    RECORDS.append({"id": "d", "last_edited_time": "2025-11-04T09:00:00.000Z"})
    try:
        assert run(tmp_path, provider) is None
    finally:
        RECORDS.pop()
    wanted = {
        "timestamp": "last_edited_time",
        "last_edited_time": {"on_or_after": "2025-11-03T09:00:00.000Z"},
    }
    assert provider.bodies == [{"page_size": 2, "filter": wanted}]


def test_a_resumed_incremental_run_keeps_the_body_filter(tmp_path: Path) -> None:
    provider = Provider()
    assert run(tmp_path, provider) is None
    RECORDS.extend([{"id": f"n{i}", "last_edited_time": f"2025-11-0{4 + i}T09:00:00.000Z"} for i in range(3)])
    try:
        provider.bodies.clear()
        provider.fail_cursor = "2"
        assert run(tmp_path, provider) is not None  # the second page fails: a checkpoint is saved
        provider.bodies.clear()
        provider.fail_cursor = None
        assert run(tmp_path, provider) is None
    finally:
        del RECORDS[3:]
    wanted = {
        "timestamp": "last_edited_time",
        "last_edited_time": {"on_or_after": "2025-11-03T09:00:00.000Z"},
    }
    assert provider.bodies == [{"page_size": 2, "filter": wanted, "start_cursor": "2"}]

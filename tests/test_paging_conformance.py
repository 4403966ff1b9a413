"""Every paging kind against the sandbox's emulation of the provider that uses it, over real HTTP.

The sandbox implements each provider's protocol from its documentation and never reads
the spec's paging settings, so a spec that pages wrong reads too few or too many records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.destinations.duckdb import DuckDBDestination
from engine.runner import build_runtime
from engine.sandbox import Sandbox
from engine.spec.loader import load_connector
from engine.sync import sync_connector

HEAD = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"

CASES: dict[str, dict[str, Any]] = {
    "graph_next_url": {
        "protocol": "graph_cursor",
        "options": {},
        "request": {"path": "/v23.0/me/media", "params": {"limit": 25}},
        "records": "data",
        "paging": {"type": "next_url", "path": "paging.next"},
        "pages": 3,
    },
    "paypal_page_number": {
        "protocol": "paypal_pages",
        "options": {},
        "request": {"path": "/v2/invoicing/invoices", "params": {"total_required": "true"}},
        "records": "items",
        "paging": {
            "type": "page_number",
            "param": "page",
            "size_param": "page_size",
            "size": 20,
            "total_pages": "total_pages",
        },
        "pages": 3,
    },
    "paypal_hateoas_links": {
        "protocol": "paypal_pages",
        "options": {},
        "request": {"path": "/v2/invoicing/invoices", "params": {"page_size": 25}},
        "records": "items",
        "paging": {"type": "next_url", "path": "links[rel=next].href"},
        "pages": 3,
    },
    "notion_post_cursor": {
        "protocol": "notion_post_cursor",
        "method": "POST",
        "options": {},
        "request": {"method": "POST", "path": "/v1/search", "json": {"page_size": 20}},
        "records": "results",
        "paging": {
            "type": "post_body_cursor",
            "cursor": "next_cursor",
            "body_field": "start_cursor",
            "more": "has_more",
        },
        "pages": 3,
    },
    "slack_body_cursor": {
        "protocol": "slack_cursor",
        "options": {"records_key": "channels"},
        "request": {"path": "/api/conversations.list", "params": {"limit": 20}},
        "records": "channels",
        "paging": {"type": "body_cursor", "cursor": "response_metadata.next_cursor", "param": "cursor"},
        "pages": 3,
    },
    "github_link_header": {
        "protocol": "link_header",
        "options": {},
        "request": {"path": "/orgs/acme/repos", "params": {"per_page": 20}},
        "records": "",
        "paging": {"type": "link_header"},
        "pages": 3,
    },
    "offset_limit": {
        "protocol": "offset_limit",
        "options": {},
        "request": {"path": "/api/v2/items"},
        "records": "items",
        "paging": {"type": "offset", "limit": 20, "total": "total"},
        "pages": 3,
    },
    "page_number_short_page": {
        "protocol": "page_number",
        "options": {},
        "request": {"path": "/api/items"},
        "records": "items",
        "paging": {"type": "page_number", "param": "page", "size_param": "per_page", "size": 20},
        "pages": 3,
    },
}

RECORDS = [{"id": f"r{i:03d}", "name": f"Record {i}"} for i in range(55)]


def write_connector(folder: Path, case: str, spec: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.json").write_text(json.dumps(RECORDS))
    route_method = spec.get("method", "GET")
    stream: dict[str, Any] = {
        "request": spec["request"],
        "records": spec["records"],
        "paging": spec["paging"],
        "into": "customers",
        "fields": {"id": "id", "name": "name"},
    }
    data = {
        "name": case,
        "title": case,
        "docs": "https://example.com/docs",
        "base_url": "https://api.example.com",
        "streams": {"items": stream},
        "sandbox": {
            "routes": [
                {
                    "path": spec["request"]["path"],
                    "method": route_method,
                    "protocol": spec["protocol"],
                    "fixture": "items.json",
                    "options": spec["options"],
                }
            ]
        },
    }
    path = folder / f"{case}.yaml"
    path.write_text(HEAD + yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_paging_kind_reads_every_record_once(tmp_path: Path, case: str) -> None:
    spec = CASES[case]
    path = write_connector(tmp_path / "connectors", case, spec)
    loaded = load_connector(path)
    with Sandbox([(loaded.spec, path)]) as sandbox:
        runtime = build_runtime(loaded, sandbox_url=sandbox.url)
        destination = DuckDBDestination(tmp_path / "w.duckdb")
        try:
            results = sync_connector(runtime, destination)
            assert results[0].ok, results[0].error
            got = destination.connection.execute(
                "SELECT count(*), count(DISTINCT id) FROM customers"
            ).fetchone()
            assert got == (len(RECORDS), len(RECORDS))
            assert len(sandbox.requests(case)) == spec["pages"]
        finally:
            runtime.close()
            destination.close()

"""Stripe end to end: the real CLI against the sandbox over HTTP, into a real DuckDB file
(and, where marked, into a real Postgres schema too)."""

from __future__ import annotations

import copy
import json
import os
import signal
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.control import ControlDB
from engine.sandbox import Sandbox

from .conftest import WAREHOUSES, WarehouseFactory, Workspace

SECRET = "sk_test_sandbox_4eC39HqLyjWDarjtT1zdp7dc"


def many_invoices(connectors: Path, count: int) -> list[dict]:
    """`count` invoices in Stripe's shape, newest first, written as the sandbox fixture."""
    path = connectors / "fixtures" / "stripe" / "invoices.json"
    base = json.loads(path.read_text())
    invoices = []
    for i in range(count):
        invoice = copy.deepcopy(base[i % len(base)])
        invoice["id"] = f"in_1Qbench{i:07d}"
        invoice["number"] = f"ACME-{10000 + i}"
        invoice["created"] = 1_762_000_000 - i * 60
        invoice["amount_due"] = 1000 + i
        invoices.append(invoice)
    path.write_text(json.dumps(invoices))
    return invoices


def set_disposition(connectors: Path, disposition: str) -> None:
    path = connectors / "stripe.yaml"
    text = path.read_text()
    assert "disposition:" not in text
    path.write_text(
        text.replace("    into: invoices\n", f"    into: invoices\n    disposition: {disposition}\n", 1)
    )


def test_sandbox_sync_loads_every_stream(workspace: Workspace) -> None:
    result = workspace.cli("sync", "stripe", "--sandbox")
    assert result.returncode == 0, result.stderr
    assert "sync summary" in result.stdout
    rows = workspace.query("SELECT table_name FROM information_schema.tables ORDER BY 1")
    assert {"invoices", "payments", "payouts", "customers", "_manifold_state", "_manifold_runs"} <= {
        r[0] for r in rows
    }
    invoices = workspace.query(
        "SELECT id, status, amount_due, currency, created_at, _provider, _connection_id, "
        "json_extract_string(_raw, '$.object') FROM invoices ORDER BY created_at DESC"
    )
    assert len(invoices) == 5
    first = invoices[0]
    assert first[1] in ("paid", "open", "void", "draft") and first[3] == "USD"
    assert first[5] == "stripe" and first[6] == "default" and first[7] == "invoice"
    kinds = workspace.query("SELECT kind, count(*) FROM payments GROUP BY 1 ORDER BY 1")
    assert kinds == [("charge", 2), ("payment_intent", 3)]
    amounts = workspace.query("SELECT amount_due FROM invoices WHERE number = 'ACME-1001'")
    assert str(amounts[0][0]) == "1500.00"


@pytest.mark.parametrize("workspace", ["postgres"], indirect=True)
def test_sandbox_sync_into_postgres_loads_every_stream_with_postgres_types(workspace: Workspace) -> None:
    result = workspace.cli("sync", "stripe", "--sandbox")
    assert result.returncode == 0, result.stderr
    tables = workspace.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    assert {r[0] for r in tables} == {
        "invoices",
        "payments",
        "payouts",
        "customers",
        "balance_transactions",
        "_manifold_state",
        "_manifold_runs",
    }
    invoices = workspace.query(
        "SELECT id, status, amount_due, currency, created_at, _provider, _connection_id, _raw->>'object',"
        " _raw->'lines'->>'object' FROM invoices ORDER BY created_at DESC"
    )
    assert len(invoices) == 5
    first = invoices[0]
    assert first[1] in ("paid", "open", "void", "draft") and first[3] == "USD"
    assert isinstance(first[4], datetime) and first[4].utcoffset() == timedelta(0)
    assert first[5:] == ("stripe", "default", "invoice", "list")
    assert workspace.query("SELECT kind, count(*) FROM payments GROUP BY 1 ORDER BY 1") == [
        ("charge", 2),
        ("payment_intent", 3),
    ]
    assert workspace.query("SELECT amount_due FROM invoices WHERE number = 'ACME-1001'") == [
        (Decimal("1500.00"),)
    ]
    types = dict(
        workspace.query(
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c"
            " JOIN pg_attribute a ON a.attrelid = 'invoices'::regclass AND a.attname = c.column_name"
            " WHERE c.table_schema = current_schema() AND c.table_name = 'invoices'"
        )
    )
    assert types["created_at"] == "timestamp with time zone" and types["amount_due"] == "numeric(18,2)"
    assert types["issue_date"] == "date" and types["_raw"] == types["line_items"] == "jsonb"
    key = workspace.query(
        "SELECT count(*) FROM pg_index WHERE indrelid = 'invoices'::regclass AND indisprimary"
    )
    assert key == [(1,)]
    runs = workspace.query("SELECT status, stats->>'records' FROM _manifold_runs WHERE stream = 'invoices'")
    assert runs == [("succeeded", "5")]
    state = workspace.query("SELECT state FROM _manifold_state WHERE stream = 'invoices'")
    assert "slices" in state[0][0]


def test_paging_and_incremental_cursor(workspace: Workspace) -> None:
    invoices = many_invoices(workspace.connectors, 250)
    sandbox = workspace.start_sandbox()
    url = sandbox.url
    first = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", url)
    assert first.returncode == 0, first.stderr
    assert workspace.query("SELECT count(*), count(DISTINCT id) FROM invoices") == [(250, 250)]
    calls = [r for r in sandbox.requests("stripe") if r["path"] == "/v1/invoices"]
    assert [c["query"].get("starting_after") for c in calls] == [
        None,
        "in_1Qbench0000099",
        "in_1Qbench0000199",
    ]
    assert all(c["query"]["limit"] == "100" for c in calls)

    newest = copy.deepcopy(invoices[0])
    newest.update(id="in_1QnewOne0000001", created=invoices[0]["created"] + 3600, status="open")
    sandbox.upsert("stripe", "/v1/invoices", newest)
    sandbox.clear_requests()
    second = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", url)
    assert second.returncode == 0, second.stderr
    calls = [r for r in sandbox.requests("stripe") if r["path"] == "/v1/invoices"]
    assert len(calls) == 1 and calls[0]["query"]["created[gte]"] == str(invoices[0]["created"])
    assert workspace.query("SELECT count(*) FROM invoices") == [(251,)]

    sandbox.clear_requests()
    full = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", url, "--full-refresh")
    assert full.returncode == 0, full.stderr
    calls = [r for r in sandbox.requests("stripe") if r["path"] == "/v1/invoices"]
    assert "created[gte]" not in calls[0]["query"] and len(calls) == 3
    assert workspace.query("SELECT count(*) FROM invoices") == [(251,)]


def test_retry_storm_is_ridden_out(workspace: Workspace) -> None:
    many_invoices(workspace.connectors, 150)
    sandbox = workspace.start_sandbox()
    sandbox.add_fault("stripe", "status", "/v1/invoices", status=429, retry_after=0.05, times=3)
    sandbox.add_fault("stripe", "status", "/v1/invoices", status=503, times=2, after=4)
    result = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url)
    assert result.returncode == 0, result.stderr
    assert workspace.query("SELECT count(*) FROM invoices") == [(150,)]
    stats = workspace.query(
        "SELECT json_extract(stats, '$.retries')::INT FROM _manifold_runs WHERE status = 'succeeded'"
    )
    assert stats == [(5,)]


def test_provider_down_fails_with_the_error_recorded_and_state_unchanged(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()
    ok = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url)
    assert ok.returncode == 0
    state_before = workspace.query("SELECT state FROM _manifold_state WHERE stream = 'invoices'")
    sandbox.add_fault("stripe", "status", "/v1/invoices", status=503, times=-1)
    env = workspace.env()
    down = workspace.cli(
        "sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url, env=env, timeout=180
    )
    assert down.returncode == 1
    last_line = down.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: stripe.invoices") and "503 after 6 attempts" in last_line
    assert SECRET not in down.stderr + down.stdout
    assert workspace.query("SELECT state FROM _manifold_state WHERE stream = 'invoices'") == state_before
    failed = workspace.query("SELECT error FROM _manifold_runs WHERE status = 'failed'")
    assert len(failed) == 1 and "503" in failed[0][0]


@pytest.mark.parametrize("kind", ["truncated", "html"])
def test_bad_page_names_stream_page_and_url_and_loads_nothing_of_it(workspace: Workspace, kind: str) -> None:
    many_invoices(workspace.connectors, 250)
    sandbox = workspace.start_sandbox()
    sandbox.add_fault("stripe", kind, "/v1/invoices", times=-1, after=1)
    env = workspace.env(MANIFOLD_BATCH_ROWS="100")
    result = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url, env=env)
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert (
        "stripe.invoices page 2" in error
        and "/stripe/v1/invoices?limit=100&starting_after=in_1Qbench0000099" in error
    )
    assert ("truncated or malformed JSON" if kind == "truncated" else "not JSON but text/html") in error
    # page 1 was committed with its checkpoint; nothing of page 2 is in the table
    assert workspace.query("SELECT count(*) FROM invoices") == [(100,)]


def test_missing_records_path_is_a_clear_error(workspace: Workspace) -> None:
    spec = workspace.connectors / "stripe.yaml"
    spec.write_text(spec.read_text().replace("    records: data\n", "    records: items\n", 1))
    result = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox")
    assert result.returncode == 1
    assert "records path 'items' is missing; the body has keys: object, url, has_more, data" in result.stderr


def test_wrong_paging_fails_against_the_sandbox(workspace: Workspace) -> None:
    """The sandbox speaks Stripe's protocol whatever the spec says: Google-style paging misses pages."""
    many_invoices(workspace.connectors, 150)
    spec = workspace.connectors / "stripe.yaml"
    text = spec.read_text().replace(
        "paging: {type: last_record_cursor, param: starting_after, field: id, more: has_more}",
        "paging: {type: page_token, token: nextPageToken, param: pageToken}",
        1,
    )
    spec.write_text(text)
    result = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox")
    assert result.returncode == 0
    assert workspace.query("SELECT count(*) FROM invoices") == [(100,)]


def _table(workspace: Workspace) -> list[tuple]:
    rows = workspace.query(
        "SELECT id, number, status, amount_due, created_at, _raw FROM invoices ORDER BY id"
    )
    return [(*row[:5], workspace.parse_json(row[5])) for row in rows]


@pytest.mark.parametrize("workspace", WAREHOUSES, indirect=True)
@pytest.mark.parametrize("disposition", ["merge", "append"])
def test_sigkill_mid_sync_then_resume_gives_exactly_a_clean_runs_rows(
    workspace: Workspace, new_warehouse: WarehouseFactory, disposition: str
) -> None:
    many_invoices(workspace.connectors, 2000)
    set_disposition(workspace.connectors, disposition)
    sandbox = workspace.start_sandbox()

    clean = Workspace(workspace.connectors, new_warehouse(workspace.kind, "clean"))
    assert clean.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url).returncode == 0
    expected = _table(clean)
    assert len(expected) == 2000

    sandbox.add_fault("stripe", "slow", "/v1/invoices", delay=0.05, times=-1)
    sandbox.clear_requests()
    env = workspace.env(MANIFOLD_BATCH_ROWS="100")
    process = workspace.popen("sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url, env=env)
    deadline = time.monotonic() + 60
    while len(sandbox.requests("stripe")) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    workspace.wait_for_writers("invoices")

    partial = workspace.query("SELECT count(*) FROM invoices")[0][0]
    assert 0 < partial < 2000
    sandbox.clear_faults()
    sandbox.clear_requests()
    resumed = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url, env=env)
    assert resumed.returncode == 0, resumed.stderr
    first_after_resume = sandbox.requests("stripe")[0]["query"]
    assert first_after_resume.get("starting_after") == f"in_1Qbench{partial - 1:07d}"

    assert workspace.query("SELECT count(*), count(DISTINCT id) FROM invoices") == [(2000, 2000)]
    assert _table(workspace) == expected


def test_wrong_secret_is_an_auth_error_without_the_secret(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()
    spec = workspace.connectors / "stripe.yaml"
    spec.write_text(
        spec.read_text().replace("STRIPE_SECRET_KEY: sk_test_sandbox", "STRIPE_SECRET_KEY: sk_test_WRONG", 1)
    )
    result = workspace.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", sandbox.url)
    assert result.returncode == 1
    assert "answered 401" in result.stderr and "sk_test_WRONG" not in result.stderr + result.stdout
    assert isinstance(sandbox, Sandbox)


def test_a_sync_records_its_outcome_on_the_env_connection(workspace: Workspace) -> None:
    """API-key connectors have a connection too: `default`, credentials from the environment."""
    sandbox = workspace.start_sandbox()
    ok = workspace.cli("sync", "stripe", "-s", "customers", "--sandbox-url", sandbox.url)
    assert ok.returncode == 0, ok.stderr
    listed = workspace.cli("connections", "stripe", env=workspace.env(COLUMNS="200"))
    assert listed.returncode == 0, listed.stderr
    assert "default" in listed.stdout and "never" not in listed.stdout
    sandbox.add_fault("stripe", "status", "/v1/customers", status=500, times=100)
    failed = workspace.cli("sync", "stripe", "-s", "customers", "--sandbox-url", sandbox.url)
    assert failed.returncode == 1
    (row,) = ControlDB(os.environ["MANIFOLD_CONTROL_URL"]).query(
        "SELECT connected, credentials, last_sync_at, last_error, last_error_at FROM connections"
    )
    assert row["connected"] == 1 and row["credentials"] is None and row["last_sync_at"]
    assert "customers" in row["last_error"] and "500" in row["last_error"] and row["last_error_at"]

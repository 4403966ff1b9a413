"""PayPal end to end: the real CLI against the sandbox over HTTP into a real DuckDB file.

Invoices page with page/page_size/total_required; transactions are read through Transaction
Search in windows of at most 31 days that overlap by 3 hours, as PayPal's reporting lag needs.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from engine.sandbox import Sandbox
from engine.spec.loader import load_connector

from .conftest import Workspace

TRANSACTIONS = "/v1/reporting/transactions"


def small_pages(workspace: Workspace) -> None:
    """Pages of 2, so both streams cross page boundaries with the small fixtures."""
    spec = workspace.connectors / "paypal.yaml"
    text = spec.read_text()
    assert text.count("size: 100,") == 1 and text.count("size: 500,") == 1
    spec.write_text(text.replace("size: 100,", "size: 2,").replace("size: 500,", "size: 2,"))


def calls(sandbox: Sandbox, path: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests("paypal") if r["path"] == path]


def windows(sandbox: Sandbox) -> list[tuple[datetime, datetime]]:
    seen = []
    for call in calls(sandbox, TRANSACTIONS):
        bounds = (
            datetime.fromisoformat(call["query"]["start_date"]),
            datetime.fromisoformat(call["query"]["end_date"]),
        )
        if bounds not in seen:
            seen.append(bounds)
    return seen


def test_sync_loads_invoices_and_transactions_in_overlapping_windows(workspace: Workspace) -> None:
    small_pages(workspace)
    sandbox = workspace.start_sandbox()
    result = workspace.cli("sync", "paypal", "--sandbox-url", sandbox.url)
    assert result.returncode == 0, result.stderr

    invoices = workspace.query(
        "SELECT id, number, status, currency, total, amount_paid, amount_remaining, customer_email,"
        " due_date, _provider, _connection_id FROM invoices ORDER BY number"
    )
    assert [(r[1], r[2]) for r in invoices] == [
        ("0041", "paid"),
        ("0042", "sent"),
        ("0043", "draft"),
        ("0044", "cancelled"),
        ("0045", "partially_paid"),
    ]
    partial = invoices[4]
    assert partial[0] == "INV2-K6GW-BEAS-Z7QF-E8R4" and partial[3] == "USD"
    assert (partial[4], partial[5], partial[6]) == (Decimal("999.99"), Decimal("500.00"), Decimal("499.99"))
    assert partial[7] == "ana@hooli.example" and str(partial[8]) == "2025-05-01"
    assert {(r[9], r[10]) for r in invoices} == {("paypal", "default")}
    pages = [c["query"] for c in calls(sandbox, "/v2/invoicing/invoices")]
    assert [(q["page"], q["page_size"], q["total_required"], q["fields"]) for q in pages] == [
        ("1", "2", "true", "all"),
        ("2", "2", "true", "all"),
        ("3", "2", "true", "all"),
    ]

    payments = workspace.query(
        "SELECT id, kind, status, amount, fee, currency, customer_email, invoice_id, parent_id, _provider"
        " FROM payments ORDER BY created_at"
    )
    assert workspace.query("SELECT count(*), count(DISTINCT id) FROM payments") == [(7, 7)]
    by_id = {r[0]: r for r in payments}
    assert by_id["8GM94728UE104654F"][1:8] == (
        "payment",
        "completed",
        Decimal("1200.00"),
        Decimal("-35.10"),
        "USD",
        "bill-me@example.com",
        "INV2-C82X-JNN9-Y6S5-CNXW",
    )
    refund = by_id["9NE44127V6531234K"]
    assert refund[1:4] == ("refund", "completed", Decimal("-64.00")) and refund[8] == "2LX37712AB9020418"
    assert by_id["1AB23456CD7890123"][2] == "declined" and by_id["7VB51932HJ551093D"][2] == "pending"
    assert {r[9] for r in payments} == {"paypal"}

    # Windows: from the configured start to now, at most 31 days each, 3 hours of overlap.
    seen = windows(sandbox)
    assert seen[0][0] == datetime.fromisoformat("2025-01-01T00:00:00Z")
    assert len(seen) > 3
    for (start, end), (next_start, _) in zip(seen, seen[1:], strict=False):
        assert end - start <= timedelta(days=31)
        assert end - next_start == timedelta(hours=3)
    assert abs(seen[-1][1] - datetime.now(seen[-1][1].tzinfo)) < timedelta(minutes=5)
    every = calls(sandbox, TRANSACTIONS)
    assert all(c["query"]["fields"] == "all" and c["status"] == 200 for c in every)
    # 7VB51932HJ551093D (2025-03-03T19:30) lies in the overlap of two windows: read twice, one row
    overlap = [w for w in seen if w[0] <= datetime.fromisoformat("2025-03-03T19:30:00Z") <= w[1]]
    assert len(overlap) == 2
    # the first window holds 2 transactions, the second 3: page 2 of 2 read in the second
    assert [c["query"]["page"] for c in every if c["query"]["start_date"] == "2025-01-31T21:00:00Z"] == [
        "1",
        "2",
    ]
    state = workspace.query("SELECT state FROM _manifold_state WHERE stream = 'transactions'")
    cursor = json.loads(state[0][0])["slices"][""]["cursor"]
    assert datetime.fromisoformat(cursor) == seen[-1][1]


def test_a_second_run_reads_only_the_last_window_again(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()
    first = workspace.cli("sync", "paypal", "-s", "transactions", "--sandbox-url", sandbox.url)
    assert first.returncode == 0, first.stderr
    last_end = windows(sandbox)[-1][1]
    late = json.loads((workspace.connectors / "fixtures" / "paypal" / "transactions.json").read_text())[0]
    late["transaction_info"]["transaction_id"] = "6XY98765LM4321098"
    # a transaction PayPal's reporting shows only now, though it happened just before the last run ended
    late["transaction_info"]["transaction_initiation_date"] = (last_end - timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S+0000"
    )
    sandbox.upsert("paypal", TRANSACTIONS, late)
    sandbox.clear_requests()
    second = workspace.cli("sync", "paypal", "-s", "transactions", "--sandbox-url", sandbox.url)
    assert second.returncode == 0, second.stderr
    (window,) = windows(sandbox)
    assert window[0] == last_end - timedelta(hours=3)
    assert workspace.query("SELECT count(*) FROM payments WHERE id = '6XY98765LM4321098'") == [(1,)]
    assert workspace.query("SELECT count(*), count(DISTINCT id) FROM payments") == [(8, 8)]


def test_transaction_search_refuses_what_paypal_refuses(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()
    with httpx.Client(base_url=sandbox.url + "/paypal") as http:
        spec = load_connector(workspace.connectors / "paypal.yaml", check_env=False).spec
        assert spec.sandbox is not None
        env = spec.sandbox.env
        token = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(env["PAYPAL_CLIENT_ID"], env["PAYPAL_CLIENT_SECRET"]),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        too_long = http.get(
            TRANSACTIONS,
            params={"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-02-01T00:00:01Z"},
            headers=headers,
        )
        assert too_long.status_code == 400
        body = too_long.json()
        assert body["name"] == "INVALID_REQUEST"
        assert body["details"][0]["field"] == "end_date" and body["details"][0]["location"] == "query"
        missing = http.get(TRANSACTIONS, params={"end_date": "2025-02-01T00:00:00Z"}, headers=headers)
        assert missing.status_code == 400
        assert missing.json()["details"][0] == {
            "field": "start_date",
            "value": "",
            "location": "query",
            "issue": "MISSING_REQUIRED_PARAMETER",
            "description": "start_date is required.",
        }
        no_seconds = http.get(
            TRANSACTIONS,
            params={"start_date": "2025-01-01T00:00Z", "end_date": "2025-01-02T00:00:00Z"},
            headers=headers,
        )
        assert no_seconds.json()["details"][0]["issue"] == "INVALID_PARAMETER_SYNTAX"
        ok = http.get(
            TRANSACTIONS,
            params={
                "start_date": "2025-01-01T00:00:00Z",
                "end_date": "2025-02-01T00:00:00Z",
                "page_size": "1",
            },
            headers=headers,
        ).json()
        assert (ok["total_items"], ok["total_pages"], ok["page"]) == (2, 2, 1)
        assert set(ok["transaction_details"][0]) == {
            "transaction_info"
        }  # fields defaults to transaction_info
        assert [link["rel"] for link in ok["links"]] == ["self", "next", "last"]

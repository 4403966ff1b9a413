"""Xero end to end: connect through the sandbox's OAuth server (tenant lookup), sync invoices,
payments and contacts with the real CLI into DuckDB, read only what changed through
If-Modified-Since, rotate the refresh token, receive webhooks, create invoices in a batch."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import yaml

from engine.connect import connect as engine_connect
from engine.control import ConnectionRecord, ConnectionStore, ControlDB, Vault
from engine.control.sync_requests import SyncRequests
from engine.sandbox import Sandbox
from engine.spec.loader import load_connector

from .conftest import Workspace
from .web_support import running_service, settings_for

ROOT = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((ROOT / "connectors" / "xero.yaml").read_text())
ENV = SPEC["sandbox"]["env"]
TENANT = "70784a63-d24b-46a9-a4db-0e70a274b056"
INVOICES = "/api.xro/2.0/Invoices"
FIRST_INVOICE = "4a1f0e2b-7c3d-4b5e-8f6a-0b1c2d3e4f01"
SECOND_INVOICE = "4a1f0e2b-7c3d-4b5e-8f6a-0b1c2d3e4f02"
LUMEN = "c1a3b5d7-2f41-4e0a-9b3c-5d6e7f809a11"


@dataclass
class Xero:
    workspace: Workspace
    sandbox: Sandbox
    store: ConnectionStore
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.workspace.cli(*args, "--sandbox-url", self.sandbox.url, env=self.env)

    def sync(self) -> subprocess.CompletedProcess[str]:
        result = self.cli("sync", "xero", "--connection", "acme")
        assert result.returncode == 0, result.stderr + result.stdout
        return result

    def record(self) -> ConnectionRecord:
        found = self.store.get("xero", "acme")
        assert found is not None
        return found

    def gets(self, path: str) -> list[dict]:
        return [r for r in self.sandbox.requests("xero") if r["method"] == "GET" and r["path"] == path]


def connect(workspace: Workspace, sandbox: Sandbox) -> None:
    """`manifold connect xero`'s flow against the sandbox; the browser is httpx following redirects."""
    urls: list[str] = []

    def browse(message: str) -> None:
        assert message.startswith("Open this URL to connect Xero (acme)")
        urls.append(message.splitlines()[-1])
        assert httpx.get(urls[-1], follow_redirects=True, timeout=10).status_code == 200

    loaded = load_connector(workspace.connectors / "xero.yaml", check_env=False)
    record = engine_connect(loaded, "acme", sandbox_url=sandbox.url, timeout=30, announce=browse)
    assert record.connected and record.account_id == TENANT
    assert (
        "scope=openid+profile+email+offline_access+accounting.transactions+accounting.contacts.read"
        in urls[0]
    )


@pytest.fixture
def xero(workspace: Workspace, secret_key: str) -> Iterator[Xero]:
    sandbox = workspace.start_sandbox()
    env = workspace.env(MANIFOLD_SECRET_KEY=secret_key)
    connect(workspace, sandbox)
    db = ControlDB(os.environ["MANIFOLD_CONTROL_URL"])
    try:
        yield Xero(workspace, sandbox, ConnectionStore(db, Vault([secret_key])), env)
    finally:
        db.close()


def test_connecting_stores_the_tenant_and_a_sync_reads_every_stream_with_it(xero: Xero) -> None:
    record = xero.record()
    assert record.account_id == TENANT and record.config == {"tenant_id": TENANT}
    assert record.account["tenant_name"] == "Demo Company (UK)"

    xero.sync()
    query = xero.workspace.query
    assert query("SELECT count(*) FROM invoices") == [(6,)]
    assert query("SELECT count(*) FROM payments") == [(4,)]
    assert query("SELECT count(*) FROM customers") == [(5,)]
    first = query(
        "SELECT number, kind, status, currency, subtotal, tax, total, amount_paid, amount_remaining, "
        "customer_id, customer_name, issue_date, due_date, paid_at, updated_at, _connection_id "
        f"FROM invoices WHERE id = '{FIRST_INVOICE}'"
    )[0]
    assert first[:11] == (
        "INV-0041", "ACCREC", "paid", "GBP", Decimal("2600.00"), Decimal("520.00"), Decimal("3120.00"),
        Decimal("3120.00"), Decimal("0.00"), LUMEN, "Lumen Studio Ltd",
    )  # fmt: skip
    assert first[11:13] == (date(2025, 10, 1), date(2025, 10, 31))
    assert first[13].isoformat() == "2025-10-18T00:00:00+00:00"
    assert first[14].isoformat() == "2025-10-20T10:05:12.340000+00:00" and first[15] == "acme"
    assert query("SELECT kind, status, amount, invoice_id FROM payments ORDER BY updated_at LIMIT 1") == [
        ("ACCRECPAYMENT", "deleted", Decimal("3120.00"), FIRST_INVOICE)
    ]
    assert query(
        "SELECT name, email, phone, city, postal_code, tax_number, is_customer, is_supplier FROM customers "
        "WHERE id = 'c3c5d7f9-4b63-402c-9d5e-7f8091a2bc33'"
    ) == [
        (
            "Northwind Paper Supplies", "billing@northwindpaper.example", "0161 496 0033", "Manchester",
            "M17 1AB", "GB987654321", False, True,
        )
    ]  # fmt: skip

    # Three records a page in the sandbox: two pages each, the second the last by pageCount.
    for path in (INVOICES, "/api.xro/2.0/Payments", "/api.xro/2.0/Contacts"):
        gets = xero.gets(path)
        assert [g["query"] for g in gets] == [{"page": "1"}, {"page": "2"}]
        assert all(g["headers"]["xero-tenant-id"] == TENANT and g["status"] == 200 for g in gets)
        assert all("if-modified-since" not in g["headers"] for g in gets)

    # The sandbox insists on the tenant header, as Xero does.
    token = xero.record().credentials["access_token"]
    url = f"{xero.sandbox.url}/xero{INVOICES}"
    bare = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
    assert bare.status_code == 403 and bare.json()["Title"] == "Forbidden"
    tenant = httpx.get(url, headers={"Authorization": f"Bearer {token}", "xero-tenant-id": TENANT})
    assert tenant.json()["pagination"] == {"page": 1, "pageSize": 3, "pageCount": 2, "itemCount": 6}


def test_later_syncs_send_if_modified_since_and_a_refresh_rotates_the_refresh_token(xero: Xero) -> None:
    xero.sync()
    before = xero.workspace.query("SELECT max(_synced_at) FROM invoices")[0][0]
    changed = {**xero.sandbox.records("xero", INVOICES)[1]}
    changed.update(
        Status="PAID", AmountDue=0.0, AmountPaid=744.0, UpdatedDateUTC="/Date(1763640000000+0000)/"
    )
    assert changed["InvoiceID"] == SECOND_INVOICE
    new = {**changed, "InvoiceID": "4a1f0e2b-7c3d-4b5e-8f6a-0b1c2d3e4f07", "InvoiceNumber": "INV-0046"}
    new["UpdatedDateUTC"] = "/Date(1763726400000+0000)/"
    xero.sandbox.upsert("xero", INVOICES, changed)
    xero.sandbox.upsert("xero", INVOICES, new)
    xero.sandbox.clear_requests()

    xero.sync()
    gets = xero.gets(INVOICES)
    # The newest invoice read before changed at 2025-11-14T08:30:00.250Z: sent to the second.
    assert [(g["query"], g["headers"]["if-modified-since"]) for g in gets] == [
        ({"page": "1"}, "2025-11-14T08:30:00Z")
    ]
    assert xero.gets("/api.xro/2.0/Contacts")[0]["headers"]["if-modified-since"] == "2025-11-03T11:30:00Z"
    reread = xero.workspace.query(
        f"SELECT number, status FROM invoices WHERE _synced_at > '{before}' ORDER BY number"
    )
    assert reread == [("INV-0042", "paid"), ("INV-0045", "voided"), ("INV-0046", "paid")]
    assert xero.workspace.query("SELECT count(*) FROM invoices") == [(7,)]
    assert xero.workspace.query(f"SELECT count(*) FROM payments WHERE _synced_at > '{before}'") == [
        (1,)
    ]  # the boundary payment; nothing else changed

    # A refused token is refreshed once, and the refresh token rotates.
    old = xero.record().credentials
    xero.sandbox.expire_access_tokens("xero")
    xero.sandbox.clear_requests()
    xero.sync()
    new = xero.record().credentials
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert [g["status"] for g in xero.gets(INVOICES)] == [401, 200]  # retried once refreshed
    # The spent refresh token is refused; the new one is good.
    client = (ENV["XERO_CLIENT_ID"], ENV["XERO_CLIENT_SECRET"])
    token_url = f"{xero.sandbox.url}/xero/oauth/token"
    spent = httpx.post(
        token_url, data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]}, auth=client
    )
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
    assert xero.record().connected


def _signed(body: bytes, key: str = ENV["XERO_WEBHOOK_KEY"]) -> dict[str, str]:
    signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    return {"x-xero-signature": signature, "Content-Type": "application/json"}


def test_webhooks_answer_the_intent_to_receive_and_queue_a_sync_of_the_tenants_connection(
    workspace: Workspace, secret_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**ENV, "XERO_INTEGRATION_ENABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    settings = settings_for(tmp_path, workspace.connectors, control_url=os.environ["MANIFOLD_CONTROL_URL"])
    with running_service(settings) as running:
        running.service.connections.save(
            ConnectionRecord("xero", "acme", account_id=TENANT, config={"tenant_id": TENANT}, connected=True)
        )
        http = running.client()
        intent = (
            b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"XXOUPNXYZMGUSGXDYFLE"}'
        )
        ok = http.post("/webhooks/xero", content=intent, headers=_signed(intent))
        assert (ok.status_code, ok.content) == (200, b"")
        wrong = http.post("/webhooks/xero", content=intent, headers=_signed(intent, "not-the-key"))
        assert wrong.status_code == 401

        event = {
            "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{FIRST_INVOICE}",
            "resourceId": FIRST_INVOICE,
            "eventDateUtc": "2025-11-20T10:15:00.123",
            "eventType": "UPDATE",
            "eventCategory": "INVOICE",
            "tenantId": TENANT,
            "tenantType": "ORGANISATION",
        }
        body = json.dumps(
            {
                "events": [event],
                "firstEventSequence": 7,
                "lastEventSequence": 7,
                "entropy": "QWERTYUIOPASDFGHJKLZ",
            }
        ).encode()
        assert http.post("/webhooks/xero", content=body, headers=_signed(body)).status_code == 200
        assert http.post("/webhooks/xero", content=body, headers=_signed(body)).status_code == 200  # a retry

    applied = workspace.cli("apply-events", env=workspace.env(MANIFOLD_SECRET_KEY=secret_key, **ENV))
    assert applied.returncode == 0, applied.stderr
    db = ControlDB(os.environ["MANIFOLD_CONTROL_URL"])
    try:
        queued = SyncRequests(db).queued()
    finally:
        db.close()
    assert [(r.connector, r.connection_id, r.streams, r.source) for r in queued] == [
        ("xero", "acme", [], "webhook")
    ]


def test_create_invoices_creates_updates_and_reports_each_invoices_errors(xero: Xero, tmp_path: Path) -> None:
    line = {"Description": "Retainer, December", "Quantity": 1, "UnitAmount": 900, "AccountCode": "200"}
    batch = {
        "invoices": [
            {"Type": "ACCREC", "Contact": {"ContactID": LUMEN}, "LineItems": [line], "Date": "2025-12-01",
             "DueDate": "2025-12-31", "Reference": "Retainer Dec", "Status": "AUTHORISED"},
            {"Type": "ACCREC", "Contact": {"ContactID": LUMEN}, "LineItems": [line], "Reference": "Retainer Jan"},
            {"InvoiceID": SECOND_INVOICE, "Status": "AUTHORISED", "Reference": "Menu photography (revised)"},
            {"Type": "ACCREC", "LineItems": [line], "Reference": "No contact"},
        ]
    }  # fmt: skip
    given = tmp_path / "batch.json"
    given.write_text(json.dumps(batch))
    result = xero.cli("action", "xero", "create_invoices", "--input", f"@{given}", "--connection", "acme")
    assert result.returncode == 0, result.stderr
    answered = json.loads(result.stdout)["result"]
    assert [i.get("StatusAttributeString") for i in answered] == ["OK", "OK", "OK", "ERROR"]
    assert answered[3]["ValidationErrors"] == [
        {"Message": "A Contact must be specified for this type of transaction."}
    ]
    assert answered[2]["InvoiceID"] == SECOND_INVOICE and answered[2]["InvoiceNumber"] == "INV-0042"
    created = {answered[0]["InvoiceID"], answered[1]["InvoiceID"]}
    assert len(created) == 2 and SECOND_INVOICE not in created

    posts = [r for r in xero.sandbox.requests("xero") if r["method"] == "POST" and r["path"] == INVOICES]
    assert len(posts) == 1 and posts[0]["query"] == {"summarizeErrors": "false"}
    assert posts[0]["headers"]["idempotency-key"].startswith("mf-")
    assert posts[0]["headers"]["xero-tenant-id"] == TENANT and len(posts[0]["body"]["Invoices"]) == 4

    xero.sync()  # the created and updated invoices are in Xero's list now
    assert xero.workspace.query("SELECT count(*) FROM invoices") == [(8,)]
    assert xero.workspace.query(
        f"SELECT description, status FROM invoices WHERE id = '{SECOND_INVOICE}'"
    ) == [("Menu photography (revised)", "authorised")]

    # Without summarizeErrors=false Xero refuses the whole batch: the action reads its error shape.
    refused = httpx.post(
        f"{xero.sandbox.url}/xero{INVOICES}",
        json={"Invoices": [batch["invoices"][3]]},
        headers={
            "Authorization": f"Bearer {xero.record().credentials['access_token']}",
            "xero-tenant-id": TENANT,
        },
    )
    assert refused.status_code == 400
    assert refused.json()["Type"] == "ValidationException"
    assert refused.json()["Elements"][0]["ValidationErrors"][0]["Message"].startswith("A Contact must")

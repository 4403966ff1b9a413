"""DocuSign end to end against the sandbox over HTTP: connect (OAuth code grant, then
/oauth/userinfo for the account and its base URI), envelopes synced across pages into
signature_requests and contracts, a second run asking only for changes since the last one,
a token refresh rotating the refresh token, and send_contract creating an envelope."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from engine.control import ConnectionRecord, ConnectionStore, Vault, open_control

from .conftest import Workspace

ACCOUNT = "f0f3c4a2-6b1d-4c8e-9a57-3e2d1b0c9a84"
ENVELOPES = f"/restapi/v2.1/accounts/{ACCOUNT}/envelopes"
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcjw8L1Jvb3QgMSAwIFI+Pgo="


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    workspace.start_sandbox()
    return workspace


def env(space: Workspace) -> dict[str, str]:
    return space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])


def stored(connection: str = "maya") -> ConnectionRecord:
    db = open_control()
    try:
        record = ConnectionStore(db, Vault()).get("docusign", connection)
    finally:
        db.close()
    assert record is not None
    return record


def connect(space: Workspace, connection: str = "maya") -> ConnectionRecord:
    """`manifold connect docusign` against the sandbox: the browser is an HTTP client."""
    assert space.sandbox is not None
    process = space.popen(
        "connect", "docusign", "--connection", connection, "--sandbox-url", space.sandbox.url, "--timeout", "30",
        env=env(space),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect DocuSign eSignature")
        page = httpx.get(process.stdout.readline().strip(), follow_redirects=True, timeout=10)
        assert page.status_code == 200 and "Connected" in page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    return stored(connection)


def sync(space: Workspace, *extra: str) -> None:
    assert space.sandbox is not None
    done = space.cli("sync", "docusign", "--sandbox-url", space.sandbox.url, "--connection", "maya", *extra, env=env(space))
    assert done.returncode == 0, done.stderr


def listed(space: Workspace) -> list[dict[str, Any]]:
    assert space.sandbox is not None
    return [r for r in space.sandbox.requests("docusign") if r["method"] == "GET" and r["path"] == ENVELOPES]


def test_connect_stores_the_default_account_and_its_base_uri(space: Workspace) -> None:
    record = connect(space)
    assert record.connected and record.account_id == ACCOUNT
    assert record.config == {"account_id": ACCOUNT, "base_uri": "https://demo.docusign.net"}
    assert record.account == {"email": "maya@acme-studio.example", "name": "Maya Lopez", "account_name": "Acme Studio"}
    assert record.scopes == ["signature", "extended"]
    assert space.sandbox is not None
    (userinfo,) = [r for r in space.sandbox.requests("docusign") if r["path"] == "/oauth/userinfo"]
    assert userinfo["status"] == 200
    # an access token lasts 8 hours
    expires = datetime.fromisoformat(record.token_expires_at or "")
    assert timedelta(hours=7, minutes=55) < expires - datetime.now(UTC) <= timedelta(hours=8)


def test_envelopes_sync_across_pages_then_only_changes(space: Workspace) -> None:
    connect(space)
    sync(space)
    rows = space.query(
        "SELECT id, status, title, sender_email, is_complete, strftime(completed_at, '%Y-%m-%dT%H:%M:%S'), "
        "strftime(updated_at, '%Y-%m-%dT%H:%M:%S') FROM signature_requests ORDER BY updated_at"
    )
    assert [r[1] for r in rows] == ["completed", "sent", "declined", "voided", "delivered"]
    first = rows[0]
    assert first[0] == "93be49ab-7b1f-4c2d-9e3a-0f5d8c6b2a11"
    assert first[2] == "Please sign: Master Services Agreement - Northwind"
    assert first[3:] == ("maya@acme-studio.example", True, "2025-10-07T16:20:44", "2025-10-07T16:20:44")
    assert [r[4] for r in rows[1:]] == [False] * 4
    signers = space.parse_json(
        space.query("SELECT signers FROM signature_requests WHERE status = 'declined'")[0][0]
    )
    assert signers[0]["declinedReason"] == "Rates changed; new quote to follow."
    assert space.query("SELECT _connection_id, count(*) FROM signature_requests GROUP BY 1") == [("maya", 5)]

    contracts = space.query(
        "SELECT id, signature_request_id, status, is_signed, owner_email, documents FROM contracts "
        "WHERE id = '93be49ab-7b1f-4c2d-9e3a-0f5d8c6b2a11'"
    )
    (msa,) = contracts
    assert msa[1:5] == ("93be49ab-7b1f-4c2d-9e3a-0f5d8c6b2a11", "completed", True, "maya@acme-studio.example")
    assert [d["name"] for d in space.parse_json(msa[5])] == ["Master Services Agreement.pdf", "Schedule A - Rates.pdf"]
    assert space.query("SELECT count(*) FROM contracts") == [(5,)]

    # the sandbox gives at most 2 per page: three pages per stream, walked by start_position
    calls = [r["query"] for r in listed(space)]
    assert [c["start_position"] for c in calls] == ["0", "2", "4"] * 2
    assert all(c["count"] == "100" and c["from_date"] == "2000-01-01T00:00:00Z" for c in calls)
    assert all(c["from_to_status"] == "changed" and c["include"] == "recipients,documents" for c in calls)

    # one envelope signed since: the next run asks from the last status change on
    assert space.sandbox is not None
    changed = next(
        e for e in space.sandbox.records("docusign", "/restapi/v2.1/accounts/{accountId}/envelopes", key=ACCOUNT)
        if e["status"] == "sent"
    )
    changed = {**changed, "status": "completed", "completedDateTime": "2025-11-05T09:30:00.0000000Z",
               "statusChangedDateTime": "2025-11-05T09:30:00.0000000Z",
               "lastModifiedDateTime": "2025-11-05T09:30:00.0000000Z"}
    space.sandbox.upsert("docusign", "/restapi/v2.1/accounts/{accountId}/envelopes", changed, key=ACCOUNT)
    space.sandbox.clear_requests()
    sync(space)
    calls = [r["query"] for r in listed(space)]
    assert {c["from_date"] for c in calls} == {"2025-11-04T08:44:10Z"}  # SOW #15 was the last change
    assert [c["start_position"] for c in calls] == ["0", "0"]
    assert space.query(f"SELECT status, is_complete FROM signature_requests WHERE id = '{changed['envelopeId']}'") == [
        ("completed", True)
    ]
    assert space.query("SELECT count(*) FROM signature_requests") == [(5,)]
    state = space.query("SELECT state FROM _manifold_state WHERE stream = 'envelopes'")
    assert json.loads(state[0][0])["slices"][""]["cursor"] == "2025-11-05T09:30:00.0000000Z"


def test_a_token_near_expiry_is_refreshed_first_and_the_refresh_token_rotates(space: Workspace) -> None:
    before = connect(space)
    db = open_control()
    try:  # four minutes left: inside DocuSign's five-minute refresh margin
        soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
        ConnectionStore(db, Vault()).save(ConnectionRecord(**{**before.__dict__, "token_expires_at": soon}))
    finally:
        db.close()
    assert space.sandbox is not None
    space.sandbox.clear_requests()
    sync(space, "-s", "envelopes")
    after = stored()
    assert after.credentials["access_token"] != before.credentials["access_token"]
    assert after.credentials["refresh_token"] != before.credentials["refresh_token"]
    requests = space.sandbox.requests("docusign")
    assert requests[0]["path"] == "/oauth/token" and dict(requests[0]["form"])["grant_type"] == "refresh_token"
    assert all(r["status"] == 200 for r in requests)  # refreshed before any 401

    space.sandbox.expire_access_tokens("docusign")  # an early expiry: 401, one refresh, retried
    sync(space, "-s", "envelopes")
    third = stored()
    assert third.credentials["refresh_token"] not in (before.credentials["refresh_token"], after.credentials["refresh_token"])

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
        "connect",
        "docusign",
        "--connection",
        connection,
        "--sandbox-url",
        space.sandbox.url,
        "--timeout",
        "30",
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
    done = space.cli(
        "sync", "docusign", "--sandbox-url", space.sandbox.url, "--connection", "maya", *extra, env=env(space)
    )
    assert done.returncode == 0, done.stderr


def listed(space: Workspace) -> list[dict[str, Any]]:
    assert space.sandbox is not None
    return [r for r in space.sandbox.requests("docusign") if r["method"] == "GET" and r["path"] == ENVELOPES]


def test_connect_stores_the_default_account_and_its_base_uri(space: Workspace) -> None:
    record = connect(space)
    assert record.connected and record.account_id == ACCOUNT
    assert record.config == {"account_id": ACCOUNT, "base_uri": "https://demo.docusign.net"}
    assert record.account == {
        "email": "maya@acme-studio.example",
        "name": "Maya Lopez",
        "account_name": "Acme Studio",
    }
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
    assert [d["name"] for d in space.parse_json(msa[5])] == [
        "Master Services Agreement.pdf",
        "Schedule A - Rates.pdf",
    ]
    assert space.query("SELECT count(*) FROM contracts") == [(5,)]

    # the sandbox gives at most 2 per page: three pages per stream, walked by start_position
    calls = [r["query"] for r in listed(space)]
    assert [c["start_position"] for c in calls] == ["0", "2", "4"] * 2
    assert all(c["count"] == "100" and c["from_date"] == "2000-01-01T00:00:00Z" for c in calls)
    assert all(c["from_to_status"] == "changed" and c["include"] == "recipients,documents" for c in calls)

    # one envelope signed since: the next run asks from the last status change on
    assert space.sandbox is not None
    changed = next(
        e
        for e in space.sandbox.records(
            "docusign", "/restapi/v2.1/accounts/{accountId}/envelopes", key=ACCOUNT
        )
        if e["status"] == "sent"
    )
    changed = {
        **changed,
        "status": "completed",
        "completedDateTime": "2025-11-05T09:30:00.0000000Z",
        "statusChangedDateTime": "2025-11-05T09:30:00.0000000Z",
        "lastModifiedDateTime": "2025-11-05T09:30:00.0000000Z",
    }
    space.sandbox.upsert("docusign", "/restapi/v2.1/accounts/{accountId}/envelopes", changed, key=ACCOUNT)
    space.sandbox.clear_requests()
    sync(space)
    calls = [r["query"] for r in listed(space)]
    assert {c["from_date"] for c in calls} == {"2025-11-04T08:44:10Z"}  # SOW #15 was the last change
    assert [c["start_position"] for c in calls] == ["0", "0"]
    assert space.query(
        f"SELECT status, is_complete FROM signature_requests WHERE id = '{changed['envelopeId']}'"
    ) == [("completed", True)]
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
    assert (
        requests[0]["path"] == "/oauth/token" and dict(requests[0]["form"])["grant_type"] == "refresh_token"
    )
    assert all(r["status"] == 200 for r in requests)  # refreshed before any 401

    space.sandbox.expire_access_tokens("docusign")  # an early expiry: 401, one refresh, retried
    sync(space, "-s", "envelopes")
    third = stored()
    assert third.credentials["refresh_token"] not in (
        before.credentials["refresh_token"],
        after.credentials["refresh_token"],
    )


def send(space: Workspace, given: dict[str, Any]) -> tuple[int, Any, str]:
    assert space.sandbox is not None
    done = space.cli(
        "action",
        "docusign",
        "send_contract",
        "--input",
        json.dumps(given),
        "--connection",
        "maya",
        "--sandbox-url",
        space.sandbox.url,
        env=env(space),
    )
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else None, done.stderr


CONTRACT = {
    "email_subject": "Please sign: SOW #16 - Northwind",
    "email_blurb": "Hi Dana, the statement of work for December.",
    "document": {"name": "SOW 16", "file_extension": "pdf", "document_base64": PDF},
    "signers": [
        {
            "email": "dana@northwind.example",
            "name": "Dana Whitfield",
            "recipientId": "1",
            "routingOrder": "1",
            "tabs": {
                "signHereTabs": [{"anchorString": "/sn1/", "anchorUnits": "pixels", "anchorXOffset": "20"}]
            },
        },
    ],
}


def test_send_contract_creates_and_sends_an_envelope_that_lands_in_signature_requests(
    space: Workspace,
) -> None:
    connect(space)
    code, out, err = send(space, CONTRACT)
    assert code == 0, err
    envelope = out["result"]
    assert out["status"] == 200 and envelope["status"] == "sent"
    assert space.sandbox is not None
    create, get = [r for r in space.sandbox.requests("docusign") if r["path"].startswith(ENVELOPES)]
    assert (create["method"], create["status"], get["method"], get["status"]) == ("POST", 201, "GET", 200)
    body = create["body"]
    assert body["status"] == "sent" and body["emailSubject"] == CONTRACT["email_subject"]
    assert body["documents"] == [
        {"documentBase64": PDF, "name": "SOW 16", "fileExtension": "pdf", "documentId": "1"}
    ]
    assert body["recipients"] == {"signers": CONTRACT["signers"]}  # no carbonCopies given: none sent
    assert create["headers"]["content-type"] == "application/json"
    assert get["path"] == f"{ENVELOPES}/{envelope['envelopeId']}" and get["query"] == {
        "include": "recipients,documents"
    }
    rows = space.query(
        "SELECT status, title, message, sender_email, signers, sent_at IS NOT NULL, _connection_id "
        f"FROM signature_requests WHERE id = '{envelope['envelopeId']}'"
    )
    (row,) = rows
    assert row[:4] == ("sent", CONTRACT["email_subject"], CONTRACT["email_blurb"], "maya@acme-studio.example")
    assert space.parse_json(row[4])[0]["email"] == "dana@northwind.example"
    assert row[5:] == (True, "maya")


def test_the_sandbox_refuses_an_incomplete_envelope_and_the_action_reads_docusign_errors(
    space: Workspace,
) -> None:
    record = connect(space)
    assert space.sandbox is not None
    url = f"{space.sandbox.url}/docusign{ENVELOPES}"
    bearer = {"Authorization": f"Bearer {record.credentials['access_token']}"}
    complete = {
        "emailSubject": "NDA",
        "status": "sent",
        "documents": [{"documentBase64": PDF, "name": "NDA", "fileExtension": "pdf", "documentId": "1"}],
        "recipients": {
            "signers": [{"email": "omar@brightline.example", "name": "Omar Haddad", "recipientId": "1"}]
        },
    }
    for missing, without in [
        ("emailSubject", {k: v for k, v in complete.items() if k != "emailSubject"}),
        ("documents.0.documentBase64", {**complete, "documents": [{"name": "NDA", "documentId": "1"}]}),
        (
            "recipients.signers.0.recipientId",
            {
                **complete,
                "recipients": {"signers": [{"email": "omar@brightline.example", "name": "Omar Haddad"}]},
            },
        ),
    ]:
        refused = httpx.post(url, json=without, headers=bearer, timeout=10)
        assert refused.status_code == 400
        assert (
            refused.json()["errorCode"] == "ENVELOPE_IS_INCOMPLETE" and missing in refused.json()["message"]
        )
    made = httpx.post(url, json=complete, headers=bearer, timeout=10)
    assert made.status_code == 201 and set(made.json()) == {"envelopeId", "status", "statusDateTime"}
    missing = httpx.get(f"{url}/00000000-0000-0000-0000-000000000000", headers=bearer, timeout=10)
    assert missing.status_code == 404 and missing.json()["errorCode"] == "ENVELOPE_DOES_NOT_EXIST"

    code, _, err = send(space, {**CONTRACT, "email_subject": ""})
    assert code != 0 and "email_subject" in err  # the input schema stops it before DocuSign
    space.sandbox.clear_requests()
    space.sandbox.add_fault("docusign", "status", ENVELOPES, status=400)
    code, _, err = send(space, CONTRACT)
    assert code != 0 and "the provider refused it (400, INVALID_REQUEST_PARAMETER" in err
    assert [r["method"] for r in space.sandbox.requests("docusign")] == ["POST"]  # not retried, no GET


def test_the_demo_connects_through_the_sandbox_without_a_browser(space: Workspace) -> None:
    from engine.connect import connect_in_sandbox
    from engine.runner import load_for_run

    assert space.sandbox is not None
    loaded = load_for_run(str(space.connectors / "docusign.yaml"), sandbox=True)
    first = connect_in_sandbox(loaded, "default", space.sandbox.url)
    again = connect_in_sandbox(loaded, "default", space.sandbox.url)  # a rerun replaces the tokens
    assert again.config == first.config == {"account_id": ACCOUNT, "base_uri": "https://demo.docusign.net"}
    assert again.credentials["access_token"] != first.credentials["access_token"]
    done = space.cli("sync", "docusign", "--sandbox-url", space.sandbox.url, env=env(space))
    assert done.returncode == 0, done.stderr
    assert space.query("SELECT _connection_id, count(*) FROM signature_requests GROUP BY 1") == [
        ("default", 5)
    ]

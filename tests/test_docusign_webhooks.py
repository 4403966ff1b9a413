"""DocuSign Connect deliveries through the web service: one X-DocuSign-Signature-N header per active
HMAC key, any of them matching any configured key; a redelivery stored once; a completed envelope
applied to signature_requests and contracts."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.control import ControlDB
from engine.control.inbox import Inbox

from .conftest import Workspace
from .test_sync_docusign import ACCOUNT, connect, env, sync
from .web_support import running_service, settings_for

NDA = "2f6c1d8e-4a3b-4f9e-8c7d-5b1a0e9f3c22"
FIRST_KEY, SECOND_KEY = (
    "Zm9vYmFyLXNhbmRib3gta2V5LW9uZS0xMjM0NTY3OA==",
    "c2FuZGJveC1zZWNvbmQta2V5LWZvci1jb25uZWN0LTk=",
)  # sandbox.env DOCUSIGN_CONNECT_HMAC_KEYS


def signature(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def completed_event(space: Workspace) -> bytes:
    """Connect's JSON SIM message (connect.schema-v2.json) for the NDA being signed."""
    fixture = json.loads((space.connectors / "fixtures/docusign/envelopes.json").read_text())[ACCOUNT]
    summary: dict[str, Any] = copy.deepcopy(next(e for e in fixture if e["envelopeId"] == NDA))
    # DocuSign's time format; now, so the event is newer than the poll that loaded the row
    done = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    summary.update(
        status="completed", completedDateTime=done, statusChangedDateTime=done, lastModifiedDateTime=done
    )
    summary["recipients"]["signers"][0].update(status="completed", signedDateTime=done)
    message = {
        "event": "envelope-completed",
        "apiVersion": "v2.1",
        "uri": f"/restapi/v2.1/accounts/{ACCOUNT}/envelopes/{NDA}",
        "retryCount": 0,
        "configurationId": 10418277,
        "generatedDateTime": done,
        "data": {
            "accountId": ACCOUNT,
            "userId": "4799e5e9-1559-4915-9862-cf4713bbcacc",
            "envelopeId": NDA,
            "envelopeSummary": summary,
        },
    }
    return json.dumps(message, indent=2).encode()  # DocuSign signs the exact bytes, line breaks included


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    workspace.start_sandbox()
    return workspace


def test_connect_deliveries_are_verified_stored_once_and_update_the_envelope(space: Workspace) -> None:
    connect(space)
    sync(space)
    assert space.query(f"SELECT status FROM signature_requests WHERE id = '{NDA}'") == [("sent",)]
    assert space.sandbox is not None
    control_url = os.environ["MANIFOLD_CONTROL_URL"]
    settings = settings_for(
        space.connectors.parent,
        space.connectors,
        control_url=control_url,
        warehouse_url=space.warehouse_url,
        sandbox_url=space.sandbox.url,
    )
    body = completed_event(space)
    with running_service(settings) as running, running.client() as http:
        path = "/webhooks/docusign/maya"
        # key 1 was rotated away in DocuSign: header -1 holds a signature we cannot match, -2 the second key's
        headers = {
            "Content-Type": "application/json",
            "X-DocuSign-Signature-1": signature("a-key-deleted-in-docusign", body),
            "X-DocuSign-Signature-2": signature(SECOND_KEY, body),
            "X-Authorization-Digest": "HMACSHA256",
        }
        assert http.post(path, content=body, headers=headers).status_code == 200
        assert http.post(path, content=body, headers=headers).status_code == 200  # the retry: a duplicate
        unsigned = {"Content-Type": "application/json", "X-DocuSign-Signature-1": signature("guess", body)}
        assert http.post(path, content=body, headers=unsigned).status_code == 401
        tampered = body.replace(b'"completed"', b'"voided"', 1)
        assert http.post(path, content=tampered, headers=headers).status_code == 401
        none = {"Content-Type": "application/json"}
        assert http.post(path, content=body, headers=none).status_code == 401
        first_key = {"Content-Type": "application/json", "X-DocuSign-Signature-1": signature(FIRST_KEY, body)}
        assert http.post(path, content=body, headers=first_key).status_code == 200  # same event: still one
        assert http.post("/webhooks/docusign/nobody", content=body, headers=headers).status_code == 404

    db = ControlDB(control_url)
    try:
        stats = Inbox(db).stats("docusign")
        (event,) = db.query(
            "SELECT event_id, event_type, connection_id FROM webhook_events WHERE connector = 'docusign'"
        )
    finally:
        db.close()
    assert (stats.accepted, stats.duplicate, stats.rejected, stats.pending) == (1, 2, 4, 1)
    assert event == {
        "event_id": f"{NDA}:envelope-completed:{json.loads(body)['generatedDateTime']}",
        "event_type": "envelope-completed",
        "connection_id": "maya",
    }

    applied = space.cli("apply-events", env=env(space) | {"CONTRACT_SIGNING_ENABLED": "true"})
    assert applied.returncode == 0, applied.stderr
    assert space.query(
        "SELECT status, is_complete, completed_at IS NOT NULL, _connection_id "
        f"FROM signature_requests WHERE id = '{NDA}'"
    ) == [("completed", True, True, "maya")]
    assert space.query(f"SELECT status, is_signed FROM contracts WHERE id = '{NDA}'") == [("completed", True)]
    assert space.query("SELECT count(*) FROM signature_requests") == [(5,)]

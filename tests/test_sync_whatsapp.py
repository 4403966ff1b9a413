"""WhatsApp Business end to end: Meta's subscribe handshake and signed deliveries through
`manifold serve`, applied by the CLI into a real DuckDB file (one row per wamid, status updates
changing only the status), and `send_text` against the sandbox's Cloud API route."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, Workspace
from .web_support import RunningService, running_service, settings_for

FIXTURES = ROOT / "connectors" / "fixtures" / "whatsapp"
APP_SECRET = "sandbox-app-secret-7c1d2e"
VERIFY_TOKEN = "sandbox-verify-token"
PHONE_NUMBER_ID = "106540352242922"
ENV = {
    "WHATSAPP_INBOX_ENABLED": "true",
    "WHATSAPP_ACCESS_TOKEN": "EAAsandboxSystemUserToken0whatsapp",
    "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
    "WHATSAPP_APP_SECRET": APP_SECRET,
    "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
}
FIRST = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    """`X-Hub-Signature-256` as Meta computes it: hex HMAC-SHA256 of the raw bytes, App Secret as key."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def status_batch(wamid: str, status: str, timestamp: int) -> bytes:
    text = (FIXTURES / "webhook_status.json").read_text()
    text = text.replace("@WAMID@", wamid).replace("@TIMESTAMP@", str(timestamp))
    body = json.loads(text)
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = status
    return json.dumps(body).encode()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, secret_key: str) -> dict[str, str]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


@pytest.fixture
def service(workspace: Workspace, tmp_path: Path, env: dict[str, str]) -> Iterator[RunningService]:
    settings = settings_for(tmp_path, workspace.connectors, control_url=os.environ["MANIFOLD_CONTROL_URL"])
    with running_service(settings) as running:
        yield running


def deliver(service: RunningService, body: bytes, headers: dict[str, str] | None = None) -> int:
    with service.client() as client:
        return client.post("/webhooks/whatsapp", content=body, headers=headers or signed(body)).status_code


def apply_events(workspace: Workspace) -> str:
    done = workspace.cli("apply-events")
    assert done.returncode == 0, done.stderr
    return done.stdout


def messages(workspace: Workspace, where: str = "TRUE") -> list[tuple[Any, ...]]:
    return workspace.query(
        "SELECT id, channel_id, sender_id, recipient_id, direction, message_type, text, status, "
        f"epoch(sent_at)::BIGINT, thread_id FROM messages WHERE {where} ORDER BY sent_at, id"
    )


def send_text(workspace: Workspace, given: dict[str, Any]) -> tuple[int, Any, str]:
    assert workspace.sandbox is not None
    done = workspace.cli(
        "action",
        "whatsapp",
        "send_text",
        "--input",
        json.dumps(given),
        "--sandbox-url",
        workspace.sandbox.url,
    )
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else None, done.stderr


def test_meta_subscribe_handshake_echoes_the_challenge_only_for_the_verify_token(
    service: RunningService,
) -> None:
    with service.client() as client:
        ok = client.get(
            "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
        )
        wrong = client.get(
            "/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"},
        )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert wrong.status_code == 403 and "1158201444" not in wrong.text


def test_signed_messages_are_stored_once_and_land_one_row_per_wamid(
    workspace: Workspace, service: RunningService
) -> None:
    body = (FIXTURES / "webhook_messages.json").read_bytes()
    assert deliver(service, body) == 200
    assert deliver(service, body) == 200  # Meta's redelivery of the same batch: stored once
    assert "1 applied" in apply_events(workspace)
    assert messages(workspace) == [
        (FIRST, "16505551234", "16505551234", None, "inbound", "text", "Does it come in another color?",
         None, 1749416383, None),
        ("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgB=", "16505551234", "16505551234",
         None, "inbound", "image", None, None, 1749416391, None),
        ("wamid.HBgLMTQxNTU1NTAxOTkVAgASGBQzRUIwQjY3RjY3RjI3NEU5QkE3OQA=", "14155550199", "14155550199",
         None, "inbound", "text", "Yes, Thursday works for me.", None, 1749416402,
         "wamid.HBgLMTQxNTU1NTAxOTkVAgARGBI0QjdGQjc5RjlGNzI0MzQ5QTcA"),
    ]  # fmt: skip
    (image,) = workspace.query("SELECT attachments FROM messages WHERE message_type = 'image'")
    assert Workspace.parse_json(image[0])["id"] == "1003383421387256"
    assert workspace.query("SELECT DISTINCT _provider, _connection_id FROM messages") == [
        ("whatsapp", "default")
    ]

    # The same wamid in another envelope (another batch, so another event): still one row.
    again = json.loads(body)
    again["entry"] = again["entry"][:1]
    value = again["entry"][0]["changes"][0]["value"]
    value["messages"] = value["messages"][:1]
    assert deliver(service, json.dumps(again).encode()) == 200
    assert "1 applied" in apply_events(workspace)
    assert workspace.query(f"SELECT count(*) FROM messages WHERE id = '{FIRST}'") == [(1,)]
    assert workspace.query("SELECT count(*) FROM messages") == [(3,)]


def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    workspace: Workspace, service: RunningService
) -> None:
    body = (FIXTURES / "webhook_messages.json").read_bytes()
    assert deliver(service, body, signed(body, "not-the-app-secret")) == 401
    assert deliver(service, body, {"Content-Type": "application/json"}) == 401
    assert deliver(service, body + b" ", signed(body)) == 401  # the signature covers the raw bytes
    assert "0 applied" in apply_events(workspace)
    assert not workspace.query(
        "SELECT table_name FROM information_schema.tables WHERE table_name = 'messages'"
    )


def test_send_text_posts_the_cloud_api_message_and_statuses_update_its_row(
    workspace: Workspace, service: RunningService
) -> None:
    workspace.start_sandbox()
    assert workspace.sandbox is not None
    code, out, err = send_text(
        workspace, {"to": "+16505551234", "body": "Yes, in teal and in sand.", "reply_to": FIRST}
    )
    assert code == 0, err
    wamid = out["result"]["id"]
    assert wamid.startswith("wamid.")
    (request,) = [r for r in workspace.sandbox.requests("whatsapp") if r["method"] == "POST"]
    assert request["path"] == f"/v23.0/{PHONE_NUMBER_ID}/messages"
    assert request["headers"]["authorization"] is True
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "context": {"message_id": FIRST},
        "text": {"body": "Yes, in teal and in sand.", "preview_url": False},
    }
    sent_at = int(time.time())
    (row,) = messages(workspace, f"id = '{wamid}'")
    assert row[:8] == (wamid, "16505551234", PHONE_NUMBER_ID, "16505551234", "outbound", "text",
                       "Yes, in teal and in sand.", "accepted")  # fmt: skip
    assert abs(row[8] - sent_at) < 60 and row[9] == FIRST

    # Meta's receipts: delivered, then read; a late "sent" (older) changes nothing. The text stays.
    for status, at in (("delivered", sent_at + 2), ("read", sent_at + 30), ("sent", sent_at + 1)):
        assert deliver(service, status_batch(wamid, status, at)) == 200
    assert "3 applied" in apply_events(workspace)
    (row,) = messages(workspace, f"id = '{wamid}'")
    assert row[4:8] == ("outbound", "text", "Yes, in teal and in sand.", "read")
    assert workspace.query("SELECT count(*) FROM messages") == [(1,)]


def test_send_text_refusals_read_graph_errors(workspace: Workspace, env: dict[str, str]) -> None:
    workspace.start_sandbox()
    code, _, err = send_text(workspace, {"to": "15550001111", "body": "Hello"})
    assert code != 0
    assert "131030" in err and "Recipient phone number not in allowed list" in err
    assert "Add recipient phone number to recipient list" in err  # error.error_data.details
    code, _, err = send_text(workspace, {"to": "not a number", "body": "Hello"})
    assert code != 0 and "does not match" in err
    assert workspace.sandbox is not None
    assert len([r for r in workspace.sandbox.requests("whatsapp") if r["method"] == "POST"]) == 1

"""`manifold serve` end to end over HTTP on 127.0.0.1: health, webhook receiving into the inbox
(signed exactly as Stripe signs), the bad inputs it must survive, and "sync now" requests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.control import ControlDB
from engine.control.inbox import Inbox

from .conftest import ROOT
from .web_support import RunningService, running_service, settings_for, sign_stripe

EVENT = {
    "id": "evt_1QqZxY2eZvKYlo2C0aB1cD2e",
    "object": "event",
    "api_version": "2024-06-20",
    "created": 1732600000,
    "type": "invoice.paid",
    "livemode": False,
    "pending_webhooks": 1,
    "data": {"object": {"id": "in_1QqZxW2eZvKYlo2CkQ8mN3pR", "object": "invoice", "status": "paid"}},
}


@pytest.fixture
def connectors(tmp_path: Path) -> Path:
    folder = tmp_path / "connectors"
    shutil.copytree(ROOT / "connectors", folder)
    return folder


@pytest.fixture
def running(
    tmp_path: Path, connectors: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningService]:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_x")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_sandbox_Ek2sT4jX1UuzM9e4b7mUXo0cZd5oVQ8M")
    monkeypatch.delenv("GOOGLE_CALENDAR_ENABLED", raising=False)
    with running_service(settings_for(tmp_path, connectors)) as service:
        yield service


def _stored(running: RunningService) -> list[tuple[str, str | None]]:
    return [
        (r["event_id"], r["event_type"])
        for r in running.service.db.query("SELECT event_id, event_type FROM webhook_events ORDER BY event_id")
    ]


def _audit(running: RunningService) -> list[tuple[str, int, str | None]]:
    rows = running.service.db.query("SELECT outcome, status, reason FROM webhook_audit ORDER BY id")
    return [(r["outcome"], r["status"], r["reason"]) for r in rows]


def test_health_and_readiness(running: RunningService) -> None:
    with running.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["control_store"] == "ok"


def test_openapi_lists_the_endpoints(running: RunningService) -> None:
    with running.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200
    for path in ("/webhooks/{connector}", "/oauth/{connector}/authorize", "/api/sync/{connector}", "/readyz"):
        assert path in paths


def test_a_signed_delivery_is_stored_once_and_a_duplicate_changes_nothing(running: RunningService) -> None:
    body = json.dumps(EVENT).encode()
    with running.client() as client:
        first = client.post("/webhooks/stripe", content=body, headers=sign_stripe(body))
        again = client.post("/webhooks/stripe", content=body, headers=sign_stripe(body))
    assert first.status_code == 200 and first.json() == {"received": True}
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert _stored(running) == [(EVENT["id"], "invoice.paid")]
    event = Inbox(running.service.db).get("stripe", str(EVENT["id"]))
    assert event is not None and event.body == body and event.state == "pending"
    assert "stripe-signature" not in event.headers and event.headers["content-type"] == "application/json"
    assert [a[0] for a in _audit(running)] == ["accepted", "duplicate"]


BAD_INPUTS: list[tuple[str, Any, int, str]] = [
    ("no signature", lambda body: {}, 401, "missing Stripe-Signature header"),
    ("malformed signature", lambda body: {"Stripe-Signature": "t=abc"}, 401, ""),
    ("wrong secret", lambda body: sign_stripe(body, secret="whsec_wrong"), 401, ""),
    ("stale timestamp", lambda body: sign_stripe(body, t=int(time.time()) - 3600), 401, "stale timestamp"),
]


@pytest.mark.parametrize(("case", "headers", "status", "reason"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_signatures_are_refused_and_store_nothing(
    running: RunningService, case: str, headers: Any, status: int, reason: str
) -> None:
    body = json.dumps(EVENT).encode()
    with running.client() as client:
        answer = client.post("/webhooks/stripe", content=body, headers=headers(body))
    assert answer.status_code == status, answer.text
    assert _stored(running) == []
    outcome, logged_status, logged_reason = _audit(running)[-1]
    assert (outcome, logged_status) == ("rejected", status)
    assert reason in (logged_reason or "")
    assert "whsec" not in (logged_reason or "")


def test_malformed_json_oversized_unknown_and_wrong_method(running: RunningService) -> None:
    malformed = b'{"id": "evt_1", "type": '
    with running.client() as client:
        assert (
            client.post("/webhooks/stripe", content=malformed, headers=sign_stripe(malformed)).status_code
            == 400
        )
        big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
        assert client.post("/webhooks/stripe", content=big, headers=sign_stripe(big)).status_code == 413
        assert client.post("/webhooks/nobody", content=b"{}").status_code == 404
        assert client.put("/webhooks/stripe", content=b"{}").status_code == 405
        assert client.get("/webhooks/stripe").status_code == 405
        signed = json.dumps({"type": "invoice.paid"}).encode()  # no event id
        assert client.post("/webhooks/stripe", content=signed, headers=sign_stripe(signed)).status_code == 400
        assert client.post("/webhooks/stripe/maya", content=b"{}").status_code == 404  # not per connection
    assert _stored(running) == []


def test_a_disabled_connector_refuses_deliveries(
    tmp_path: Path, connectors: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = (connectors / "stripe.yaml").read_text()
    (connectors / "stripe.yaml").write_text(
        spec.replace("name: stripe\n", "name: stripe\nflag: STRIPE_ENABLED\n")
    )
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_sandbox_Ek2sT4jX1UuzM9e4b7mUXo0cZd5oVQ8M")
    monkeypatch.delenv("STRIPE_ENABLED", raising=False)
    body = json.dumps(EVENT).encode()
    with running_service(settings_for(tmp_path, connectors)) as running, running.client() as client:
        answer = client.post("/webhooks/stripe", content=body, headers=sign_stripe(body))
        assert answer.status_code == 404
        assert "set STRIPE_ENABLED=true" in answer.text
        assert _stored(running) == []


def test_a_receiver_without_its_secret_answers_503_so_the_provider_retries(
    tmp_path: Path, connectors: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    body = json.dumps(EVENT).encode()
    with running_service(settings_for(tmp_path, connectors)) as running, running.client() as client:
        answer = client.post("/webhooks/stripe", content=body, headers=sign_stripe(body))
        assert answer.status_code == 503
        assert "STRIPE_WEBHOOK_SECRET" in answer.text
        assert "docs/spec-reference.md#webhooksspec" in answer.text  # where the receiver is described
        assert _stored(running) == []


def test_an_unwritable_inbox_answers_503_and_never_2xx(running: RunningService) -> None:
    writer_db: ControlDB = running.service._writer_db  # type: ignore[assignment]
    writer_db.execute("DROP TABLE webhook_events")  # the store breaks under the running service
    body = json.dumps(EVENT).encode()
    with running.client() as client:
        answer = client.post("/webhooks/stripe", content=body, headers=sign_stripe(body))
    assert answer.status_code == 503
    assert "retry" in answer.text


def test_sync_now_queues_one_request_and_reports_its_state(running: RunningService) -> None:
    with running.api() as api:
        first = api.post("/api/sync/stripe", json={"streams": ["invoices"]})
        second = api.post("/api/sync/stripe", json={"streams": ["invoices"]})
        assert first.status_code == 202 and first.json()["state"] == "queued"
        assert second.json()["id"] == first.json()["id"]  # deduplicated while queued
        assert first.headers["location"] == f"/api/sync/{first.json()['id']}"
        status = api.get(f"/api/sync/{first.json()['id']}")
        assert status.status_code == 200 and status.json()["streams"] == ["invoices"]
        assert api.post("/api/sync/stripe", json={"streams": ["nope"]}).status_code == 400
        assert api.post("/api/sync/nobody").status_code == 404
        assert api.get("/api/sync/nope").status_code == 404
        whole = api.post("/api/sync/stripe")
        assert whole.status_code == 202 and whole.json()["id"] != first.json()["id"]
    running.service.sync_requests.started(first.json()["id"], "run-1")
    running.service.sync_requests.finished(first.json()["id"], error="stripe.invoices: 401 Unauthorized")
    with running.api() as api:
        done = api.get(f"/api/sync/{first.json()['id']}").json()
        assert done["state"] == "failed" and "401" in done["error"]
        assert api.post("/api/sync/stripe", json={"streams": ["invoices"]}).json()["id"] != done["id"]


@pytest.mark.parametrize("token", [None, "wrong", "admin-token-0c5e1"])
def test_the_api_refuses_missing_or_wrong_tokens(running: RunningService, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with running.client(**headers) as client:
        answer = client.post("/api/sync/stripe")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_manifold_serve_runs_from_the_cli(tmp_path: Path, connectors: Path, secret_key: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MANIFOLD_")},
        "MANIFOLD_SECRET_KEY": secret_key,
        "MANIFOLD_CONNECTORS": str(connectors),
        "MANIFOLD_CONTROL_URL": f"sqlite:///{tmp_path}/control.db",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--sandbox"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "manifold serve did not become ready"
            time.sleep(0.1)
        body = json.dumps(EVENT).encode()  # --sandbox: the connector's sandbox webhook secret
        answer = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/stripe", content=body, headers=sign_stripe(body)
        )
        assert answer.status_code == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert "admin token" in err  # none configured: a one-off token is printed for the admin page

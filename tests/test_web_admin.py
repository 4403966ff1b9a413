"""Diagnostics over HTTP: the admin JSON and the /admin page, their token and cookie, what they show
about connectors, connections and webhooks, and what they never show (credentials, secret values)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from engine.control import ConnectionRecord
from engine.control.inbox import Inbox, RetryPolicy
from engine.diagnostics import connection, token_soon_seconds
from engine.spec.models import ConnectorSpec

from .conftest import ROOT
from .web_support import ADMIN, API, STRIPE_SECRET, RunningService, running_service, settings_for, sign_stripe

PLANTED = "ya29.PLANTED-abc"
PLANTED_REFRESH = "1//PLANTED-refresh-0f9e"
PLANTED_CONFIG = "cfg-PLANTED-value-77"
SAM_TOKEN = "ya29.SAM-secret-xyz"
STRIPE_KEY = "sk_test_PLANTED_key_51"
SCRIPT = '<script>alert("pwned")</script>'
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"
NEAR_MISS = ADMIN[:-1] + ("0" if ADMIN[-1] != "0" else "1")

CALENDAR_AUTH = """
type: oauth2
authorize_url: https://accounts.google.com/o/oauth2/v2/auth
token_url: https://oauth2.googleapis.com/token
client_id: "{{ env.ACME_CLIENT_ID }}"
client_secret: "{{ env.ACME_CLIENT_SECRET }}"
scopes: [https://www.googleapis.com/auth/calendar.readonly]
pkce: S256
"""


def calendar_spec(**auth: Any) -> dict[str, Any]:
    """An OAuth connector (authorization code grant): its connections get a Reconnect button."""
    return {
        "name": "acme_calendar",
        "title": "Acme Calendar",
        "docs": "https://developers.google.com/workspace/calendar/api/v3/reference",
        "env": ["ACME_CLIENT_ID", "ACME_CLIENT_SECRET"],
        "base_url": "https://www.googleapis.com",
        "auth": {**yaml.safe_load(CALENDAR_AUTH), **auth},
        "schedule": "0 * * * *",
        "streams": {
            "events": {
                "request": {"path": "/calendar/v3/calendars/primary/events"},
                "records": "items",
                "paging": {"type": "page_token"},
                "into": "calendar_events",
                "fields": {"id": "id", "calendar_id": {"value": "primary"}, "title": "summary"},
            }
        },
    }


@pytest.fixture
def connectors(tmp_path: Path) -> Path:
    """connectors/ copied, plus an OAuth connector and a flagged copy of Stripe (flag left unset)."""
    folder = tmp_path / "connectors"
    shutil.copytree(ROOT / "connectors", folder)
    (folder / "acme_calendar.yaml").write_text(SCHEMA_LINE + yaml.safe_dump(calendar_spec()))
    stripe = (folder / "stripe.yaml").read_text()
    flagged = stripe.replace("name: stripe\n", "name: stripe_beta\nflag: STRIPE_BETA_ENABLED\n", 1)
    (folder / "stripe_beta.yaml").write_text(flagged.replace("title: Stripe\n", "title: Stripe (beta)\n", 1))
    return folder


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
    monkeypatch.setenv("ACME_CLIENT_ID", "acme-client.apps")
    monkeypatch.setenv("ACME_CLIENT_SECRET", "GOCSPX-acme-client-secret")
    monkeypatch.delenv("STRIPE_BETA_ENABLED", raising=False)


@pytest.fixture
def running(tmp_path: Path, connectors: Path, secret_key: str, environment: None) -> Iterator[RunningService]:
    with running_service(settings_for(tmp_path, connectors)) as service:
        yield service


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def ahead(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def plant_connections(running: RunningService) -> None:
    store = running.service.connections
    scopes = ["https://www.googleapis.com/auth/calendar.readonly"]
    store.save(
        ConnectionRecord(
            "acme_calendar",
            "maya",
            owner_id="user-1",
            account_id="maya@acme.example",
            credentials={"access_token": PLANTED, "refresh_token": PLANTED_REFRESH},
            config={"calendar_id": PLANTED_CONFIG},
            scopes=scopes,
            connected=True,
            last_sync_at=ago(minutes=5),
            token_expires_at=ahead(hours=1),
        )
    )
    store.save(
        ConnectionRecord(
            "acme_calendar",
            "omar",
            credentials={"access_token": "ya29.omar-token-1"},
            connected=True,
            token_expires_at=ahead(minutes=2),
        )
    )
    store.save(
        ConnectionRecord(
            "acme_calendar",
            "lena",
            credentials={"access_token": "ya29.lena-token-2"},
            connected=True,
            token_expires_at=ago(minutes=10),
        )
    )
    store.save(
        ConnectionRecord(
            "acme_calendar",
            "ivan",
            connected=False,
            last_error=f"invalid_grant: {SCRIPT} Token has been expired or revoked.",
            last_error_at=ago(hours=2),
        )
    )
    store.save(
        ConnectionRecord(
            "acme_calendar",
            "sam",
            credentials={"access_token": SAM_TOKEN},
            connected=True,
            last_error=f"401 Unauthorized for Bearer {SAM_TOKEN}",
            last_error_at=ago(minutes=1),
            token_expires_at=ahead(hours=1),
        )
    )
    store.save(ConnectionRecord("stripe", "acme", account_id="acct_1", connected=True))


EVENT = {"id": "evt_admin_1", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}


def deliver_webhooks(running: RunningService) -> None:
    """Stripe: one accepted, the same again (duplicate), a bad signature (rejected), one parked."""
    body = json.dumps(EVENT).encode()
    parked = json.dumps({**EVENT, "id": "evt_admin_2"}).encode()
    with running.client() as client:
        assert client.post("/webhooks/stripe", content=body, headers=sign_stripe(body)).status_code == 200
        assert client.post("/webhooks/stripe", content=body, headers=sign_stripe(body)).status_code == 200
        bad = sign_stripe(body, secret="whsec_wrong")
        assert client.post("/webhooks/stripe", content=body, headers=bad).status_code == 401
        assert client.post("/webhooks/stripe", content=parked, headers=sign_stripe(parked)).status_code == 200
    inbox = Inbox(running.service.db)
    event = inbox.get("stripe", "evt_admin_2")
    assert event is not None
    assert inbox.failed(event, "apply failed", RetryPolicy(max_attempts=1)) == "parked"


def planted(running: RunningService) -> None:
    plant_connections(running)
    deliver_webhooks(running)
    requests = running.service.sync_requests
    failed = requests.queue("stripe", None, ["invoices"], source="api")
    requests.started(failed.id, "run-1")
    requests.finished(failed.id, error=f"401 from Stripe with key {STRIPE_KEY}")


def diagnostics(running: RunningService) -> dict[str, Any]:
    with running.admin() as client:
        answer = client.get("/api/admin/diagnostics/integrations")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    report: dict[str, Any] = answer.json()
    return report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in report["integrations"]}


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def admin_page(running: RunningService) -> str:
    with running.admin() as client:
        answer = client.get("/admin")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


# ---------------------------------------------------------------- the JSON


def test_diagnostics_report_each_connector(running: RunningService) -> None:
    planted(running)
    found = by_name(diagnostics(running))
    assert {"stripe", "stripe_beta", "acme_calendar"} <= set(found)

    stripe = found["stripe"]
    assert (stripe["title"], stripe["status"], stripe["enabled"], stripe["flag"]) == (
        "Stripe",
        "enabled",
        True,
        None,
    )
    assert stripe["missing_env"] == [] and stripe["missing_webhook_env"] == []
    assert (stripe["auth_type"], stripe["connects_with_oauth"], stripe["schedule"]) == (
        "bearer",
        False,
        "*/15 * * * *",
    )
    hooks = stripe["webhooks"]
    assert hooks["declared"] is True
    assert (hooks["accepted"], hooks["duplicate"], hooks["rejected"], hooks["pending"], hooks["parked"]) == (
        2,
        1,
        1,
        1,
        1,
    )
    assert hooks["last_received_at"] and hooks["oldest_unprocessed_at"]
    [request] = stripe["recent_sync_requests"]
    assert (request["state"], request["streams"], request["source"]) == ("failed", ["invoices"], "api")
    assert "401 from Stripe" in request["error"] and STRIPE_KEY not in request["error"]
    [acme] = stripe["connections"]
    assert (acme["id"], acme["status"], acme["token_status"]) == ("acme", "connected", "not applicable")

    calendar = found["acme_calendar"]
    assert (calendar["auth_type"], calendar["connects_with_oauth"]) == ("oauth2", True)
    assert calendar["token_soon_seconds"] == 300
    assert calendar["webhooks"] == {**calendar["webhooks"], "declared": False, "accepted": 0}
    assert calendar["schedule"] == "0 * * * *" and calendar["streams"] == ["events"]


def test_diagnostics_report_each_connection(running: RunningService) -> None:
    planted(running)
    connections = {c["id"]: c for c in by_name(diagnostics(running))["acme_calendar"]["connections"]}
    assert sorted(connections) == ["ivan", "lena", "maya", "omar", "sam"]

    maya = connections["maya"]
    assert (maya["status"], maya["connected"], maya["token_status"]) == ("connected", True, "valid")
    assert (maya["owner_id"], maya["account_id"]) == ("user-1", "maya@acme.example")
    assert maya["last_sync_at"] and maya["token_expires_at"] and maya["last_error"] is None
    assert maya["scopes"] == ["https://www.googleapis.com/auth/calendar.readonly"]
    assert maya["config_keys"] == ["calendar_id"]

    assert connections["omar"]["token_status"] == "expiring soon"
    assert connections["lena"]["token_status"] == "expired"

    ivan = connections["ivan"]
    assert (ivan["status"], ivan["connected"], ivan["token_status"]) == (
        "disconnected",
        False,
        "not applicable",
    )
    assert ivan["last_error"].startswith("invalid_grant: <script>") and ivan["last_error_at"]

    sam = connections["sam"]
    assert (sam["status"], sam["connected"]) == ("error", True)
    assert sam["last_error"] == "401 Unauthorized for Bearer ***"


def test_diagnostics_never_show_credentials_or_secret_values(running: RunningService) -> None:
    planted(running)
    report = diagnostics(running)
    page = admin_page(running)
    secrets = [PLANTED, PLANTED_REFRESH, PLANTED_CONFIG, SAM_TOKEN, STRIPE_KEY, STRIPE_SECRET]
    secrets += ["GOCSPX-acme-client-secret", "ya29.omar-token-1", ADMIN]
    for text in (json.dumps(report), page):
        for secret in secrets:
            assert secret not in text
    assert not keys_of(report) & {"credentials", "config", "access_token", "refresh_token", "account"}


# ---------------------------------------------------------------- the page


def test_the_admin_page_shows_statuses_errors_and_reconnect_links(running: RunningService) -> None:
    planted(running)
    page = admin_page(running)
    assert "Acme Calendar" in page and "Stripe (beta)" in page
    assert '<span class="pill ok">enabled</span>' in page
    assert '<span class="pill off">disabled</span>' in page
    for status, tone in [("connected", "ok"), ("error", "warn"), ("disconnected", "bad")]:
        assert f'<span class="pill {tone}">{status}</span>' in page
    for status, tone in [("valid", "ok"), ("expiring soon", "warn"), ("expired", "bad")]:
        assert f'<span class="pill {tone}">{status}</span>' in page
    assert "Token has been expired or revoked." in page
    assert SCRIPT not in page and "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    assert 'href="/oauth/acme_calendar/authorize?connection_id=ivan"' in page
    assert 'href="/oauth/acme_calendar/authorize?connection_id=maya"' in page
    assert "/oauth/stripe/authorize" not in page  # Stripe does not connect with OAuth
    assert '<span class="bad">1</span>' in page  # the parked event
    assert '<span class="warn">1</span>' in page  # the rejected delivery
    assert page.count(">Reconnect</a>") == 5


def test_a_reconnect_link_starts_a_connect_with_the_admin_cookie(running: RunningService) -> None:
    plant_connections(running)
    with running.client() as browser:
        assert browser.get(f"/admin?token={ADMIN}", follow_redirects=True).status_code == 200
        answer = browser.get("/oauth/acme_calendar/authorize?connection_id=ivan", follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("https://accounts.google.com/o/oauth2/v2/auth?")


def test_a_disabled_connector_shows_its_flag_and_missing_env_is_named(
    tmp_path: Path, connectors: Path, secret_key: str, environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.delenv("ACME_CLIENT_SECRET")
    with running_service(settings_for(tmp_path, connectors)) as running:
        running.service.connections.save(ConnectionRecord("stripe_beta", "acme", connected=True))
        found = by_name(diagnostics(running))
        page = admin_page(running)
    beta = found["stripe_beta"]
    assert (beta["status"], beta["enabled"], beta["flag"]) == ("disabled", False, "STRIPE_BETA_ENABLED")
    assert "set <code>STRIPE_BETA_ENABLED</code>=true" in page
    stripe = found["stripe"]
    assert (stripe["status"], stripe["missing_env"], stripe["missing_webhook_env"]) == (
        "missing env",
        [],
        ["STRIPE_WEBHOOK_SECRET"],
    )
    calendar = found["acme_calendar"]
    assert (calendar["status"], calendar["missing_env"]) == ("missing env", ["ACME_CLIENT_SECRET"])
    assert '<span class="pill warn">missing env</span>' in page
    assert "<code>STRIPE_WEBHOOK_SECRET</code>" in page and "<code>ACME_CLIENT_SECRET</code>" in page


# ---------------------------------------------------------------- who may look


def test_the_admin_endpoints_refuse_a_missing_or_wrong_token(running: RunningService) -> None:
    url = "/api/admin/diagnostics/integrations"
    refused: list[httpx.Client] = [
        running.client(),
        running.client(Authorization="Bearer wrong"),
        running.client(Authorization=f"Bearer {NEAR_MISS}"),
        running.client(Authorization=f"Bearer {API}"),  # the API token is not the admin token
        running.client(Authorization=ADMIN),  # no scheme
        running.client(Cookie=f"manifold_admin={NEAR_MISS}"),
    ]
    for client in refused:
        with client:
            answer = client.get(url)
            assert answer.status_code == 401, client.headers
            assert answer.headers["www-authenticate"] == "Bearer"
            page = client.get("/admin")
            assert page.status_code == 401 and "Sign in with the admin token" in page.text
            assert "Acme Calendar" not in page.text
    with running.client(Cookie=f"manifold_admin={ADMIN}") as client:
        assert client.get(url).status_code == 200
        assert client.get("/admin").status_code == 200


def test_a_token_in_the_url_becomes_a_strict_cookie_and_leaves_the_url(running: RunningService) -> None:
    with running.client() as browser:
        for wrong in ("wrong", NEAR_MISS, ""):
            answer = browser.get("/admin", params={"token": wrong})
            assert answer.status_code == 401 and "set-cookie" not in answer.headers
            assert "not this service&#39;s admin token" in answer.text
            assert NEAR_MISS not in answer.text
        answer = browser.get("/admin", params={"token": ADMIN}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin"
        assert answer.headers["cache-control"] == "no-store"
        cookie = answer.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert cookie.startswith(f"manifold_admin={ADMIN};")
        assert {"httponly", "samesite", "path"} <= attributes and "secure" not in attributes
        assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
        page = browser.get("/admin")  # the cookie alone now
        assert page.status_code == 200 and "Integrations" in page.text
        assert ADMIN not in page.text


def test_the_cookie_is_secure_when_the_public_url_is_https(
    tmp_path: Path, connectors: Path, secret_key: str, environment: None
) -> None:
    settings = settings_for(tmp_path, connectors, public_url="https://manifold.example.test")
    with running_service(settings) as running, running.client() as browser:
        answer = browser.get("/admin", params={"token": ADMIN}, follow_redirects=False)
    assert answer.status_code == 303
    assert "secure" in {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}


def test_without_an_admin_token_configured_the_page_is_closed(
    tmp_path: Path, connectors: Path, secret_key: str, environment: None
) -> None:
    with (
        running_service(settings_for(tmp_path, connectors, admin_token=None)) as running,
        running.client() as browser,
    ):
        assert browser.get("/admin", params={"token": ""}).status_code == 401
        closed = browser.get("/admin")
        assert closed.status_code == 401 and "set MANIFOLD_ADMIN_TOKEN" in closed.text
        assert "<form" not in closed.text
        assert browser.get("/api/admin/diagnostics/integrations").status_code == 401


# ---------------------------------------------------------------- without HTTP


def test_expiring_soon_uses_the_connectors_refresh_buffer_else_five_minutes() -> None:
    default = ConnectorSpec.model_validate(calendar_spec())
    declared = ConnectorSpec.model_validate(calendar_spec(refresh_buffer_seconds=30))
    assert (token_soon_seconds(default), token_soon_seconds(declared)) == (300, 30)
    now = datetime.now(UTC)
    record = ConnectionRecord("acme_calendar", "omar", connected=True, token_expires_at=ahead(minutes=2))
    assert connection(record, now=now, soon_seconds=300).token_status == "expiring soon"
    assert connection(record, now=now, soon_seconds=30).token_status == "valid"
    naive = ConnectionRecord("acme_calendar", "old", token_expires_at="2025-01-01T00:00:00")
    assert connection(naive, now=now, soon_seconds=300).token_status == "unknown"

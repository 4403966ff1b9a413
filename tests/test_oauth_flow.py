"""Connecting over real HTTP against the sandbox's OAuth server: authorize -> redirect -> callback
-> code exchange -> post-connect steps -> an encrypted, connected record with its expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from engine.oauth import OAuthError, OAuthStateError, TokenSet, authorize_url, complete, sandbox_rewrite
from engine.sandbox import Sandbox

from .test_oauth_support import (
    ENV,
    ROUTES,
    Control,
    browse,
    callback_server,
    code_spec,
    connect,
    oauth_sandbox,
    sqlite_control,
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with oauth_sandbox(tmp_path_factory.mktemp("oauth")) as running:
        yield running


@pytest.fixture
def control(tmp_path: Path) -> Iterator[Control]:
    yield from sqlite_control(tmp_path)


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    sandbox.reset()


def data(sandbox: Sandbox, name: str, path: str, token: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{sandbox.url}/{name}{path}", headers={"Authorization": f"Bearer {token}", **headers})


def test_google_connect_stores_an_encrypted_connected_record(sandbox: Sandbox, control: Control) -> None:
    before = datetime.now(UTC)
    record = connect(sandbox, control, "google_calendar")
    assert record.connected and record.last_error is None
    assert record.account_id == "maya@example.com"
    assert record.account == {"email": "maya@example.com", "time_zone": "Europe/Paris"}
    assert record.scopes == ["https://www.googleapis.com/auth/calendar.readonly"]
    assert record.credentials["access_token"].startswith("sbx-at-")
    assert record.credentials["refresh_token"].startswith("sbx-rt-")
    expires = datetime.fromisoformat(record.token_expires_at or "")
    assert before + timedelta(seconds=3590) < expires < datetime.now(UTC) + timedelta(seconds=3601)
    stored = control.store.get("google_calendar", "maya")
    assert stored is not None and stored.credentials == record.credentials
    raw = control.raw_rows()
    assert record.credentials["access_token"] not in raw and record.credentials["refresh_token"] not in raw
    # the issued token opens the provider's data routes
    assert (
        data(
            sandbox, "google_calendar", "/calendar/v3/calendars/primary", record.credentials["access_token"]
        ).status_code
        == 200
    )
    assert (
        data(sandbox, "google_calendar", "/calendar/v3/calendars/primary", "sbx-at-made-up").status_code
        == 401
    )


def test_google_pkce_verifier_travels_with_the_state(sandbox: Sandbox, control: Control) -> None:
    connect(sandbox, control, "google_calendar")
    token_calls = [r for r in sandbox.requests("google_calendar") if r["path"] == "/oauth/token"]
    assert token_calls[0]["query"]["code_verifier"] == "***"  # sent, and masked in the sandbox log
    assert token_calls[0]["query"]["client_id"] == "sbx-google.apps"


def test_xero_tenant_lookup_lands_in_config_and_account(sandbox: Sandbox, control: Control) -> None:
    record = connect(sandbox, control, "xero")
    tenant = ROUTES["xero"]["/connections"][0]["tenantId"]
    assert record.account_id == tenant
    assert record.config == {"tenant_id": tenant}
    assert record.account == {"tenant_name": "Demo Company (UK)", "tenant_type": "ORGANISATION"}
    lookup = [r for r in sandbox.requests("xero") if r["path"] == "/connections"]
    assert [r["status"] for r in lookup] == [200]


def test_docusign_userinfo_picks_the_default_account(sandbox: Sandbox, control: Control) -> None:
    record = connect(sandbox, control, "docusign")
    assert record.account_id == "ac-default"
    assert record.config == {"account_id": "ac-default", "base_uri": "https://demo.docusign.net"}
    assert record.account == {"email": "maya@example.com", "account_name": "Acme"}


def test_tiktok_sends_client_key_in_the_form_and_keeps_open_id(sandbox: Sandbox, control: Control) -> None:
    record = connect(sandbox, control, "tiktok")
    assert record.account_id == "tt-open-id-1"
    assert record.scopes == ["user.info.basic", "video.list"]
    exchange = [r for r in sandbox.requests("tiktok") if r["path"] == "/oauth/token"][0]
    assert (
        exchange["query"]["client_key"] == "awtiktokclientkey" and exchange["query"]["client_secret"] == "***"
    )


def test_notion_token_is_long_lived(sandbox: Sandbox, control: Control) -> None:
    record = connect(sandbox, control, "notion")
    assert record.account_id == "ws-1" and record.account == {"workspace_name": "Acme"}
    assert record.token_expires_at is None and "refresh_token" not in record.credentials


def test_meta_short_lived_token_is_exchanged_for_a_long_lived_one(sandbox: Sandbox, control: Control) -> None:
    record = connect(sandbox, control, "meta")
    assert record.credentials["access_token"].startswith("sbx-ll-")
    assert record.account_id == "17841400000000001" and record.account == {"name": "Acme Shop"}
    expires = datetime.fromisoformat(record.token_expires_at or "")
    assert expires > datetime.now(UTC) + timedelta(days=59)
    exchange = [r for r in sandbox.requests("meta") if r["path"] == "/v21.0/oauth/access_token"]
    assert exchange[0]["query"]["grant_type"] == "fb_exchange_token"
    assert exchange[0]["query"]["fb_exchange_token"] == "***"


def test_reconnecting_keeps_the_connection_and_replaces_the_tokens(
    sandbox: Sandbox, control: Control
) -> None:
    first = connect(sandbox, control, "xero")
    control.store.mark_synced("xero", "maya")
    second = connect(sandbox, control, "xero")
    assert second.credentials["access_token"] != first.credentials["access_token"]
    assert second.created_at == first.created_at and second.last_sync_at is not None
    assert [r.id for r in control.store.list("xero")] == ["maya"]


def test_access_denied_is_recorded_on_the_connection(sandbox: Sandbox, control: Control) -> None:
    sandbox.deny_authorization("xero")
    with pytest.raises(OAuthError, match="access_denied"):
        connect(sandbox, control, "xero")
    record = control.store.get("xero", "maya")
    assert record is not None and not record.connected
    assert "access_denied" in (record.last_error or "") and record.last_error_at
    assert not record.credentials


def test_access_denied_on_reconnect_keeps_the_working_credentials(sandbox: Sandbox, control: Control) -> None:
    good = connect(sandbox, control, "xero")
    sandbox.deny_authorization("xero")
    with pytest.raises(OAuthError):
        connect(sandbox, control, "xero")
    record = control.store.get("xero", "maya")
    assert record is not None and record.connected and record.credentials == good.credentials
    assert "access_denied" in (record.last_error or "")


def test_a_replayed_callback_is_refused_and_changes_nothing(sandbox: Sandbox, control: Control) -> None:
    spec, rewrite = code_spec("xero"), sandbox_rewrite(sandbox.url, "xero")
    with callback_server() as callback:
        url = authorize_url(
            spec, "xero", "maya", callback.url, states=control.states, env=ENV["xero"], rewrite=rewrite
        )
        browse(url)
        query = callback.hits[-1]
    kwargs = {"states": control.states, "store": control.store, "env": ENV["xero"], "rewrite": rewrite}
    first = complete(spec, "xero", query["code"], query["state"], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(OAuthStateError):
        complete(spec, "xero", query["code"], query["state"], **kwargs)  # type: ignore[arg-type]
    assert control.store.get("xero", "maya") == first


def test_a_wrong_pkce_verifier_fails_the_exchange(sandbox: Sandbox, control: Control) -> None:
    spec, rewrite = code_spec("xero"), sandbox_rewrite(sandbox.url, "xero")
    with callback_server() as callback:
        url = authorize_url(
            spec, "xero", "maya", callback.url, states=control.states, env=ENV["xero"], rewrite=rewrite
        )
        browse(url)
        query = callback.hits[-1]
    # an attacker's state for the same connector, with its own verifier: the code is bound to the first challenge
    other = control.states.issue("xero", "maya", callback.url, code_verifier="z" * 64)
    with pytest.raises(OAuthError, match="invalid_grant"):
        complete(
            spec,
            "xero",
            query["code"],
            other,
            states=control.states,
            store=control.store,
            env=ENV["xero"],
            rewrite=rewrite,
        )
    record = control.store.get("xero", "maya")
    assert record is not None and not record.connected and "invalid_grant" in (record.last_error or "")


def test_a_failing_post_connect_step_does_not_connect(
    sandbox: Sandbox, control: Control, tmp_path: Path
) -> None:
    changed = (
        code_spec("xero")
        .post_connect[0]
        .model_copy(
            update={
                "request": code_spec("xero")
                .post_connect[0]
                .request.model_copy(update={"url": "https://api.xero.com/nowhere"})
            }
        )
    )
    with pytest.raises(OAuthError, match="tenant lookup.*404"):
        connect(sandbox, control, "xero", post_connect=[changed])
    record = control.store.get("xero", "maya")
    assert record is not None and not record.connected and "tenant lookup" in (record.last_error or "")


def test_a_missing_post_connect_value_is_named(sandbox: Sandbox, control: Control) -> None:
    step = code_spec("xero").post_connect[0]
    wrong = step.model_copy(
        update={"store": step.store.model_copy(update={"account_id": "0.organisationId"})}
    )
    with pytest.raises(OAuthError, match="no value at '0.organisationId'"):
        connect(sandbox, control, "xero", post_connect=[wrong])


def test_wrong_client_secret_is_an_invalid_client_error(sandbox: Sandbox, control: Control) -> None:
    spec = code_spec("xero", client_secret="not-the-secret")
    with pytest.raises(OAuthError, match="invalid_client") as caught:
        connect(sandbox, control, "xero", client_secret="not-the-secret")
    assert "not-the-secret" not in str(caught.value)
    assert spec.client_secret == "not-the-secret"


def test_slack_keeps_the_incoming_webhook_url_encrypted_as_a_connection_secret(
    sandbox: Sandbox, control: Control
) -> None:
    record = connect(sandbox, control, "slack")
    hook = "https://hooks.slack.com/services/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"
    assert record.connected and record.account_id == "T0SANDBOX1"
    assert record.account == {"team": "Acme Studio", "channel": "#deals"}
    assert record.credentials["incoming_webhook_url"] == hook
    assert record.token_expires_at is None  # bot tokens do not expire
    assert hook not in control.raw_rows() and hook not in repr(record)
    tokens = TokenSet.from_credentials(record.credentials, None, [])
    assert tokens.extra == {"incoming_webhook_url": hook}
    refreshed = TokenSet(access_token="xoxb-new").keeping(tokens)  # a refresh does not repeat it
    assert refreshed.credentials()["incoming_webhook_url"] == hook and hook not in repr(refreshed)

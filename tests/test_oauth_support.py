"""Helpers for the OAuth tests: provider `auth:` blocks as YAML, a sandbox serving them, a control
store, a local callback listener, and a settable clock. This module holds no tests.

The YAML blocks are the shapes connector authors write; they follow /work/shared/providers/*.md.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import yaml
from cryptography.fernet import Fernet
from pydantic import TypeAdapter

from engine.control import ConnectionRecord, ConnectionStore, ControlDB, Vault
from engine.oauth import (
    OAuth2AuthCode,
    OAuth2ClientCredentials,
    OAuthStates,
    SandboxOAuth,
    authorize_url,
    complete,
    sandbox_rewrite,
)
from engine.sandbox import Sandbox
from engine.spec.models import ConnectorSpec

from .conftest import POSTGRES_URL as PG
from .conftest import postgres_admin

ROOT = Path(__file__).resolve().parent.parent
ROOT_IMPORT_CHECK = (
    "import sys, engine.oauth; "
    "bad = [m for m in sys.modules if m.startswith('engine.spec') or m in ('engine.auth', 'engine.http')]; "
    "assert not bad, bad"
)
AUTH = TypeAdapter(OAuth2AuthCode | OAuth2ClientCredentials)

GOOGLE = """
type: oauth2
authorize_url: https://accounts.google.com/o/oauth2/v2/auth
token_url: https://oauth2.googleapis.com/token
client_id: "{{ env.GOOGLE_CLIENT_ID }}"
client_secret: "{{ env.GOOGLE_CLIENT_SECRET }}"
token_auth_method: client_secret_post
scopes: [https://www.googleapis.com/auth/calendar.readonly]
pkce: S256
extra_authorize_params: {access_type: offline, prompt: consent}
post_connect:
  - name: account lookup
    request: {url: https://www.googleapis.com/calendar/v3/calendars/primary}
    store: {account_id: id, account: {email: id, time_zone: timeZone}}
"""

XERO = """
type: oauth2
authorize_url: https://login.xero.com/identity/connect/authorize
token_url: https://identity.xero.com/connect/token
client_id: "{{ env.XERO_CLIENT_ID }}"
client_secret: "{{ env.XERO_CLIENT_SECRET }}"
scopes: [openid, profile, email, offline_access, accounting.transactions.read, accounting.contacts.read]
pkce: S256
refresh_buffer_seconds: 300
refresh_token_rotates: true
post_connect:
  - name: tenant lookup
    request: {url: https://api.xero.com/connections}
    store:
      account_id: 0.tenantId
      config: {tenant_id: 0.tenantId}
      account: {tenant_name: 0.tenantName, tenant_type: 0.tenantType}
"""

DOCUSIGN = """
type: oauth2
authorize_url: https://account-d.docusign.com/oauth/auth
token_url: https://account-d.docusign.com/oauth/token
client_id: "{{ env.DOCUSIGN_INTEGRATION_KEY }}"
client_secret: "{{ env.DOCUSIGN_SECRET_KEY }}"
scopes: [signature, extended]
refresh_buffer_seconds: 300
refresh_token_rotates: true
post_connect:
  - name: user info
    request: {url: https://account-d.docusign.com/oauth/userinfo}
    store:
      account_id: "accounts[is_default=true].account_id"
      config:
        account_id: "accounts[is_default=true].account_id"
        base_uri: "accounts[is_default=true].base_uri"
      account: {email: email, account_name: "accounts[is_default=true].account_name"}
"""

TIKTOK = """
type: oauth2
authorize_url: https://www.tiktok.com/v2/auth/authorize/
token_url: https://open.tiktokapis.com/v2/oauth/token/
client_id: "{{ env.TIKTOK_CLIENT_KEY }}"
client_secret: "{{ env.TIKTOK_CLIENT_SECRET }}"
param_names: {client_id: client_key}
token_auth_method: client_secret_post
scopes: [user.info.basic, video.list]
scope_separator: ","
refresh_token_rotates: true
token: {account_id: open_id}
"""

NOTION = """
type: oauth2
authorize_url: https://api.notion.com/v1/oauth/authorize
token_url: https://api.notion.com/v1/oauth/token
client_id: "{{ env.NOTION_CLIENT_ID }}"
client_secret: "{{ env.NOTION_CLIENT_SECRET }}"
extra_authorize_params: {owner: user}
long_lived: true
token: {account_id: workspace_id, account: {workspace_name: workspace_name}}
"""

META = """
type: oauth2
authorize_url: https://www.facebook.com/v21.0/dialog/oauth
token_url: https://graph.facebook.com/v21.0/oauth/access_token
client_id: "{{ env.META_APP_ID }}"
client_secret: "{{ env.META_APP_SECRET }}"
token_auth_method: client_secret_post
scopes: [instagram_basic, pages_show_list, pages_read_engagement]
scope_separator: ","
post_connect:
  - name: long-lived token
    request:
      url: https://graph.facebook.com/v21.0/oauth/access_token
      bearer: false
      params:
        grant_type: fb_exchange_token
        client_id: "{{ env.META_APP_ID }}"
        client_secret: "{{ env.META_APP_SECRET }}"
        fb_exchange_token: "{{ token.access_token }}"
    store: {access_token: access_token, expires_in: expires_in}
  - name: account id
    request: {url: https://graph.facebook.com/v21.0/me, params: {fields: "id,name"}}
    store: {account_id: id, account: {name: name}}
"""

PAYPAL = """
type: client_credentials
token_url: https://api-m.paypal.com/v1/oauth2/token
client_id: "{{ env.PAYPAL_CLIENT_ID }}"
client_secret: "{{ env.PAYPAL_CLIENT_SECRET }}"
token_auth_method: client_secret_basic
refresh_buffer_seconds: 300
"""

# Slack OAuth v2 (https://api.slack.com/authentication/oauth-v2): scopes comma-separated, bot
# tokens do not expire, `incoming-webhook` adds `incoming_webhook.url` to the token response: the
# URL is the credential messages are posted to.
SLACK = """
type: oauth2
authorize_url: https://slack.com/oauth/v2/authorize
token_url: https://slack.com/api/oauth.v2.access
client_id: "{{ env.SLACK_CLIENT_ID }}"
client_secret: "{{ env.SLACK_CLIENT_SECRET }}"
scopes: [incoming-webhook, chat:write]
scope_separator: ","
long_lived: true
token:
  account_id: team.id
  account: {team: team.name, channel: incoming_webhook.channel}
  credentials: {incoming_webhook_url: incoming_webhook.url}
"""

STYLES = {
    "google_calendar": GOOGLE,
    "xero": XERO,
    "docusign": DOCUSIGN,
    "tiktok": TIKTOK,
    "notion": NOTION,
    "meta": META,
    "paypal": PAYPAL,
    "slack": SLACK,
}

ENV = {
    "google_calendar": {
        "GOOGLE_CLIENT_ID": "sbx-google.apps",
        "GOOGLE_CLIENT_SECRET": "GOCSPX-sandbox-secret",
    },
    "xero": {"XERO_CLIENT_ID": "xero-sandbox-client", "XERO_CLIENT_SECRET": "xero-sandbox-secret"},
    "docusign": {"DOCUSIGN_INTEGRATION_KEY": "ds-integration-key", "DOCUSIGN_SECRET_KEY": "ds-secret-key"},
    "tiktok": {"TIKTOK_CLIENT_KEY": "awtiktokclientkey", "TIKTOK_CLIENT_SECRET": "tiktok-sandbox-secret"},
    "notion": {"NOTION_CLIENT_ID": "notion-client-id", "NOTION_CLIENT_SECRET": "secret_notion_sandbox"},
    "meta": {"META_APP_ID": "1234567890", "META_APP_SECRET": "meta-app-secret"},
    "paypal": {"PAYPAL_CLIENT_ID": "AaPayPalSandboxClient", "PAYPAL_CLIENT_SECRET": "EEpaypalsandboxsecret"},
    "slack": {"SLACK_CLIENT_ID": "4829572.sandbox", "SLACK_CLIENT_SECRET": "slack-sandbox-secret"},
}

# Routes each sandboxed provider serves: post-connect lookups and one data route.
ROUTES: dict[str, dict[str, Any]] = {
    "google_calendar": {
        "/calendar/v3/calendars/primary": {
            "id": "maya@example.com",
            "summary": "Maya",
            "timeZone": "Europe/Paris",
        },
        "/calendar/v3/users/me/settings/timezone": {"kind": "calendar#setting", "value": "Europe/Paris"},
    },
    "xero": {
        "/connections": [
            {
                "id": "e1eede29-f875-4a5d-8470-17f6a29a88b1",
                "tenantId": "70784a63-d24b-46a9-a4db-0e70a274b056",
                "tenantType": "ORGANISATION",
                "tenantName": "Demo Company (UK)",
            }
        ],
        "/api.xro/2.0/Organisation": {"Organisations": [{"Name": "Demo Company (UK)"}]},
    },
    "docusign": {
        "/oauth/userinfo": {
            "sub": "4799e5e9-1559-4915-9862-cf4713bbcace",
            "email": "maya@example.com",
            "accounts": [
                {
                    "account_id": "ac-other",
                    "is_default": False,
                    "account_name": "Old",
                    "base_uri": "https://na1.docusign.net",
                },
                {
                    "account_id": "ac-default",
                    "is_default": True,
                    "account_name": "Acme",
                    "base_uri": "https://demo.docusign.net",
                },
            ],
        },
        "/restapi/v2.1/accounts/ac-default/envelopes": {"envelopes": []},
    },
    "tiktok": {"/v2/user/info/": {"data": {"user": {"open_id": "tt-open-id-1"}}}},
    "notion": {"/v1/users/me": {"object": "user", "type": "bot"}},
    "meta": {"/v21.0/me": {"id": "17841400000000001", "name": "Acme Shop"}},
    "paypal": {"/v1/invoicing/invoices": {"items": [], "total_items": 0}},
    "slack": {"/api/auth.test": {"ok": True, "team_id": "T0SANDBOX1", "team": "Acme Studio"}},
}

SETTINGS = {
    "tiktok": SandboxOAuth(token_extra={"open_id": "tt-open-id-1"}),
    "notion": SandboxOAuth(token_extra={"workspace_id": "ws-1", "workspace_name": "Acme", "bot_id": "bot-1"}),
    "meta": SandboxOAuth(exchange_paths=["/v21.0/oauth/access_token"]),
    "slack": SandboxOAuth(
        token_extra={
            "ok": True,
            "token_type": "bot",
            "team": {"id": "T0SANDBOX1", "name": "Acme Studio"},
            "incoming_webhook": {
                "channel": "#deals",
                "channel_id": "C0SANDBOX2",
                "configuration_url": "https://acme.slack.com/services/B0SANDBOX3",
                "url": "https://hooks.slack.com/services/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",
            },
        }
    ),
}


def auth_spec(name: str) -> OAuth2AuthCode | OAuth2ClientCredentials:
    return AUTH.validate_python(yaml.safe_load(STYLES[name]))


def code_spec(name: str, **changes: Any) -> OAuth2AuthCode:
    spec = auth_spec(name)
    assert isinstance(spec, OAuth2AuthCode)
    return spec.model_copy(update=changes) if changes else spec


def credentials_spec(name: str, **changes: Any) -> OAuth2ClientCredentials:
    spec = auth_spec(name)
    assert isinstance(spec, OAuth2ClientCredentials)
    return spec.model_copy(update=changes) if changes else spec


def stored(control: Control, name: str, connection_id: str = "maya") -> ConnectionRecord:
    record = control.store.get(name, connection_id)
    assert record is not None, f"no stored connection {name}/{connection_id}"
    return record


def write_connector(
    folder: Path, name: str, require_headers: dict[str, str] | None = None
) -> tuple[ConnectorSpec, Path]:
    """A connector with `auth: none` for now (the lead adds the OAuth kinds to the spec union);
    the sandbox's OAuth server is switched on with `Sandbox.enable_oauth`."""
    routes = []
    for index, (path, body) in enumerate(ROUTES[name].items()):
        fixture = f"fixtures/{name}/{index}.json"
        (folder / fixture).parent.mkdir(parents=True, exist_ok=True)
        (folder / fixture).write_text(json.dumps(body))
        routes.append({"path": path, "protocol": "single", "fixture": fixture})
    data = {
        "name": name,
        "title": name.title(),
        "docs": "https://example.com/docs",
        "base_url": "https://api.example.com",
        "streams": {"all": {"request": {"path": "/x"}}},
        "sandbox": {"env": ENV[name], "routes": routes, "require_headers": require_headers or {}},
    }
    file = folder / f"{name}.yaml"
    file.write_text(yaml.safe_dump(data))
    return ConnectorSpec.model_validate(data), file


@contextmanager
def oauth_sandbox(folder: Path, ttl: float = 3600) -> Iterator[Sandbox]:
    """Every provider style above, served over HTTP with its OAuth server on."""
    connectors = [write_connector(folder, name) for name in STYLES]
    with Sandbox(connectors) as sandbox:
        for name in STYLES:
            settings = SETTINGS.get(name, SandboxOAuth())
            sandbox.enable_oauth(name, auth_spec(name), settings.model_copy(update={"access_token_ttl": ttl}))
        yield sandbox


@dataclass
class Clock:
    """A settable UTC clock: `clock()` is now; `clock.advance(seconds)`."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Control:
    """A control store with its vault, connections and states."""

    db: ControlDB
    vault: Vault
    store: ConnectionStore
    states: OAuthStates
    key: str

    def raw_rows(self) -> str:
        """Every stored value of the OAuth and connection tables, as text (to search for secrets)."""
        rows = [
            self.db.query(f"SELECT * FROM {table}") for table in ("connections", "oauth_states", "oauth_keys")
        ]
        return json.dumps(rows, default=str)


def control_at(url: str, key: str | None = None) -> Control:
    key = key or Fernet.generate_key().decode()
    db = ControlDB(url)
    vault = Vault([key])
    return Control(db, vault, ConnectionStore(db, vault), OAuthStates(db, vault), key)


def sqlite_control(folder: Path) -> Iterator[Control]:
    """For a module's `control` fixture: `yield from sqlite_control(tmp_path)`."""
    made = control_at(f"sqlite:///{folder}/control.db")
    yield made
    made.db.close()


@contextmanager
def postgres_control() -> Iterator[Control]:
    """A control store in a fresh Postgres schema (skipped without Postgres, failed in CI)."""
    schema = f"oauth_{uuid.uuid4().hex[:8]}"
    admin = postgres_admin()
    admin.execute(f"CREATE SCHEMA {schema}")
    made = control_at(f"{PG}?options=-csearch_path%3D{schema}")
    try:
        yield made
    finally:
        made.db.close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


class _Callback(BaseHTTPRequestHandler):
    server: CallbackServer

    def do_GET(self) -> None:
        self.server.hits.append(dict(parse_qsl(urlsplit(self.path).query)))
        body = b"<html><body>You can close this window.</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CallbackServer(ThreadingHTTPServer):
    """What `manifold connect` runs: a local listener the provider redirects the browser to."""

    hits: list[dict[str, str]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/callback"


@contextmanager
def callback_server() -> Iterator[CallbackServer]:
    server = CallbackServer(("127.0.0.1", 0), _Callback)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def browse(url: str) -> httpx.Response:
    """The user's browser: open the authorize URL and follow the redirect to the callback."""
    return httpx.get(url, follow_redirects=True, timeout=10)


def connect(
    sandbox: Sandbox, control: Control, name: str, connection_id: str = "maya", **spec_changes: Any
) -> ConnectionRecord:
    """The whole connect over HTTP: authorize -> provider redirect -> callback -> complete."""
    spec = code_spec(name, **spec_changes)
    rewrite = sandbox_rewrite(sandbox.url, name)
    with callback_server() as callback:
        url = authorize_url(
            spec, name, connection_id, callback.url, states=control.states, env=ENV[name], rewrite=rewrite
        )
        assert browse(url).status_code == 200
        query = callback.hits[-1]
    return complete(
        spec,
        name,
        query.get("code"),
        query["state"],
        states=control.states,
        store=control.store,
        env=ENV[name],
        error=query.get("error"),
        error_description=query.get("error_description"),
        redirect_uri=callback.url,
        rewrite=rewrite,
    )

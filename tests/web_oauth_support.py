"""Helpers for the web OAuth tests: connectors with OAuth auth beside the repo's Stripe,
`manifold serve` in sandbox mode with the sandbox as every provider, a browser that follows
the redirects, and the CLI run as a subprocess. This module holds no tests.

    connectors = write_connectors(tmp_path / "connectors")
    with serve_with_sandbox(tmp_path, connectors) as stack:
        page = stack.connect("maya")   # authorize -> sandbox provider -> /oauth/.../callback
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from engine.control import ConnectionRecord, ConnectionStore
from engine.oauth import sandbox_rewrite
from engine.runner import sandbox_base_url, sandbox_environ
from engine.runtime import Connection, ConnectorRuntime
from engine.sandbox import Sandbox
from engine.spec.loader import LoadedConnector, load_connector
from engine.web.security import ADMIN_COOKIE

from .test_oauth_support import ENV, GOOGLE, XERO
from .web_support import ADMIN, RunningService, running_service, settings_for

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"
CALENDAR = "google_calendar"
ACCOUNT = "maya@acme-studio.example"
EVENTS_PATH = "/calendar/v3/calendars/primary/events"
EVENTS = [
    {
        "kind": "calendar#event",
        "id": f"evt{i:03d}",
        "status": "confirmed",
        "summary": f"Shoot {i}",
        "start": {"dateTime": "2025-11-03T10:00:00Z"},
        "end": {"dateTime": "2025-11-03T11:00:00Z"},
        "updated": "2025-11-01T09:00:00.000Z",
    }
    for i in range(5)
]
PAGES = 3  # five events, two a page


def write_connectors(
    folder: Path,
    *,
    flag: str | None = None,
    sandbox_oauth: dict[str, Any] | None = None,
    require_headers: dict[str, str] | None = None,
) -> Path:
    """The repo's connectors (Stripe: `auth: bearer`), with google_calendar replaced by an
    OAuth2 one (Google's real auth block, PKCE, an account lookup after connecting) and a
    second OAuth connector, xero. Returns the folder."""
    shutil.copytree(ROOT / "connectors", folder)
    fixtures = folder / "fixtures" / "calendar_oauth"
    fixtures.mkdir(parents=True)
    (fixtures / "events.json").write_text(json.dumps({"primary": EVENTS}))
    (fixtures / "primary.json").write_text(json.dumps({"id": ACCOUNT, "timeZone": "UTC"}))
    sandbox: dict[str, Any] = {
        "env": ENV[CALENDAR],
        "oauth": {"access_token_ttl": 3600, **(sandbox_oauth or {})},
        "routes": [
            {
                "path": "/calendar/v3/calendars/{calendarId}/events",
                "protocol": "google_page_token",
                "fixture": "fixtures/calendar_oauth/events.json",
                "options": {"kind": "calendar#events"},
            },
            {
                "path": "/calendar/v3/calendars/primary",
                "protocol": "single",
                "fixture": "fixtures/calendar_oauth/primary.json",
            },
        ],
    }
    if require_headers:
        sandbox["require_headers"] = require_headers
    calendar: dict[str, Any] = {
        "name": CALENDAR,
        "title": "Google Calendar",
        "docs": "https://developers.google.com/workspace/calendar/api/v3/reference",
        "env": ["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"],
        "base_url": "https://www.googleapis.com",
        "auth": yaml.safe_load(GOOGLE),
        "http": {"retry": {"max_attempts": 2, "backoff": 0}},
        "streams": {
            "events": {
                "request": {"path": EVENTS_PATH, "params": {"maxResults": 2}},
                "records": "items",
                "paging": {"type": "page_token"},
                "primary_key": ["id"],
                "into": "calendar_events",
                "fields": {"id": "id", "calendar_id": {"value": "primary"}, "title": "summary"},
            }
        },
        "sandbox": sandbox,
    }
    if flag:
        calendar["flag"] = flag
    (folder / f"{CALENDAR}.yaml").write_text(SCHEMA_LINE + yaml.safe_dump(calendar))
    (folder / "fixtures" / "xero_oauth.json").write_text(
        json.dumps([{"tenantId": "t-1", "tenantName": "Acme", "tenantType": "ORGANISATION"}])
    )
    xero = {
        "name": "xero",
        "title": "Xero",
        "docs": "https://developer.xero.com/documentation/api/accounting/overview",
        "env": ["XERO_CLIENT_ID", "XERO_CLIENT_SECRET"],
        "base_url": "https://api.xero.com",
        "auth": yaml.safe_load(XERO),
        "streams": {"all": {"request": {"path": "/api.xro/2.0/Invoices"}}},
        "sandbox": {
            "env": ENV["xero"],
            "routes": [{"path": "/connections", "protocol": "single", "fixture": "fixtures/xero_oauth.json"}],
        },
    }
    (folder / "xero.yaml").write_text(SCHEMA_LINE + yaml.safe_dump(xero))
    return folder


@dataclass
class Stack:
    """The sandbox (every provider), the service talking to it, and the folder they serve."""

    sandbox: Sandbox
    running: RunningService
    connectors: Path

    @property
    def store(self) -> ConnectionStore:
        return self.running.service.connections

    def record(self, connection_id: str = "maya", connector: str = CALENDAR) -> ConnectionRecord:
        found = self.store.get(connector, connection_id)
        assert found is not None, f"no stored connection {connector}/{connection_id}"
        return found

    def rows(self) -> list[dict[str, Any]]:
        """The connections table as stored: what a change or a leak would show in."""
        return self.running.service.db.query("SELECT * FROM connections ORDER BY connector, id")

    def loaded(self, connector: str = CALENDAR) -> LoadedConnector:
        return load_connector(self.connectors / f"{connector}.yaml", check_env=False)

    def browser(self, *, admin_cookie: bool = False) -> httpx.Client:
        """A user's browser: follows redirects; on /admin it carries the admin cookie."""
        cookies = {ADMIN_COOKIE: ADMIN} if admin_cookie else None
        return httpx.Client(cookies=cookies, follow_redirects=True, timeout=10)

    def authorize(self, connector: str = CALENDAR, **params: str) -> str:
        """The provider URL the service redirects to (asked with the admin bearer token)."""
        with self.running.admin() as admin:
            answer = admin.get(f"/oauth/{connector}/authorize", params=params)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    def connect(self, connection_id: str = "maya", **params: str) -> httpx.Response:
        """The whole connect from the admin page: authorize -> provider -> callback page."""
        with self.browser(admin_cookie=True) as browser:
            return browser.get(
                f"{self.running.url}/oauth/{CALENDAR}/authorize",
                params={"connection_id": connection_id, **params},
            )

    def runtime(
        self, connection_id: str = "maya", transport: httpx.BaseTransport | None = None
    ) -> ConnectorRuntime:
        """What `build_runtime(..., sandbox_url=)` builds, with the HTTP transport seam open."""
        loaded = self.loaded()
        url = self.sandbox.url
        sandbox_config = loaded.spec.sandbox.config if loaded.spec.sandbox else {}
        return ConnectorRuntime(
            loaded,
            Connection(connection_id, dict(sandbox_config)),
            environ=sandbox_environ(loaded),
            rewrite_base_url=lambda real: sandbox_base_url(url, CALENDAR, real),
            oauth_rewrite=sandbox_rewrite(url, CALENDAR),
            transport=transport,
        )

    def cli(self, *args: str) -> subprocess.Popen[str]:
        """Start the real `manifold` CLI against this stack's control store (wide, so nothing
        wraps); `finish(process)` waits for it. Several may run at once."""
        settings = self.running.service.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFOLD_")}
        env.update(
            {
                "MANIFOLD_SECRET_KEY": os.environ["MANIFOLD_SECRET_KEY"],
                "MANIFOLD_CONTROL_URL": settings.control_url or "",
                "MANIFOLD_CONNECTORS": str(self.connectors),
                "COLUMNS": "1000",
            }
        )
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", *args],
            cwd=self.connectors.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@contextmanager
def serve_with_sandbox(folder: Path, connectors: Path) -> Iterator[Stack]:
    """Needs MANIFOLD_SECRET_KEY (`secret_key`) and MANIFOLD_CONTROL_URL set to
    `sqlite:///{folder}/control.db`, so in-process syncs read the service's store."""
    specs = []
    for file in sorted(connectors.glob("*.yaml")):
        loaded = load_connector(file, check_env=False)
        if loaded.spec.sandbox is not None:
            specs.append((loaded.spec, file))
    with (
        Sandbox(specs) as sandbox,
        running_service(settings_for(folder, connectors, sandbox_url=sandbox.url)) as running,
    ):
        yield Stack(sandbox, running, connectors)


class ExpiresAfterFirstPage(httpx.BaseTransport):
    """The provider's clock running out mid-sync: right after the first page of events is
    served, every access token the sandbox issued expires."""

    def __init__(self, sandbox: Sandbox, connector: str = CALENDAR):
        self.sandbox = sandbox
        self.connector = connector
        self.inner = httpx.HTTPTransport()
        self.fired = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not self.fired and request.url.path.endswith(EVENTS_PATH) and response.status_code == 200:
            self.fired = True
            self.sandbox.expire_access_tokens(self.connector)
        return response

    def close(self) -> None:
        self.inner.close()


class Outputs:
    """Everything a flow showed, by label, as text: to search for a secret afterwards."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def __getitem__(self, label: str) -> str:
        return self.texts[label]

    def keep(self, label: str, *values: Any) -> None:
        self.texts[label] = "\n".join(v if isinstance(v, str) else repr(v) for v in values)

    def error(self, label: str, exc: BaseException) -> None:
        """An exception as a user could meet it: message, repr, and the whole traceback."""
        self.keep(label, str(exc), repr(exc), "".join(traceback.format_exception(exc)))

    def showing(self, secret: str) -> list[str]:
        """Labels of the outputs showing the secret, or its first 16 characters (cut-off lines)."""
        return [label for label, text in self.texts.items() if secret in text or secret[:16] in text]

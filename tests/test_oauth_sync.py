"""An OAuth2 connector end to end: connect over HTTP, sync, token expires -> refresh, grant revoked -> disconnected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from engine.control import ConnectionStore, ControlDB, Vault
from engine.destinations.duckdb import DuckDBDestination
from engine.errors import ConfigError
from engine.oauth import OAuthStates, authorize_url, complete, sandbox_rewrite
from engine.runner import build_runtime
from engine.sandbox import Sandbox
from engine.spec.loader import load_connector
from engine.sync import sync_connector

from .test_oauth_support import ENV, GOOGLE, browse, callback_server

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


def write_spec(folder: Path) -> Path:
    (folder / "fixtures").mkdir(parents=True)
    (folder / "fixtures" / "events.json").write_text(json.dumps({"primary": EVENTS}))
    (folder / "fixtures" / "primary.json").write_text(
        json.dumps({"id": "maya@acme-studio.example", "timeZone": "UTC"})
    )
    data = {
        "name": "google_calendar",
        "title": "Google Calendar",
        "docs": "https://developers.google.com/workspace/calendar/api/v3/reference",
        "env": ["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"],
        "base_url": "https://www.googleapis.com",
        "auth": yaml.safe_load(GOOGLE),
        "http": {"retry": {"max_attempts": 2, "backoff": 0}},
        "streams": {
            "events": {
                "request": {"path": "/calendar/v3/calendars/primary/events", "params": {"maxResults": 2}},
                "records": "items",
                "paging": {"type": "page_token"},
                "into": "calendar_events",
                "fields": {"id": "id", "calendar_id": {"value": "primary"}, "title": "summary"},
            }
        },
        "sandbox": {
            "env": ENV["google_calendar"],
            "oauth": {"access_token_ttl": 3600},
            "routes": [
                {
                    "path": "/calendar/v3/calendars/{calendarId}/events",
                    "protocol": "google_page_token",
                    "fixture": "fixtures/events.json",
                    "options": {"kind": "calendar#events"},
                },
                {
                    "path": "/calendar/v3/calendars/primary",
                    "protocol": "single",
                    "fixture": "fixtures/primary.json",
                },
            ],
        },
    }
    path = folder / "google_calendar.yaml"
    path.write_text(
        "# yaml-language-server: $schema=../schemas/connector.schema.json\n" + yaml.safe_dump(data)
    )
    return path


@pytest.fixture
def control(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConnectionStore:
    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path}/control.db"
    monkeypatch.setenv("MANIFOLD_CONTROL_URL", url)
    monkeypatch.setenv("MANIFOLD_SECRET_KEY", key)
    return ConnectionStore(ControlDB(url), Vault([key]))


def test_connect_sync_refresh_and_revoke(tmp_path: Path, control: ConnectionStore) -> None:
    path = write_spec(tmp_path / "connectors")
    loaded = load_connector(path, check_env=False)
    assert loaded.spec.auth.type == "oauth2"
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    with Sandbox([(loaded.spec, path)]) as sandbox:
        env = ENV["google_calendar"]
        rewrite = sandbox_rewrite(sandbox.url, "google_calendar")
        states = OAuthStates(control.db, control.vault)
        with callback_server() as callback:
            url = authorize_url(
                loaded.spec.auth,
                "google_calendar",
                "maya",
                callback.url,
                states=states,
                env=env,
                rewrite=rewrite,
            )
            assert browse(url).status_code == 200
            query = callback.hits[-1]
        record = complete(
            loaded.spec.auth,
            "google_calendar",
            query["code"],
            query["state"],
            states=states,
            store=control,
            env=env,
            redirect_uri=callback.url,
            rewrite=rewrite,
        )
        assert record.connected and record.account_id == "maya@acme-studio.example"

        def sync() -> str | None:
            runtime = build_runtime(loaded, connection_id="maya", sandbox_url=sandbox.url)
            try:
                return sync_connector(runtime, destination)[0].error
            finally:
                runtime.close()

        assert sync() is None
        assert destination.connection.execute("SELECT count(*) FROM calendar_events").fetchone() == (5,)
        first_token = control.get("google_calendar", "maya").credentials["access_token"]  # type: ignore[union-attr]

        sandbox.expire_access_tokens("google_calendar")
        assert sync() is None  # 401 -> refresh once -> retried
        refreshed = control.get("google_calendar", "maya")
        assert refreshed is not None and refreshed.credentials["access_token"] != first_token

        sandbox.revoke_grants("google_calendar")
        error = sync()
        assert error is not None and "invalid_grant" in error
        assert first_token not in error
        broken = control.get("google_calendar", "maya")
        assert broken is not None and not broken.connected and broken.last_error_at
        sandbox.clear_requests()
        with pytest.raises(ConfigError, match="disconnected .* reconnect: manifold connect google_calendar"):
            build_runtime(loaded, connection_id="maya", sandbox_url=sandbox.url)
        assert sandbox.requests("google_calendar") == []


def test_dagster_partitions_are_the_stored_connections(tmp_path: Path, control: ConnectionStore) -> None:
    from engine.control import ConnectionRecord
    from engine.orchestration import known_connections

    loaded = load_connector(write_spec(tmp_path / "connectors"), check_env=False)
    assert known_connections(loaded.spec) == []
    for user in ("maya", "sam"):
        control.save(ConnectionRecord("google_calendar", user, connected=True))
    assert known_connections(loaded.spec) == ["maya", "sam"]


def test_manifold_connect_cli_stores_the_connection(tmp_path: Path, control: ConnectionStore) -> None:
    import os
    import subprocess
    import sys

    import httpx

    folder = tmp_path / "connectors"
    path = write_spec(folder)
    loaded = load_connector(path, check_env=False)
    with Sandbox([(loaded.spec, path)]) as sandbox:
        env = {**os.environ, "MANIFOLD_CONNECTORS": str(folder)}
        root = Path(__file__).resolve().parent.parent
        command = [
            sys.executable,
            "-m",
            "engine.cli",
            "connect",
            "google_calendar",
            "--connection",
            "maya",
            "--sandbox-url",
            sandbox.url,
            "--timeout",
            "30",
        ]
        process = subprocess.Popen(
            command, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("Open this URL to connect Google Calendar (maya)")
            url = process.stdout.readline().strip()
            page = httpx.get(url, follow_redirects=True, timeout=10)
            assert page.status_code == 200 and "Connected" in page.text
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
        assert process.returncode == 0, err
        assert "connected google_calendar/maya (account maya@acme-studio.example)" in out
        record = control.get("google_calendar", "maya")
        assert record is not None and record.connected and record.credentials["access_token"] not in out + err


def test_connect_refuses_a_disabled_connector(tmp_path: Path, control: ConnectionStore) -> None:

    folder = tmp_path / "connectors"
    path = write_spec(folder)
    path.write_text(
        path.read_text().replace("name: google_calendar\n", "name: google_calendar\nflag: CAL_ON\n")
    )
    env = {k: v for k, v in os.environ.items() if k != "CAL_ON"} | {"MANIFOLD_CONNECTORS": str(folder)}
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "engine.cli", "connect", "google_calendar", "--connection", "maya"]
    result = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "google_calendar is disabled: set CAL_ON=true" in result.stderr
    assert control.get("google_calendar", "maya") is None

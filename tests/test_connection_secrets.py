"""Connections by supplied secrets (`connection_secrets`, e.g. Slack's incoming webhook URL):
connected from the CLI without echoing, or by the platform over HTTP; stored encrypted; read by
templates as `secrets.NAME`; a sync needs its connection."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from engine.control import ConnectionStore, ControlDB, Vault

from .conftest import ROOT, Workspace
from .web_support import RunningService, running_service, settings_for

TOKEN = "hk_live_5mJq9RzT2pWv8xYc"  # what the user pastes; the sandbox checks it arrives


def add_connector(folder: Path) -> None:
    """A Stripe-shaped customers list whose API key is each connection's own secret."""
    (folder / "fixtures" / "hooky").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "connectors/fixtures/stripe/customers.json", folder / "fixtures/hooky/customers.json")
    spec = {
        "name": "hooky",
        "title": "Hooky",
        "docs": "https://example.com/docs",
        "base_url": "https://api.hooky.example",
        "connection_secrets": ["api_key"],
        "auth": {"type": "bearer", "token": "{{ secrets.api_key }}"},
        "streams": {
            "customers": {
                "request": {"path": "/v1/customers", "params": {"limit": 2}},
                "records": "data",
                "paging": {
                    "type": "last_record_cursor",
                    "param": "starting_after",
                    "field": "id",
                    "more": "has_more",
                },
                "into": "customers",
                "fields": {"id": "id", "name": "name", "email": "email"},
            }
        },
        "sandbox": {
            "config": {},
            "require_headers": {"Authorization": f"Bearer {TOKEN}"},
            "routes": [
                {
                    "path": "/v1/customers",
                    "protocol": "stripe_list",
                    "fixture": "fixtures/hooky/customers.json",
                }
            ],
        },
    }
    schema_line = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"
    (folder / "hooky.yaml").write_text(schema_line + yaml.safe_dump(spec))


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    add_connector(workspace.connectors)
    workspace.start_sandbox()
    return workspace


def _run(space: Workspace, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"], COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_connect_by_a_pasted_secret_then_sync_with_it(space: Workspace) -> None:
    assert space.sandbox is not None
    unconnected = _run(space, "sync", "hooky", "--connection", "acme", "--sandbox-url", space.sandbox.url)
    assert unconnected.returncode == 1
    assert "no connection 'acme'; connect it first" in unconnected.stderr

    connected = _run(space, "connect", "hooky", "--connection", "acme", stdin=TOKEN + "\n")
    assert connected.returncode == 0, connected.stderr
    assert "connected hooky/acme" in connected.stdout
    assert TOKEN not in connected.stdout + connected.stderr  # the prompt does not echo

    synced = _run(space, "sync", "hooky", "--connection", "acme", "--sandbox-url", space.sandbox.url)
    assert synced.returncode == 0, synced.stderr
    assert space.query("SELECT count(*) FROM customers WHERE _connection_id = 'acme'") == [(3,)]
    listed = _run(space, "connections", "hooky")
    assert "acme" in listed.stdout and TOKEN not in listed.stdout
    db = ControlDB(os.environ["MANIFOLD_CONTROL_URL"])
    assert TOKEN not in str(db.query("SELECT * FROM connections"))  # encrypted at rest


@pytest.fixture
def running(space: Workspace, tmp_path: Path) -> Iterator[RunningService]:
    control_url = os.environ["MANIFOLD_CONTROL_URL"]
    with running_service(settings_for(tmp_path, space.connectors, control_url=control_url)) as service:
        yield service


def test_the_platform_supplies_secrets_over_http(running: RunningService, secret_key: str) -> None:
    with running.api() as api:
        put = api.put("/api/connections/hooky/bob", json={"secrets": {"api_key": TOKEN}, "owner_id": "u-7"})
        assert put.status_code == 200, put.text
        assert put.json() == {"connector": "hooky", "id": "bob", "connected": True}
        assert TOKEN not in put.text
        assert api.put("/api/connections/hooky/bob", json={"secrets": {"nope": "x"}}).status_code == 400
        assert api.put("/api/connections/hooky/bob", json={"secrets": {"api_key": " "}}).status_code == 400
        assert api.put("/api/connections/stripe/bob", json={"secrets": {"api_key": "x"}}).status_code == 404
        assert api.put("/api/connections/hooky/..%2Fx", json={"secrets": {"api_key": "x"}}).status_code in (
            400,
            404,
        )
    store = ConnectionStore(running.service.db, Vault())
    record = store.get("hooky", "bob")
    assert record is not None and record.credentials == {"api_key": TOKEN} and record.owner_id == "u-7"
    with running.client() as anonymous:
        assert (
            anonymous.put("/api/connections/hooky/bob", json={"secrets": {"api_key": "x"}}).status_code == 401
        )
    with running.admin() as admin:
        diagnostics = admin.get("/api/admin/diagnostics/integrations").text
        assert '"bob"' in diagnostics and TOKEN not in diagnostics
    with running.api() as api:
        gone = api.delete("/api/connections/hooky/bob")
        assert gone.status_code == 200 and gone.json()["connected"] is False
        assert api.delete("/api/connections/hooky/nobody").status_code == 404
    after = store.get("hooky", "bob")
    assert after is not None and not after.connected and after.credentials == {}

"""Notion end to end against the sandbox over HTTP: connect with OAuth (JSON token request, Basic
client auth), sync search and data source queries (cursors in the POST body), a second run sends
Notion's last_edited_time filter, a 401 disconnects; webhooks through `manifold serve` (the
verification token, signed events queueing a sync for the workspace's connection); actions create
a page then update it (POST then PATCH), the row following."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.control import ConnectionStore, ControlDB, Vault
from engine.control.provider_secrets import ProviderSecrets
from engine.control.sync_requests import SyncRequests
from engine.event_drain import drain_inbox

from .conftest import Workspace
from .web_support import running_service, settings_for

WORKSPACE_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
DS_BRANDS = "248104cd-477e-80af-bc30-000bd28de8f9"
DS_DEALS = "1c9e2a4b-7d3f-4b8e-a0c4-2f7e9d1b6a53"
ACME = "2a1b3c4d-0001-4e5f-8a9b-0c1d2e3f4a01"
GLOBEX = "2a1b3c4d-0002-4e5f-8a9b-0c1d2e3f4a02"
VERIFICATION_TOKEN = "secret_sandboxVerification3bK8nQ5rT2vX7yZ"
SEARCH = "/v1/search"
QUERY = "/v1/data_sources/{data_source_id}/query"


@pytest.fixture
def space(workspace: Workspace, secret_key: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("NOTION_INTEGRATION_ENABLED", "true")
    workspace.start_sandbox()
    return workspace


def env(space: Workspace) -> dict[str, str]:
    return space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"], NOTION_INTEGRATION_ENABLED="true")


def store() -> ConnectionStore:
    return ConnectionStore(ControlDB(os.environ["MANIFOLD_CONTROL_URL"]), Vault())


def notion_requests(space: Workspace, path: str | None = None) -> list[dict[str, Any]]:
    assert space.sandbox is not None
    return [r for r in space.sandbox.requests("notion") if path is None or r["path"] == path]


def connect(space: Workspace, connection: str = "maya") -> str:
    assert space.sandbox is not None
    process = space.popen(
        "connect", "notion", "--connection", connection, "--sandbox-url", space.sandbox.url, "--timeout", "30",
        env=env(space),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect Notion")
        authorize = process.stdout.readline().strip()
        assert "owner=user" in authorize and "response_type=code" in authorize
        page = httpx.get(authorize, follow_redirects=True, timeout=10)
        assert page.status_code == 200, page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    return out


def sync(space: Workspace, connection: str = "maya") -> Any:
    assert space.sandbox is not None
    return space.cli(
        "sync", "notion", "--connection", connection, "--sandbox-url", space.sandbox.url, env=env(space)
    )


def action(space: Workspace, name: str, given: dict[str, Any]) -> tuple[int, Any, str]:
    assert space.sandbox is not None
    done = space.cli(
        "action", "notion", name, "--input", json.dumps(given), "--connection", "maya",
        "--sandbox-url", space.sandbox.url, env=env(space),
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else None, done.stderr


# ---------------------------------------------------------------- connect and sync


def test_connect_keeps_the_workspace_and_sends_a_json_token_request(space: Workspace) -> None:
    out = connect(space)
    assert f"connected notion/maya (account {WORKSPACE_ID})" in out
    record = store().get("notion", "maya")
    assert record is not None and record.connected and record.account_id == WORKSPACE_ID
    assert record.account == {
        "workspace_id": WORKSPACE_ID,
        "workspace_name": "Acme Studio",
        "bot_id": "b3f1a7f0-5c4e-4f0e-8a7e-2d8b9c1e4f60",
    }
    assert record.token_expires_at is None and "refresh_token" not in record.credentials  # long-lived
    (exchange,) = notion_requests(space, "/oauth/token")
    assert exchange["headers"]["content-type"] == "application/json"
    assert exchange["headers"]["authorization"] is True  # HTTP Basic, checked by the sandbox
    assert exchange["body"]["grant_type"] == "authorization_code" and exchange["body"]["code"] == "***"
    assert exchange["status"] == 200


def test_sync_pages_by_body_cursor_then_only_what_changed(space: Workspace) -> None:
    connect(space)
    first = sync(space)
    assert first.returncode == 0, first.stderr
    searches = notion_requests(space, SEARCH)
    assert all(r["method"] == "POST" and r["headers"]["notion-version"] == "2025-09-03" for r in searches)
    page_bodies = [r["body"] for r in searches if r["body"]["filter"]["value"] == "page"]
    assert len(page_bodies) == 3  # 6 pages, served 2 a page
    assert "start_cursor" not in page_bodies[0] and all(b["start_cursor"] for b in page_bodies[1:])
    assert all(b["filter"] == {"property": "object", "value": "page"} for b in page_bodies)
    queries = [r for r in notion_requests(space) if r["path"].endswith("/query")]
    assert sorted(r["path"] for r in queries) == sorted(
        [f"/v1/data_sources/{DS_BRANDS}/query"] * 2 + [f"/v1/data_sources/{DS_DEALS}/query"]
    )
    assert all("filter" not in r["body"] for r in queries)  # a first run reads everything

    rows = space.query(
        "SELECT id, object, title, parent_type, parent_id, in_trash, strftime(updated_at, '%Y-%m-%dT%H:%M') "
        "FROM notion_pages ORDER BY title"
    )
    by_title = {r[2]: r for r in rows}
    assert len(rows) == 9  # 6 pages from search, 2 data sources, 1 row only its data source returned
    assert by_title["Acme Corp"] == (
        ACME,
        "page",
        "Acme Corp",
        "data_source_id",
        DS_BRANDS,
        False,
        "2025-11-03T14:20",
    )
    assert by_title["Brands"][1:5] == (
        "data_source",
        "Brands",
        "database_id",
        "248104cd-477e-80fd-b757-e945d38000bd",
    )
    assert by_title["Q4 Planning"][3:5] == ("page_id", "59833787-2cf9-4fdf-8782-e53db20768a5")
    assert by_title["Team Home"][3:5] == ("workspace", None)
    [(properties,)] = space.query(f"SELECT properties FROM notion_pages WHERE id = '{GLOBEX}'")
    assert space.parse_json(properties)["Status"]["status"]["name"] == "Prospect"

    assert space.sandbox is not None
    fixture = json.loads((space.connectors / "fixtures/notion/data_source_query.json").read_text())
    globex = next(p for p in fixture[DS_BRANDS] if p["id"] == GLOBEX)
    globex["properties"]["Status"]["status"]["name"] = "Active"
    globex["last_edited_time"] = "2025-11-05T10:00:00.000Z"
    space.sandbox.upsert("notion", QUERY, globex, key=DS_BRANDS)
    space.sandbox.clear_requests()
    second = sync(space)
    assert second.returncode == 0, second.stderr
    filters = {r["path"]: r["body"]["filter"] for r in notion_requests(space) if r["path"].endswith("/query")}
    assert filters == {
        f"/v1/data_sources/{DS_BRANDS}/query": {
            "timestamp": "last_edited_time",
            "last_edited_time": {"on_or_after": "2025-11-03T14:20:00Z"},
        },
        f"/v1/data_sources/{DS_DEALS}/query": {
            "timestamp": "last_edited_time",
            "last_edited_time": {"on_or_after": "2025-11-04T09:00:00Z"},
        },
    }
    [(properties,)] = space.query(f"SELECT properties FROM notion_pages WHERE id = '{GLOBEX}'")
    assert space.parse_json(properties)["Status"]["status"]["name"] == "Active"


def test_a_refused_token_disconnects_the_connection(space: Workspace) -> None:
    connect(space)
    assert space.sandbox is not None
    space.sandbox.revoke_grants("notion")  # the user removed the integration: its token answers 401
    failed = sync(space)
    assert failed.returncode != 0
    record = store().get("notion", "maya")
    assert record is not None and not record.connected
    assert "401" in (record.last_error or "") and "cannot be refreshed" in (record.last_error or "")
    refused = [r for r in notion_requests(space, SEARCH) if r["status"] == 401]
    assert len(refused) == 1  # no refresh, no retry storm
    space.sandbox.clear_requests()
    again = sync(space)
    assert again.returncode != 0 and "disconnected" in again.stderr
    assert notion_requests(space) == []


# ---------------------------------------------------------------- webhooks


def signed(body: bytes, token: str = VERIFICATION_TOKEN) -> dict[str, str]:
    digest = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Notion-Signature": f"sha256={digest}", "Content-Type": "application/json"}


EVENT = {
    "id": "367cba44-b6f3-4c92-81e7-6a2e9659efd4",
    "timestamp": "2025-11-05T10:00:00.000Z",
    "workspace_id": WORKSPACE_ID,
    "workspace_name": "Acme Studio",
    "subscription_id": "29d75c0d-5546-4c50-9b3d-bf5d8e9a6c31",
    "integration_id": "1f0d872b-594c-8013-a6c2-0037e2f0a1d4",
    "type": "page.properties_updated",
    "authors": [{"id": "6794760a-1f15-45cd-9c65-0dfe42f5135a", "type": "person"}],
    "attempt_number": 1,
    "api_version": "2025-09-03",
    "entity": {"id": GLOBEX, "type": "page"},
    "data": {
        "parent": {"id": DS_BRANDS, "type": "data_source", "data_source_id": DS_BRANDS},
        "updated_properties": ["Z%3ClH"],
    },
}


def test_webhooks_verify_the_handshake_then_signed_events_queue_a_sync(
    space: Workspace, tmp_path: Path
) -> None:
    connect(space)
    assert space.sandbox is not None
    settings = settings_for(
        tmp_path,
        space.connectors,
        control_url=os.environ["MANIFOLD_CONTROL_URL"],
        warehouse_url=space.warehouse_url,
        sandbox_url=space.sandbox.url,
    )
    body = json.dumps(EVENT).encode()
    with running_service(settings) as running, running.client() as client:
        first = client.post("/webhooks/notion", json={"verification_token": VERIFICATION_TOKEN})
        assert (first.status_code, first.content) == (200, b"")  # unsigned: Notion cannot sign it yet
        kept = ProviderSecrets(running.service.db, running.service.vault)
        assert kept.get("webhook_verification_token:notion") == VERIFICATION_TOKEN
        forged = client.post("/webhooks/notion", content=body, headers=signed(body, "secret_wrong"))
        unsigned = client.post("/webhooks/notion", content=body, headers={"Content-Type": "application/json"})
        assert (forged.status_code, unsigned.status_code) == (401, 401)
        good = client.post("/webhooks/notion", content=body, headers=signed(body))
        again = client.post("/webhooks/notion", content=body, headers=signed(body))  # Notion retries
        assert (good.status_code, again.status_code) == (200, 200)
    report = drain_inbox(space.connectors, warehouse_url=space.warehouse_url)
    assert (report.processed, report.syncs_queued, report.failed) == (1, 1, 0)
    [queued] = SyncRequests(ControlDB(os.environ["MANIFOLD_CONTROL_URL"])).queued()
    assert (queued.connector, queued.connection_id, sorted(queued.streams)) == (
        "notion",
        "maya",  # the connection of the event's workspace_id
        ["data_source_pages", "pages"],
    )


# ---------------------------------------------------------------- actions


def test_create_then_update_a_page_the_row_following(space: Workspace) -> None:
    connect(space)
    code, created, err = action(
        space,
        "create_page",
        {
            "parent_id": DS_BRANDS,
            "title": "Umbrella Corp",
            "title_property": "Name",
            "properties": {"Status": {"status": {"name": "Prospect"}}},
            "text": "Weekly summary: 3 deals open.",
        },
    )
    assert code == 0, err
    page = created["result"]
    assert page["object"] == "page" and len(page["id"]) == 36
    (post,) = notion_requests(space, "/v1/pages")
    assert post["method"] == "POST" and post["headers"]["content-type"] == "application/json"
    assert post["headers"]["notion-version"] == "2025-09-03"
    assert post["body"] == {
        "parent": {"data_source_id": DS_BRANDS},
        "properties": {
            "Status": {"status": {"name": "Prospect"}},
            "Name": {"title": [{"type": "text", "text": {"content": "Umbrella Corp"}}]},
        },
        "children": [
            {
                "object": "block",
                "type": "paragraph",
                "paragraph": {
                    "rich_text": [{"type": "text", "text": {"content": "Weekly summary: 3 deals open."}}]
                },
            }
        ],
    }
    row = f"SELECT title, parent_type, parent_id, properties FROM notion_pages WHERE id = '{page['id']}'"
    [(title, parent_type, parent_id, properties)] = space.query(row)
    assert (title, parent_type, parent_id) == ("Umbrella Corp", "data_source_id", DS_BRANDS)

    code, updated, err = action(
        space,
        "update_page",
        {"page_id": page["id"], "title": "Umbrella Corporation", "title_property": "Name",
         "properties": {"Status": {"status": {"name": "Active"}}}},
    )  # fmt: skip
    assert code == 0, err
    (patch,) = notion_requests(space, f"/v1/pages/{page['id']}")
    assert patch["method"] == "PATCH" and "in_trash" not in patch["body"]
    assert patch["body"]["properties"]["Status"] == {"status": {"name": "Active"}}
    [(title, parent_type, parent_id, properties)] = space.query(row)
    assert (title, parent_id) == ("Umbrella Corporation", DS_BRANDS)
    assert space.parse_json(properties)["Status"]["status"]["name"] == "Active"
    assert updated["result"]["last_edited_time"] >= created["result"]["last_edited_time"]


def test_notions_errors_are_read_from_its_shape(space: Workspace) -> None:
    connect(space)
    code, _, err = action(
        space, "update_page", {"page_id": "00000000-0000-4000-8000-000000000000", "title": "x"}
    )
    assert code != 0
    assert "404" in err and "No such page" in err

"""Google Drive end to end over HTTP with the real CLI: connect through the sandbox's OAuth server,
a full listing without trashed files (start token taken first), a second run reading only the
changes feed (an edit, a trashed file and a removed one), and link_file landing a file_links row."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from engine.sandbox import Sandbox

from .conftest import Workspace

DRIVE = "google_drive"
MSA = "1Hq3nT8vRk2LmZ0aXcYb4PdEfGh5IjKl6"
DECK = "1xQ3DeckNorthwindKickoff2025Slides"
PHOTO = "1PhotoShootRooftopContactSheet"
TRASHED = "1bOldBudgetDraft2024SheetTrashed"


def drive_requests(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests(DRIVE) if r["path"].startswith("/drive/")]


def env(space: Workspace) -> dict[str, str]:
    """The CLI's environment, with this test's vault key (never the project's state/secret.key)."""
    return space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])


def connect(space: Workspace, sandbox: Sandbox) -> None:
    """`manifold connect` over HTTP: authorize (PKCE, offline) -> callback -> tokens stored."""
    process = space.popen(
        "connect",
        DRIVE,
        "--connection",
        "maya",
        "--sandbox-url",
        sandbox.url,
        "--timeout",
        "30",
        env=env(space),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect Google Drive (maya)")
        url = process.stdout.readline().strip()
        assert (
            "access_type=offline" in url and "prompt=consent" in url and "code_challenge_method=S256" in url
        )
        assert "drive.readonly" in url
        page = httpx.get(url, follow_redirects=True, timeout=10)
        assert page.status_code == 200 and "Connected" in page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "connected google_drive/maya (account maya@acme-studio.example)" in out


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    workspace.start_sandbox()
    return workspace


def sync(space: Workspace) -> None:
    assert space.sandbox is not None
    done = space.cli(
        "sync", DRIVE, "--connection", "maya", "--sandbox-url", space.sandbox.url, env=env(space)
    )
    assert done.returncode == 0, done.stderr + done.stdout


def test_full_listing_then_changes_then_link_file(space: Workspace) -> None:
    sandbox = space.sandbox
    assert sandbox is not None
    connect(space, sandbox)
    sandbox.clear_requests()

    sync(space)
    calls = drive_requests(sandbox)
    assert [c["path"] for c in calls] == ["/drive/v3/changes/startPageToken"] + ["/drive/v3/files"] * 2
    listing = calls[1]["query"]
    assert listing["q"] == "trashed = false" and listing["pageSize"] == "2"
    assert listing["corpora"] == "user" and listing["supportsAllDrives"] == "true"
    assert calls[2]["query"]["pageToken"]  # the second page
    rows = space.query(
        "SELECT id, name, is_folder, size_bytes, owner_email, last_modified_by_email, trashed, parent_ids "
        "FROM files ORDER BY id"
    )
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {MSA, DECK, PHOTO, "0AFolderClientsRootUk9PVA"}  # the trashed one is left out
    assert by_id[MSA][1:7] == (
        "Northwind - Master Services Agreement.pdf",
        False,
        482311,
        "maya@acme-studio.example",
        "maya@acme-studio.example",
        False,
    )
    assert by_id["0AFolderClientsRootUk9PVA"][2] is True
    assert by_id[DECK][5] == "jo@northwind.example" and by_id[DECK][3] is None
    assert list(by_id[PHOTO][7]) == ["0AFolderClientsRootUk9PVA"]
    state = json.loads(space.query("SELECT state FROM _manifold_state WHERE stream = 'files'")[0][0])
    start_token = state["slices"][""]["token"]
    assert start_token == "1"  # the token asked before the listing, not one from after it

    # Between runs: the deck is renamed, the photo trashed, the agreement removed.
    route = "/drive/v3/files"
    deck = next(r for r in sandbox.records(DRIVE, route) if r["id"] == DECK)
    sandbox.upsert(DRIVE, route, {**deck, "name": "Northwind kickoff deck v2"})
    photo = next(r for r in sandbox.records(DRIVE, route) if r["id"] == PHOTO)
    sandbox.upsert(DRIVE, route, {**photo, "trashed": True})
    sandbox.delete(DRIVE, route, MSA)
    sandbox.clear_requests()

    sync(space)
    calls = drive_requests(sandbox)
    assert [c["path"] for c in calls] == ["/drive/v3/changes"] * 2  # pageSize 2, three changes
    assert calls[0]["query"]["pageToken"] == start_token and calls[0]["query"]["includeRemoved"] == "true"
    assert calls[1]["query"]["pageToken"] != start_token
    rows = space.query("SELECT id, name, trashed FROM files ORDER BY id")
    by_id = {r[0]: r for r in rows}
    assert by_id[DECK] == (DECK, "Northwind kickoff deck v2", False)
    assert by_id[PHOTO][2] is True
    assert by_id[MSA] == (MSA, None, True)  # removed: no file in the change, marked gone
    assert by_id["0AFolderClientsRootUk9PVA"][1] == "Clients"  # untouched
    runs = space.query(
        "SELECT json_extract(stats, '$.records')::INT FROM _manifold_runs WHERE stream = 'files' ORDER BY finished_at"
    )
    assert runs == [(4,), (3,)]
    state = json.loads(space.query("SELECT state FROM _manifold_state WHERE stream = 'files'")[0][0])
    assert state["slices"][""]["token"] == "4"  # newStartPageToken of the last changes page

    # A third run with nothing new: one changes request, nothing read.
    sandbox.clear_requests()
    sync(space)
    assert [c["path"] for c in drive_requests(sandbox)] == ["/drive/v3/changes"]

    given = json.dumps({"file_id": DECK, "record_type": "deal", "record_id": "deal_105"})
    sandbox.clear_requests()
    done = space.cli(
        "action",
        DRIVE,
        "link_file",
        "--input",
        given,
        "--connection",
        "maya",
        "--sandbox-url",
        sandbox.url,
        env=env(space),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["result"]["file_id"] == DECK and out["result"]["id"] == f"deal:deal_105:{DECK}"
    (get,) = drive_requests(sandbox)
    assert get["path"] == f"/drive/v3/files/{DECK}" and get["query"]["fields"].startswith("id,name,mimeType")
    links = space.query(
        "SELECT id, file_id, file_name, mime_type, web_url, record_type, record_id, linked_at IS NOT NULL "
        "FROM file_links"
    )
    assert links == [
        (
            f"deal:deal_105:{DECK}",
            DECK,
            "Northwind kickoff deck v2",
            "application/vnd.google-apps.presentation",
            f"https://docs.google.com/presentation/d/{DECK}/edit?usp=drivesdk",
            "deal",
            "deal_105",
            True,
        )
    ]

    # The same file on another record is a second link; an unknown file is the provider's 404.
    other = json.dumps({"file_id": DECK, "record_type": "contact", "record_id": "c_7"})
    done = space.cli(
        "action",
        DRIVE,
        "link_file",
        "--input",
        other,
        "--connection",
        "maya",
        "--sandbox-url",
        sandbox.url,
        env=env(space),
    )
    assert done.returncode == 0, done.stderr
    assert space.query("SELECT record_type FROM file_links ORDER BY record_type") == [("contact",), ("deal",)]
    missing = json.dumps({"file_id": MSA, "record_type": "deal", "record_id": "deal_105"})
    done = space.cli(
        "action",
        DRIVE,
        "link_file",
        "--input",
        missing,
        "--connection",
        "maya",
        "--sandbox-url",
        sandbox.url,
        env=env(space),
    )
    assert done.returncode == 1 and "404" in done.stderr and "notFound" in done.stderr


def test_include_trashed_lists_the_trash_too(space: Workspace) -> None:
    sandbox = space.sandbox
    assert sandbox is not None
    connect(space, sandbox)
    sandbox.clear_requests()
    done = space.cli(
        "sync",
        DRIVE,
        "--connection",
        "maya",
        "--sandbox-url",
        sandbox.url,
        "--config",
        json.dumps({"include_trashed": True, "page_size": 1000}),
        env=env(space),
    )
    assert done.returncode == 0, done.stderr
    listing = [c for c in drive_requests(sandbox) if c["path"] == "/drive/v3/files"]
    assert len(listing) == 1 and "q" not in listing[0]["query"]
    assert space.query(f"SELECT trashed FROM files WHERE id = '{TRASHED}'") == [(True,)]
    assert space.query("SELECT count(*) FROM files") == [(5,)]

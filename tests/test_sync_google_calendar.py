"""Google Calendar end to end: calendar list -> events per calendar, syncToken, 410 -> full resync."""

from __future__ import annotations

import json
from datetime import date

from .conftest import Workspace

PRIMARY = "maya@acme-studio.example"
SHOOTS = "c_8f2k1n3q5r7t9v@group.calendar.google.com"


def events_requests(workspace: Workspace) -> list[dict]:
    assert workspace.sandbox is not None
    return [r for r in workspace.sandbox.requests("google_calendar") if r["path"].endswith("/events")]


def test_first_sync_loads_calendars_and_events(workspace: Workspace) -> None:
    result = workspace.cli("sync", "google_calendar", "--sandbox")
    assert result.returncode == 0, result.stderr
    assert workspace.query("SELECT id, is_primary FROM calendars ORDER BY id") == [
        (SHOOTS, False),
        (PRIMARY, True),
    ]
    rows = workspace.query(
        "SELECT calendar_id, title, all_day, start_date, strftime(start_at, '%Y-%m-%dT%H:%M'), start_time_zone "
        "FROM calendar_events ORDER BY calendar_id, id"
    )
    by_title = {r[1]: r for r in rows}
    assert by_title["Maya OOO"][2:4] == (True, date(2025, 11, 24))
    kickoff = by_title["Kickoff with Northwind"]
    assert kickoff[0] == PRIMARY and kickoff[2] is False and kickoff[4] == "2025-11-03T15:00"
    assert kickoff[5] == "America/New_York"
    assert {r[0] for r in rows} == {PRIMARY, SHOOTS}
    # the cancelled instance is only returned on incremental syncs (showDeleted is not set)
    assert workspace.query("SELECT count(*) FROM calendar_events WHERE status = 'cancelled'") == [(0,)]
    attendees = workspace.query(
        "SELECT attendees FROM calendar_events WHERE title = 'Kickoff with Northwind'"
    )
    assert json.loads(attendees[0][0])[1]["email"] == "jo@northwind.example"


def test_sync_token_then_changes_only_then_410_full_resync(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()
    url = sandbox.url
    assert workspace.cli("sync", "google_calendar", "--sandbox-url", url).returncode == 0
    first = events_requests(workspace)
    assert len(first) == 2 and all("syncToken" not in r["query"] for r in first)
    state = workspace.query("SELECT state FROM _manifold_state WHERE stream = 'events'")
    tokens = json.loads(state[0][0])["slices"]
    assert set(tokens) == {PRIMARY, SHOOTS} and all("token" in t for t in tokens.values())

    moved = json.loads((workspace.connectors / "fixtures/google_calendar/events.json").read_text())[SHOOTS][0]
    moved = {**moved, "summary": "Rooftop shoot (moved)", "updated": "2025-11-05T10:00:00.000Z"}
    sandbox.upsert("google_calendar", "/calendar/v3/calendars/{calendarId}/events", moved, key=SHOOTS)
    sandbox.clear_requests()
    second = workspace.cli("sync", "google_calendar", "--sandbox-url", url)
    assert second.returncode == 0, second.stderr
    calls = events_requests(workspace)
    assert all("syncToken" in r["query"] and "maxResults" in r["query"] for r in calls)
    assert workspace.query(f"SELECT title FROM calendar_events WHERE id = '{moved['id']}'") == [
        ("Rooftop shoot (moved)",)
    ]
    runs = workspace.query(
        "SELECT json_extract(stats, '$.records')::INT FROM _manifold_runs WHERE stream = 'events' ORDER BY finished_at"
    )
    assert runs[-1] == (1,)

    sandbox.expire_tokens("google_calendar")
    sandbox.clear_requests()
    third = workspace.cli("sync", "google_calendar", "--sandbox-url", url)
    assert third.returncode == 0, third.stderr
    statuses = [(("syncToken" in r["query"]), r["status"]) for r in events_requests(workspace)]
    assert statuses.count((True, 410)) == 2 and statuses.count((False, 200)) == 2
    assert workspace.query("SELECT count(*) FROM calendar_events") == [(6,)]
    fresh = json.loads(workspace.query("SELECT state FROM _manifold_state WHERE stream = 'events'")[0][0])
    assert fresh["slices"][PRIMARY]["token"] != tokens[PRIMARY]["token"]


def test_deleted_event_arrives_as_cancelled_on_incremental(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()
    assert workspace.cli("sync", "google_calendar", "--sandbox-url", sandbox.url).returncode == 0
    events = json.loads((workspace.connectors / "fixtures/google_calendar/events.json").read_text())[PRIMARY]
    sandbox.delete(
        "google_calendar", "/calendar/v3/calendars/{calendarId}/events", events[0]["id"], key=PRIMARY
    )
    assert workspace.cli("sync", "google_calendar", "--sandbox-url", sandbox.url).returncode == 0
    assert workspace.query(f"SELECT status FROM calendar_events WHERE id = '{events[0]['id']}'") == [
        ("cancelled",)
    ]


def test_sync_token_params_restrictions_are_honoured(workspace: Workspace) -> None:
    """timeMin is sent on full syncs only: Google answers 400 when it comes with a syncToken."""
    spec = workspace.connectors / "google_calendar.yaml"
    spec.write_text(
        spec.read_text().replace(
            "      params: {maxResults: 250}\n",
            "      params: {maxResults: 250, timeMin: '2025-01-01T00:00:00Z'}\n",
            1,
        )
    )
    sandbox = workspace.start_sandbox()
    assert workspace.cli("sync", "google_calendar", "--sandbox-url", sandbox.url).returncode == 0
    sandbox.clear_requests()
    again = workspace.cli("sync", "google_calendar", "--sandbox-url", sandbox.url)
    assert again.returncode == 0, again.stderr
    assert all("timeMin" not in r["query"] for r in events_requests(workspace))

"""Google Calendar end to end over HTTP with the real CLI: connect through the sandbox's OAuth server
(calendar.readonly, offline, PKCE), calendar list -> events per calendar in pages, syncToken for
changes only (a deleted event arrives cancelled), 410 -> a full resync, and events.watch push
deliveries through `manifold serve` verified by their channel token, queueing a sync."""

from __future__ import annotations

import json
import os
from datetime import date
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from engine.control import ConnectionStore, Vault, open_control
from engine.control.inbox import Inbox
from engine.control.sync_requests import SyncRequests
from engine.event_drain import drain_inbox
from engine.sandbox import Sandbox

from .conftest import Workspace
from .web_support import running_service, settings_for

CALENDAR = "google_calendar"
PRIMARY = "maya@acme-studio.example"
SHOOTS = "c_8f2k1n3q5r7t9v@group.calendar.google.com"
KICKOFF = "7k2m01q9r4s6t8v0w1x3y5z"
SERIES = "7k2m02q9r4s6t8v0w1x3y5z"
INSTANCE = "7k2m02q9r4s6t8v0w1x3y5z_20251111T200000Z"
OOO = "7k2m04q9r4s6t8v0w1x3y5z"
EVENTS_PATH = "/calendar/v3/calendars/{calendarId}/events"
CHANNEL_TOKEN = "sandbox-calendar-channel-token"  # sandbox.env GOOGLE_CALENDAR_CHANNEL_TOKEN
CHANNEL_ID = "01234567-89ab-cdef-0123-456789abcdef"


def env(space: Workspace) -> dict[str, str]:
    """The CLI's environment, with this test's vault key (never the project's state/secret.key)."""
    return space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])


def events_requests(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests(CALENDAR) if r["path"].endswith("/events")]


def calendar_of(request: dict[str, Any]) -> str:
    """The calendar id of an events.list request (/calendar/v3/calendars/{calendarId}/events)."""
    return unquote(request["path"].split("/")[4])


def fixture_events(space: Workspace, calendar: str) -> list[dict[str, Any]]:
    events = json.loads((space.connectors / "fixtures/google_calendar/events.json").read_text())
    return list(events[calendar])


def connect_cli(space: Workspace, sandbox: Sandbox) -> None:
    """`manifold connect` over HTTP: authorize (PKCE, offline, consent) -> callback -> tokens stored."""
    process = space.popen(
        "connect", CALENDAR, "--connection", "maya", "--sandbox-url", sandbox.url, "--timeout", "30",
        env=env(space),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect Google Calendar (maya)")
        url = process.stdout.readline().strip()
        assert url.startswith(f"{sandbox.url}/{CALENDAR}/oauth/authorize?")
        assert "access_type=offline" in url and "prompt=consent" in url
        assert "code_challenge_method=S256" in url and "calendar.readonly" in url
        page = httpx.get(url, follow_redirects=True, timeout=10)
        assert page.status_code == 200 and "Connected" in page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert f"connected google_calendar/maya (account {PRIMARY})" in out


def connect_approved(space: Workspace, sandbox: Sandbox) -> None:
    """`manifold connect --approve`: the sandbox's authorize endpoint approves at once."""
    done = space.cli(
        "connect", CALENDAR, "--connection", "maya", "--sandbox-url", sandbox.url, "--approve", env=env(space)
    )
    assert done.returncode == 0, done.stderr
    assert f"connected google_calendar/maya (account {PRIMARY})" in done.stdout


def sync(space: Workspace, *extra: str) -> None:
    assert space.sandbox is not None
    done = space.cli(
        "sync", CALENDAR, "--connection", "maya", "--sandbox-url", space.sandbox.url, *extra, env=env(space)
    )
    assert done.returncode == 0, done.stderr + done.stdout


def events_state(space: Workspace) -> dict[str, Any]:
    rows = space.query("SELECT state FROM _manifold_state WHERE stream = 'events' AND connection_id = 'maya'")
    state: dict[str, Any] = json.loads(rows[0][0])
    return state


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    workspace.start_sandbox()
    return workspace


def test_connect_then_a_full_sync_of_calendars_and_events_in_pages(space: Workspace) -> None:
    sandbox = space.sandbox
    assert sandbox is not None
    connect_cli(space, sandbox)
    record = ConnectionStore(open_control(), Vault()).get(CALENDAR, "maya")
    assert record is not None and record.connected and record.account_id == PRIMARY
    assert record.account == {"email": PRIMARY, "time_zone": "America/New_York"}
    assert record.scopes == ["https://www.googleapis.com/auth/calendar.readonly"]
    assert record.credentials["refresh_token"]
    sandbox.clear_requests()
    sync(space)

    assert space.query("SELECT id, name, time_zone, is_primary, access_role FROM calendars ORDER BY id") == [
        (SHOOTS, "Brand shoots", "Europe/Lisbon", False, "writer"),
        (PRIMARY, PRIMARY, "America/New_York", True, "owner"),
    ]
    rows = space.query(
        "SELECT id, calendar_id, status, title, all_day, start_at, end_at, start_date, end_date,"
        " start_time_zone, end_time_zone, recurrence, recurring_event_id, original_start_at,"
        " ical_uid, organizer_email, attendees, conference_url, _connection_id"
        " FROM calendar_events ORDER BY calendar_id, id"
    )
    by_id = {r[0]: r for r in rows}
    assert {r[1] for r in rows} == {PRIMARY, SHOOTS} and {r[18] for r in rows} == {"maya"}
    assert len(rows) == 6  # the cancelled instance only comes with a syncToken (showDeleted unset)
    kickoff = by_id[KICKOFF]
    assert kickoff[2:5] == ("confirmed", "Kickoff with Northwind", False)
    assert kickoff[5].strftime("%Y-%m-%dT%H:%M") == "2025-11-03T15:00"  # -05:00 -> UTC
    assert kickoff[6].strftime("%H:%M") == "16:00" and kickoff[7] is None
    assert kickoff[9:11] == ("America/New_York", "America/New_York")
    assert kickoff[15] == PRIMARY and kickoff[17] == "https://meet.google.com/abc-defg-hij"
    attendees = json.loads(kickoff[16])
    assert [(a["email"], a["responseStatus"]) for a in attendees] == [
        (PRIMARY, "accepted"),
        ("jo@northwind.example", "needsAction"),
    ]
    ooo = by_id[OOO]
    assert ooo[4] is True and ooo[5] is None and ooo[7:9] == (date(2025, 11, 24), date(2025, 11, 26))
    assert ooo[9] is None
    assert by_id[SERIES][11] == ["RRULE:FREQ=WEEKLY;BYDAY=TU"] and by_id[SERIES][12] is None
    instance = by_id[INSTANCE]
    assert instance[12] == SERIES and instance[14] == by_id[SERIES][14]
    assert instance[13].strftime("%Y-%m-%dT%H:%M") == "2025-11-11T20:00"  # originalStartTime, UTC
    assert instance[5].strftime("%Y-%m-%dT%H:%M") == "2025-11-11T21:00"  # moved an hour later

    calls = events_requests(sandbox)
    lists = [c for c in sandbox.requests(CALENDAR) if c["path"].endswith("/calendarList")]
    assert [c["query"] for c in lists] == [{"maxResults": "250"}] * 2  # its stream, then as the parent
    assert all(c["status"] == 200 for c in sandbox.requests(CALENDAR))
    # the data routes take only tokens the sandbox's OAuth server issued
    anonymous = httpx.get(f"{sandbox.url}/{CALENDAR}/calendar/v3/users/me/calendarList", timeout=10)
    assert anonymous.status_code == 401
    primary = [c for c in calls if calendar_of(c) == PRIMARY]
    # page size 2 (sandbox config): 4 live events of the primary calendar take 2 pages
    assert [c["query"] for c in primary] == [
        {"maxResults": "2"},
        {"maxResults": "2", "pageToken": primary[1]["query"]["pageToken"]},
    ]
    assert all("syncToken" not in c["query"] for c in calls)
    state = events_state(space)["slices"]
    assert set(state) == {PRIMARY, SHOOTS} and all(s["token"] for s in state.values())


def test_sync_token_then_changes_with_a_cancelled_event_then_410_full_resync(space: Workspace) -> None:
    sandbox = space.sandbox
    assert sandbox is not None
    connect_approved(space, sandbox)
    sync(space)
    tokens = events_state(space)["slices"]

    moved = {**fixture_events(space, SHOOTS)[0], "summary": "Rooftop shoot (moved)",
             "updated": "2025-11-05T10:00:00.000Z"}  # fmt: skip
    sandbox.upsert(CALENDAR, EVENTS_PATH, moved, key=SHOOTS)
    sandbox.delete(CALENDAR, EVENTS_PATH, KICKOFF, key=PRIMARY)
    sandbox.clear_requests()
    sync(space)
    calls = events_requests(sandbox)
    assert len(calls) == 2
    sent = {calendar_of(c): c["query"] for c in calls}
    assert sent[PRIMARY] == {"maxResults": "2", "syncToken": tokens[PRIMARY]["token"]}
    assert sent[SHOOTS]["syncToken"] == tokens[SHOOTS]["token"]
    assert space.query(f"SELECT title FROM calendar_events WHERE id = '{moved['id']}'") == [
        ("Rooftop shoot (moved)",)
    ]
    assert space.query(f"SELECT status, title FROM calendar_events WHERE id = '{KICKOFF}'") == [
        ("cancelled", "Kickoff with Northwind")  # a cancelled event keeps its other columns
    ]
    runs = space.query(
        "SELECT json_extract(stats, '$.records')::INT FROM _manifold_runs WHERE stream = 'events'"
        " ORDER BY finished_at"
    )
    assert runs[-1] == (2,)  # the moved event and the cancelled one, nothing else

    sandbox.expire_tokens(CALENDAR)
    sandbox.clear_requests()
    sync(space)
    statuses = [("syncToken" in r["query"], r["status"]) for r in events_requests(sandbox)]
    assert statuses.count((True, 410)) == 2  # each calendar's token refused ...
    assert statuses.count((False, 200)) == 3  # ... then read in full: 2 pages + 1 page
    assert space.query(
        "SELECT count(*), count(*) FILTER (WHERE status = 'cancelled') FROM calendar_events"
    ) == [(6, 1)]
    fresh = events_state(space)["slices"]
    assert fresh[PRIMARY]["token"] != tokens[PRIMARY]["token"]


def test_sync_token_params_restrictions_are_honoured(space: Workspace) -> None:
    """timeMin is sent on full syncs only: Google answers 400 when it comes with a syncToken."""
    spec = space.connectors / "google_calendar.yaml"
    text = spec.read_text()
    old = '      params: {maxResults: "{{ config.page_size | default(250) }}"}\n'
    assert old in text
    new = '      params: {maxResults: "{{ config.page_size | default(250) }}", timeMin: "2025-01-01T00:00:00Z"}\n'
    spec.write_text(text.replace(old, new, 1))
    sandbox = space.sandbox
    assert sandbox is not None
    sandbox.stop()
    sandbox = space.start_sandbox()
    connect_approved(space, sandbox)
    sync(space)
    assert all(r["query"]["timeMin"] == "2025-01-01T00:00:00Z" for r in events_requests(sandbox))
    sandbox.clear_requests()
    sync(space)
    again = events_requests(sandbox)
    assert again and all("syncToken" in r["query"] and "timeMin" not in r["query"] for r in again)
    assert all(r["status"] == 200 for r in again)


# ---------------------------------------------------------------- push (events.watch channels)


def push(state: str, number: str, token: str = CHANNEL_TOKEN) -> dict[str, str]:
    """A notification as Google sends it: headers only, no body."""
    return {
        "X-Goog-Channel-ID": CHANNEL_ID,
        "X-Goog-Channel-Token": token,
        "X-Goog-Channel-Expiration": "Wed, 03 Dec 2025 10:00:00 GMT",
        "X-Goog-Resource-ID": "ret08u3rv24htgh289g",
        "X-Goog-Resource-URI": f"https://www.googleapis.com/calendar/v3/calendars/{PRIMARY}/events?alt=json",
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": number,
    }


def test_a_channel_notification_queues_a_sync_of_its_connection(space: Workspace, tmp_path: Any) -> None:
    sandbox = space.sandbox
    assert sandbox is not None
    connect_approved(space, sandbox)
    control_url = os.environ["MANIFOLD_CONTROL_URL"]
    settings = settings_for(
        tmp_path, space.connectors, control_url=control_url, warehouse_url=space.warehouse_url,
        sandbox_url=sandbox.url,
    )  # fmt: skip
    with running_service(settings) as running, running.client() as http:
        url = f"/webhooks/{CALENDAR}/maya"
        first = http.post(url, headers=push("sync", "1"))
        assert (first.status_code, first.content) == (200, b"")  # the channel's first message
        assert http.post(url, headers=push("exists", "2", token="guess")).status_code == 401
        no_token = {k: v for k, v in push("exists", "2").items() if k != "X-Goog-Channel-Token"}
        assert http.post(url, headers=no_token).status_code == 401
        assert http.post(f"/webhooks/{CALENDAR}/ivan", headers=push("exists", "2")).status_code == 404
        assert http.post(f"/webhooks/{CALENDAR}", headers=push("exists", "2")).status_code == 404
        db = open_control(control_url)
        assert Inbox(db).due(CALENDAR) == []
        ok = http.post(url, headers=push("exists", "2"))
        assert ok.status_code == 200, ok.text
        assert http.post(url, headers=push("exists", "2")).json() == {"received": True, "duplicate": True}
        assert http.post(url, headers=push("not_exists", "3")).status_code == 200
    due = Inbox(db).due(CALENDAR)
    assert [(e.event_id, e.event_type, e.connection_id) for e in due] == [
        (f"{CHANNEL_ID}:2", "exists", "maya"),
        (f"{CHANNEL_ID}:3", "not_exists", "maya"),
    ]
    assert all(CHANNEL_TOKEN not in json.dumps(e.headers) for e in due)

    report = drain_inbox(space.connectors, warehouse_url=space.warehouse_url, control_url=control_url)
    assert report.processed == 2 and report.failed == 0
    (queued,) = SyncRequests(db).queued()  # deduplicated while one is queued
    assert (queued.connector, queued.connection_id, queued.streams) == (CALENDAR, "maya", ["events"])
    assert queued.source == "webhook"
    db.close()

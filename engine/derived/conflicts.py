"""Calendar conflicts: overlapping confirmed, busy events of one user, across their calendars.

    rows = find_conflicts(destination)      # dicts in the calendar_conflicts model's columns

An event counts when its status is confirmed (not cancelled, not tentative), it blocks time
(transparency is not 'transparent') and the user has not declined it. All-day events span their
dates (the end date is exclusive, as Google sends it) in the event's time zone, else its
calendar's, else UTC. Copies of one event on several calendars (the same iCalendar UID and
start) count once, as the copy on the primary calendar.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from ..destinations import Destination
from ..models import CONNECTION_COLUMN, PROVIDER_COLUMN

EVENT_COLUMNS = [
    PROVIDER_COLUMN,
    CONNECTION_COLUMN,
    "id",
    "calendar_id",
    "ical_uid",
    "status",
    "title",
    "transparency",
    "all_day",
    "start_at",
    "end_at",
    "start_date",
    "end_date",
    "start_time_zone",
    "attendees",
]


def _zone(name: Any) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _declined(attendees: Any) -> bool:
    if isinstance(attendees, str):
        try:
            attendees = orjson.loads(attendees)
        except orjson.JSONDecodeError:
            return False
    return any(
        isinstance(a, dict) and a.get("self") and a.get("responseStatus") == "declined"
        for a in attendees or []
    )


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _span(event: dict[str, Any], calendar_zone: tzinfo | None) -> tuple[datetime, datetime] | None:
    if isinstance(event["start_date"], date) and (event["all_day"] or event["start_at"] is None):
        zone = _zone(event["start_time_zone"]) or calendar_zone or UTC
        end_day = event["end_date"] if isinstance(event["end_date"], date) else event["start_date"]
        start = datetime.combine(event["start_date"], time(), zone)
        end = datetime.combine(end_day, time(), zone)
        if end <= start:  # a one-day event sent without its exclusive end
            end = datetime.combine(date.fromordinal(event["start_date"].toordinal() + 1), time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)
    begins, ends = _aware(event["start_at"]), _aware(event["end_at"])
    if begins is None or ends is None or ends <= begins:
        return None
    return begins, ends


def find_conflicts(destination: Destination) -> list[dict[str, Any]]:
    zones = {
        (r[PROVIDER_COLUMN], r[CONNECTION_COLUMN], r["id"]): _zone(r["time_zone"])
        for r in destination.rows("calendars", [PROVIDER_COLUMN, CONNECTION_COLUMN, "id", "time_zone"], {})
    }
    by_user: dict[tuple[str, str], list[tuple[datetime, datetime, dict[str, Any]]]] = defaultdict(list)
    for event in destination.rows("calendar_events", EVENT_COLUMNS, {"status": "confirmed"}):
        if event["transparency"] == "transparent" or _declined(event["attendees"]):
            continue
        user = (event[PROVIDER_COLUMN], event[CONNECTION_COLUMN])
        span = _span(event, zones.get((*user, event["calendar_id"])))
        if span is not None:
            by_user[user].append((*span, event))
    conflicts: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for user, events in by_user.items():
        events.sort(key=lambda e: (e[0], e[2]["calendar_id"] != "primary", e[2]["id"]))
        seen: set[tuple[str, datetime]] = set()
        active: list[tuple[datetime, datetime, dict[str, Any]]] = []
        for start, end, event in events:
            if event["ical_uid"]:
                if (event["ical_uid"], start) in seen:
                    continue  # the same event on a second calendar
                seen.add((event["ical_uid"], start))
            active = [a for a in active if a[1] > start]  # sweep: only events still running overlap
            for other_start, other_end, other in active:
                minutes = int((min(end, other_end) - start).total_seconds() // 60)
                key = (*user, other["id"], event["id"])
                conflicts.setdefault(
                    key, _conflict(user, other, other_start, other_end, event, start, end, minutes)
                )
            active.append((start, end, event))
    return list(conflicts.values())


def _conflict(
    user: tuple[str, str],
    first: dict[str, Any],
    first_start: datetime,
    first_end: datetime,
    second: dict[str, Any],
    second_start: datetime,
    second_end: datetime,
    minutes: int,
) -> dict[str, Any]:
    return {
        PROVIDER_COLUMN: user[0],
        CONNECTION_COLUMN: user[1],
        "event_id": first["id"],
        "calendar_id": first["calendar_id"],
        "title": first["title"],
        "starts_at": first_start,
        "ends_at": first_end,
        "other_event_id": second["id"],
        "other_calendar_id": second["calendar_id"],
        "other_title": second["title"],
        "other_starts_at": second_start,
        "other_ends_at": second_end,
        "overlap_minutes": minutes,
    }

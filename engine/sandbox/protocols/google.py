"""Google list calls: page tokens and Calendar sync tokens."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, b64decode, b64encode, int_param, raws, take
from engine.sandbox.store import Entry, Snapshot, SyncTokens

_SYNC_CLASHES = (
    "timeMin",
    "timeMax",
    "orderBy",
    "q",
    "iCalUID",
    "privateExtendedProperty",
    "sharedExtendedProperty",
    "updatedMin",
)
FULL_SYNC_REQUIRED = "Sync token is no longer valid, a full sync is required."


class GooglePageToken(Protocol):
    """Google list calls: opaque `pageToken`s, and Calendar-style sync tokens.

    GET /calendar/v3/calendars/primary/events?maxResults=2
    -> {"kind": "calendar#events", "etag": "\\"3\\"", "nextPageToken": "eyJvIjoyfQ", "items": [...]}
    ... the last page: {"kind": ..., "nextSyncToken": "CPDAlvWDx70CEPDAlvWDx70CGAU=", "items": [...]}
    GET ...?syncToken=CPDA... -> only events changed since that token, cancelled ones included.

    An unknown, foreign or expired sync token is 410 with reason fullSyncRequired; syncToken
    with timeMin, timeMax, orderBy, q, iCalUID, updatedMin or *ExtendedProperty is 400.
    Cancelled events are left out unless `showDeleted=true` or on a sync. Options: `kind`,
    `records_key` ('items'; Gmail 'messages', Drive 'files'), `page_size_param` ('maxResults';
    Drive 'pageSize'), `default_page_size` (100), `max_page_size` (250, larger is capped),
    `sync` (true: hand out sync tokens), `extra` (constant fields, e.g. {"timeZone": "UTC"}).
    """

    name = "google_page_token"
    error_style = "google"
    defaults: ClassVar[dict[str, Any]] = {
        "kind": None,
        "records_key": "items",
        "page_size_param": "maxResults",
        "default_page_size": 100,
        "max_page_size": 250,
        "sync": True,
        "extra": {},
    }

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        opts = self.options
        size = int_param(
            query, opts["page_size_param"], opts["default_page_size"], high=opts["max_page_size"], clamp=True
        )
        sync_token = query.get("syncToken") if opts["sync"] else None
        if sync_token is not None:
            clash = next((p for p in _SYNC_CLASHES if p in query), None)
            if clash:
                raise BadRequest(
                    f"The syncToken parameter cannot be used with {clash}.", code="invalid", param=clash
                )
        state = self._state(query.get("pageToken"), sync_token)
        fields: dict[str, Any] = {"kind": opts["kind"], "etag": f'"{data.version}"'} if opts["kind"] else {}
        fields.update(opts["extra"])
        assert call.tokens is not None
        if "t" in state:
            page, fields_more = self._changes(call.tokens, data, size, state)
        else:
            page, fields_more = self._full(call.tokens, data, size, state, query)
        fields.update(fields_more)
        return Reply(200, splice(fields, opts["records_key"], raws(data, page)))

    def _full(
        self, tokens: SyncTokens, data: Snapshot, size: int, state: dict[str, Any], query: Mapping[str, str]
    ) -> tuple[list[int], dict[str, Any]]:
        # Offsets index the whole list, hidden records included, so a page token stays right
        # when records change between pages; `u` is the version the sync token will carry.
        issued_at = state.get("u", data.version)
        page, following = take(data.entries, state.get("o", 0), size, _google_filter(query))
        if following is not None:
            return page, {"nextPageToken": _encode({"o": following, "u": issued_at})}
        return page, ({"nextSyncToken": tokens.issue(issued_at)} if self.options["sync"] else {})

    @staticmethod
    def _changes(
        tokens: SyncTokens, data: Snapshot, size: int, state: dict[str, Any]
    ) -> tuple[list[int], dict[str, Any]]:
        since = tokens.version_of(state["t"])
        if since is None:
            raise BadRequest(FULL_SYNC_REQUIRED, status=410, code="fullSyncRequired")
        after = max(since, state.get("a", since))
        changed = sorted(
            (i for i, e in enumerate(data.entries) if e.version > after),
            key=lambda i: data.entries[i].version,
        )
        page = changed[:size]
        if len(changed) > size:
            return page, {"nextPageToken": _encode({"t": state["t"], "a": data.entries[page[-1]].version})}
        return page, {"nextSyncToken": tokens.issue(data.version)}

    @staticmethod
    def _state(page_token: str | None, sync_token: str | None) -> dict[str, Any]:
        if page_token:
            state = _decode(page_token)
            if state is None:
                raise BadRequest("Invalid pageToken value.", code="invalid", param="pageToken")
            return state
        return {"t": sync_token} if sync_token is not None else {}


def _encode(state: dict[str, Any]) -> str:
    return b64encode(orjson.dumps(state).decode())


def _decode(token: str) -> dict[str, Any] | None:
    """A page token's state: {"o": offset, "u": version} or {"t": sync token, "a": version}."""
    text = b64decode(token)
    try:
        state = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("t", ""), str):
        return None
    if not all(isinstance(state.get(k, 0), int) for k in "oua"):
        return None
    return state


def _rfc3339(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise BadRequest(f"Bad Request: {name} must be RFC 3339 with a time zone offset", param=name)
    return value


def _moment(value: Any) -> datetime | None:
    """A Google time: an RFC 3339 string, or an event time {"dateTime": ...} / {"date": "YYYY-MM-DD"}."""
    if isinstance(value, dict):
        value = value.get("dateTime") or value.get("date")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _google_filter(query: Mapping[str, str]) -> Callable[[Entry], bool]:
    show_deleted = query.get("showDeleted") == "true"
    time_min, time_max = _rfc3339(query, "timeMin"), _rfc3339(query, "timeMax")
    updated_min = _rfc3339(query, "updatedMin")
    ical_uid = query.get("iCalUID")
    if not (time_min or time_max or updated_min or ical_uid):
        return (lambda e: True) if show_deleted else (lambda e: not e.cancelled)

    def keep(entry: Entry) -> bool:
        if entry.cancelled and not show_deleted:
            return False
        record = entry.record if isinstance(entry.record, dict) else {}
        if ical_uid is not None and record.get("iCalUID") != ical_uid:
            return False
        checks = (
            (updated_min, record.get("updated"), operator.ge),
            (time_min, record.get("end"), operator.gt),
            (time_max, record.get("start"), operator.lt),
        )
        for bound, value, op in checks:
            moment = _moment(value) if bound else None
            if bound and moment and not op(moment, bound):
                return False
        return True

    return keep

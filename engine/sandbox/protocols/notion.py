"""Notion cursors in a POST body."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param, not_deleted, raws, take
from engine.sandbox.store import Entry, Snapshot


class NotionPostCursor(Protocol):
    """Notion cursor paging; the cursor is the id of the next page's first object.

    POST /v1/data_sources/{data_source_id}/query  {"page_size": 2, "start_cursor": "e6c6f8ff-..."}
    -> {"object": "list", "next_cursor": "2f2b...", "has_more": true,
        "type": "page_or_data_source", "page_or_data_source": {}, "results": [...]}

    `page_size` 1..100 (default 100); the last page has "next_cursor": null. A bad cursor is
    400 {"object": "error", "status": 400, "code": "validation_error", "message": "..."}.
    GET list endpoints (/v1/users, block children) take the same names as query parameters.

    Filters in the body, as Notion documents them: search's `{"property": "object", "value":
    "page" | "data_source"}`, and a data source query's timestamp filter
    `{"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": "2025-11-01T00:00:00Z"}}`
    (also `created_time`; `after`, `before`, `on_or_before`, `equals`). Property filters are not
    emulated: those records are served unfiltered.
    Options: `type` ('page_or_data_source').
    """

    name = "notion_post_cursor"
    error_style = "notion"
    defaults: ClassVar[dict[str, Any]] = {"type": "page_or_data_source"}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        source: Any = call.query if call.method == "GET" else (call.body if call.body is not None else {})
        if not isinstance(source, dict):
            raise BadRequest("body failed validation: body should be an object.")
        size = int_param(source, "page_size", 100, high=100)
        cursor = source.get("start_cursor")
        start = 0
        if cursor is not None:
            index = data.locate(cursor) if isinstance(cursor, str) else None
            if index is None or data.entries[index].deleted:
                raise BadRequest(f"start_cursor provided is invalid: {cursor}", param="start_cursor")
            start = index
        keep = _matcher(source.get("filter"))
        page, following = take(data.entries, start, size, keep)
        kind = self.options["type"]
        fields = {
            "object": "list",
            "next_cursor": None if following is None else data.cursor_of(following),
            "has_more": following is not None,
            "type": kind,
            kind: {},
        }
        return Reply(200, splice(fields, "results", raws(data, page)))


_OBJECT_VALUES = ("page", "data_source")
_TIMESTAMPS = ("last_edited_time", "created_time")
_COMPARE: dict[str, Callable[[datetime, datetime], bool]] = {
    "on_or_after": lambda value, given: value >= given,
    "after": lambda value, given: value > given,
    "on_or_before": lambda value, given: value <= given,
    "before": lambda value, given: value < given,
    "equals": lambda value, given: value == given,
}


def _moment(text: Any, name: str) -> datetime:
    if not isinstance(text, str):
        raise BadRequest(f"body failed validation: {name} should be a string.")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"body failed validation: {name} should be an ISO 8601 date: {text}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matcher(spec: Any) -> Callable[[Entry], bool]:
    """Which entries a Notion filter keeps (deleted ones never)."""
    if spec is None:
        return not_deleted
    if not isinstance(spec, dict):
        raise BadRequest("body failed validation: body.filter should be an object.")
    if spec.get("property") == "object":
        wanted = spec.get("value")
        if wanted not in _OBJECT_VALUES:
            raise BadRequest(
                f"body failed validation: body.filter.value should be `page` or `data_source`, instead was `{wanted}`."
            )
        return lambda entry: (
            not entry.deleted and isinstance(entry.record, dict) and entry.record.get("object") == wanted
        )
    timestamp = spec.get("timestamp")
    if timestamp is None:
        return not_deleted
    if timestamp not in _TIMESTAMPS:
        raise BadRequest(
            f"body failed validation: body.filter.timestamp should be one of {', '.join(_TIMESTAMPS)}."
        )
    condition = spec.get(timestamp)
    if not isinstance(condition, dict) or len(condition) != 1 or next(iter(condition)) not in _COMPARE:
        raise BadRequest(
            f"body failed validation: body.filter.{timestamp} should hold one of {', '.join(_COMPARE)}."
        )
    ((operator, raw),) = condition.items()
    given = _moment(raw, f"body.filter.{timestamp}.{operator}")
    compare = _COMPARE[operator]

    def keep(entry: Entry) -> bool:
        record = entry.record
        if entry.deleted or not isinstance(record, dict) or record.get(timestamp) is None:
            return False
        return compare(_moment(record[timestamp], timestamp), given)

    return keep

"""Notion cursors in a POST body."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param, not_deleted, raws, take
from engine.sandbox.protocols.creates import Create, Update
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
    Options: `type` ('page_or_data_source'), `max_page_size` (100, Notion's cap; a smaller one makes a
    small fixture page: larger requests are served that many records, with `has_more`).
    """

    name = "notion_post_cursor"
    error_style = "notion"
    defaults: ClassVar[dict[str, Any]] = {"type": "page_or_data_source", "max_page_size": 100}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        source: Any = call.query if call.method == "GET" else (call.body if call.body is not None else {})
        if not isinstance(source, dict):
            raise BadRequest("body failed validation: body should be an object.")
        size = min(int_param(source, "page_size", 100, high=100), int(self.options["max_page_size"]))
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


class NotionPageCreate(Create):
    """`POST /v1/pages` answered with the page object as Notion returns it: each property value
    gets its `type`, each rich text item its `plain_text` and `annotations`, the parent its `type`.

    {"parent": {"data_source_id": "248104cd-..."}, "properties": {"Name": {"title": [{"text": {"content": "Acme"}}]}}}
    -> {"object": "page", "id": "...", "parent": {"type": "data_source_id", "data_source_id": "248104cd-..."},
        "properties": {"Name": {"id": "title", "type": "title", "title": [{"type": "text", "text": {...},
                                "plain_text": "Acme", "annotations": {...}, "href": null}]}}, ...}

    Options as `create`; errors in Notion's shape.
    """

    name = "notion_page_create"
    error_style = "notion"

    def finish(self, record: dict[str, Any]) -> dict[str, Any]:
        return notion_page(record)


class NotionPageUpdate(Update):
    """`PATCH /v1/pages/{page_id}`: the received property values laid over the page's, completed
    as in `notion_page_create`; properties left out keep their values. Options as `update`."""

    name = "notion_page_update"
    error_style = "notion"

    def finish(self, record: dict[str, Any]) -> dict[str, Any]:
        return notion_page(record)


_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
_RICH_TEXT_TYPES = ("title", "rich_text")


def notion_page(record: dict[str, Any]) -> dict[str, Any]:
    """Complete a page object as Notion's responses carry it (in place; returned)."""
    parent = record.get("parent")
    if isinstance(parent, dict) and "type" not in parent:
        kind = next(
            (k for k in ("data_source_id", "page_id", "database_id", "block_id", "workspace") if k in parent),
            None,
        )
        if kind is not None:
            record["parent"] = {"type": kind, **parent}
    properties = record.get("properties")
    if isinstance(properties, dict):
        for value in properties.values():
            if not isinstance(value, dict):
                continue
            kinds = [k for k in value if k not in ("id", "type")]
            kind = value.get("type") or (kinds[0] if len(kinds) == 1 else None)
            if kind is None:
                continue
            value["type"] = kind
            if kind == "title":
                value.setdefault("id", "title")
            if kind in _RICH_TEXT_TYPES and isinstance(value.get(kind), list):
                value[kind] = [_rich_text(item) for item in value[kind]]
    return record


def _rich_text(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    text = item.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    return {
        "type": item.get("type", "text"),
        **item,
        "annotations": {**_ANNOTATIONS, **(item.get("annotations") or {})},
        "plain_text": item.get("plain_text", content if content is not None else ""),
        "href": item.get(
            "href", text.get("link", {}).get("url") if isinstance(text, dict) and text.get("link") else None
        ),
    }

"""Notion cursors in a POST body."""

from __future__ import annotations

from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param, not_deleted, raws, take
from engine.sandbox.store import Snapshot


class NotionPostCursor(Protocol):
    """Notion cursor paging; the cursor is the id of the next page's first object.

    POST /v1/data_sources/{data_source_id}/query  {"page_size": 2, "start_cursor": "e6c6f8ff-..."}
    -> {"object": "list", "next_cursor": "2f2b...", "has_more": true,
        "type": "page_or_data_source", "page_or_data_source": {}, "results": [...]}

    `page_size` 1..100 (default 100); the last page has "next_cursor": null. A bad cursor is
    400 {"object": "error", "status": 400, "code": "validation_error", "message": "..."}.
    GET list endpoints (/v1/users, block children) take the same names as query parameters.
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
        page, following = take(data.entries, start, size, not_deleted)
        kind = self.options["type"]
        fields = {
            "object": "list",
            "next_cursor": None if following is None else data.cursor_of(following),
            "has_more": following is not None,
            "type": kind,
            kind: {},
        }
        return Reply(200, splice(fields, "results", raws(data, page)))

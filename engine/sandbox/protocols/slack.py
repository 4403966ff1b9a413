"""Slack cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param, not_deleted, raws, take
from engine.sandbox.store import Snapshot


class SlackCursor(Protocol):
    """Slack cursor paging (conversations.list, users.list, conversations.history).

    GET /api/conversations.list?limit=2&cursor=bmV4dDpDMDYx
    -> {"ok": true, "response_metadata": {"next_cursor": "bmV4dDpDMDYz"}, "channels": [...]}

    The last page has "next_cursor": "". Like Slack, a bad cursor is HTTP 200 with
    {"ok": false, "error": "invalid_cursor"}. `limit` default 100, capped at 1000.
    Options: `records_key` (e.g. 'channels', 'members', 'messages'), `default_limit`,
    `max_limit`, `has_more` (false; true adds conversations.history's has_more flag).
    """

    name = "slack_cursor"
    error_style = "slack"
    defaults: ClassVar[dict[str, Any]] = {
        "records_key": "items",
        "default_limit": 100,
        "max_limit": 1000,
        "has_more": False,
    }

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        limit = int_param(
            query,
            "limit",
            self.options["default_limit"],
            high=self.options["max_limit"],
            clamp=True,
            status=200,
            code="invalid_limit",
        )
        cursor = query.get("cursor")
        start = 0
        if cursor:
            decoded = _slack_decode(cursor)
            index = data.locate(decoded[5:]) if decoded and decoded.startswith("next:") else None
            if index is None:
                raise BadRequest("invalid_cursor", status=200, code="invalid_cursor", param="cursor")
            start = index
        page, following = take(data.entries, start, limit, not_deleted)
        next_cursor = (
            ""
            if following is None
            else base64.b64encode(f"next:{data.cursor_of(following)}".encode()).decode()
        )
        fields: dict[str, Any] = {"ok": True}
        if self.options["has_more"]:
            fields["has_more"] = following is not None
        fields["response_metadata"] = {"next_cursor": next_cursor}
        return Reply(200, splice(fields, self.options["records_key"], raws(data, page)))


def _slack_decode(cursor: str) -> str | None:
    try:
        return base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, ValueError):
        return None

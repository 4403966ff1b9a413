"""Meta Graph API cursors."""

from __future__ import annotations

from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import (
    BadRequest,
    Protocol,
    b64decode,
    b64encode,
    int_param,
    not_deleted,
    raws,
    take,
)
from engine.sandbox.store import Snapshot


class GraphCursor(Protocol):
    """Meta Graph API cursor paging (Instagram media, Page posts, ...).

    GET /v21.0/17841400000/media?fields=id,caption&limit=2
    -> {"data": [{"id": "1"}, {"id": "2"}],
        "paging": {"cursors": {"before": "MQ", "after": "Mg"},
                   "next": "https://graph.facebook.com/v21.0/17841400000/media?fields=id%2Ccaption&limit=2&after=Mg"}}

    `next` (an absolute URL keeping the other parameters) is absent on the last page;
    `previous` appears once a cursor was used; an empty edge is {"data": []}.
    Options: `default_limit` (25), `max_limit` (100, larger is capped).
    """

    name = "graph_cursor"
    error_style = "graph"
    defaults: ClassVar[dict[str, Any]] = {"default_limit": 25, "max_limit": 100}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        limit = int_param(
            query, "limit", self.options["default_limit"], high=self.options["max_limit"], clamp=True
        )
        after, before = query.get("after"), query.get("before")
        if before:
            end = self._locate(data, before, "before")
            candidates = [i for i in range(end) if not data.entries[i].deleted]
            page, has_next, has_previous = candidates[-limit:], True, len(candidates) > limit
        else:
            start = self._locate(data, after, "after") + 1 if after else 0
            page, following = take(data.entries, start, limit, not_deleted)
            has_next, has_previous = following is not None, bool(after)
        if not page:
            return Reply(200, b'{"data":[]}')
        cursors = {"before": b64encode(data.cursor_of(page[0])), "after": b64encode(data.cursor_of(page[-1]))}
        paging: dict[str, Any] = {"cursors": cursors}
        if has_previous:
            paging["previous"] = call.link(before=cursors["before"], after=None)
        if has_next:
            paging["next"] = call.link(after=cursors["after"], before=None)
        return Reply(200, splice({"paging": paging}, "data", raws(data, page)))

    @staticmethod
    def _locate(data: Snapshot, cursor: str, param: str) -> int:
        decoded = b64decode(cursor)
        index = data.locate(decoded) if decoded else None
        if index is None:
            raise BadRequest(f"(#100) The {param} cursor is invalid.", code="100", param=param)
        return index

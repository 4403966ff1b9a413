"""Stripe list endpoints."""

from __future__ import annotations

import operator
from fnmatch import fnmatchcase

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param, raws, take
from engine.sandbox.store import Entry, Snapshot

_CREATED = {
    "created": operator.eq,
    "created[gt]": operator.gt,
    "created[gte]": operator.ge,
    "created[lt]": operator.lt,
    "created[lte]": operator.le,
}


class StripeList(Protocol):
    """Stripe list endpoints: object-id cursors over a newest-first list.

    GET /v1/invoices?limit=2&starting_after=in_3&created[gte]=1700000000
    -> {"object": "list", "url": "/v1/invoices", "has_more": true,
        "data": [{"id": "in_2", "object": "invoice", "created": 1700000300}, {"id": "in_1", ...}]}

    `limit` 1..100 (default 10); `type` (events: 'invoice.paid', or 'invoice.*') keeps that type; `ending_before=in_9` returns the page just newer than in_9
    (still newest first). An unknown cursor is a 400:
    {"error": {"type": "invalid_request_error", "message": "No such object: 'in_x'", "param": "starting_after"}}
    """

    name = "stripe_list"
    error_style = "stripe"
    newest_first = True

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        limit = int_param(query, "limit", 10, low=1, high=100)
        bounds = [(op, int_param(query, key, 0, low=None)) for key, op in _CREATED.items() if key in query]
        after, before = query.get("starting_after"), query.get("ending_before")
        if after and before:
            raise BadRequest(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )

        kind = query.get("type")  # /v1/events: one type, '*' a wildcard ('invoice.*')

        def keep(entry: Entry) -> bool:
            if entry.deleted:
                return False
            if kind and not (
                isinstance(entry.record, dict) and fnmatchcase(str(entry.record.get("type")), kind)
            ):
                return False
            if not bounds:
                return True
            created = entry.record.get("created") if isinstance(entry.record, dict) else None
            return isinstance(created, int) and all(op(created, value) for op, value in bounds)

        if before:
            end = self._position(data, before, "ending_before")
            candidates = [i for i in range(end) if keep(data.entries[i])]
            page, has_more = candidates[-limit:], len(candidates) > limit
        else:
            start = self._position(data, after, "starting_after") + 1 if after else 0
            page, following = take(data.entries, start, limit, keep)
            has_more = following is not None
        fields = {"object": "list", "url": call.api_path, "has_more": has_more}
        return Reply(200, splice(fields, "data", raws(data, page)))

    @staticmethod
    def _position(data: Snapshot, object_id: str, param: str) -> int:
        index = data.positions.get(object_id)
        if index is None or data.entries[index].deleted:
            raise BadRequest(f"No such object: '{object_id}'", param=param, code="resource_missing")
        return index

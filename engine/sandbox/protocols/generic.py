"""Common shapes: Link headers, offset/limit, page numbers, one object per URL."""

from __future__ import annotations

from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, json_list, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param, pages
from engine.sandbox.store import Snapshot


class LinkHeader(Protocol):
    """Page numbers with an RFC 8288 Link header (GitHub style); the body is the bare list.

    GET /repos/o/r/issues?per_page=2&page=2
    -> Link: <http://.../repos/o/r/issues?per_page=2&page=3>; rel="next",
             <http://.../repos/o/r/issues?per_page=2&page=5>; rel="last",
             <http://.../repos/o/r/issues?per_page=2&page=1>; rel="first",
             <http://.../repos/o/r/issues?per_page=2&page=1>; rel="prev"
       [{"id": 3, ...}, {"id": 4, ...}]

    `page` from 1, `per_page` default 30, capped at 100; unreadable values fall back to the
    defaults, as on GitHub. The last page has no rel="next" (a single page has no Link header).
    Options: `default_page_size` (30), `max_page_size` (100).
    """

    name = "link_header"
    error_style = "github"
    defaults: ClassVar[dict[str, Any]] = {"default_page_size": 30, "max_page_size": 100}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        page = max(_lenient_int(query.get("page"), 1), 1)
        size = min(
            max(_lenient_int(query.get("per_page"), self.options["default_page_size"]), 1),
            self.options["max_page_size"],
        )
        live = data.live
        last = max(pages(len(live), size), 1)
        links: list[tuple[str, int]] = []
        if page < last:
            links += [("next", page + 1), ("last", last)]
        if page > 1:
            links += [("first", 1), ("prev", min(page - 1, last))]
        headers = (
            {"Link": ", ".join(f'<{call.link(page=n)}>; rel="{rel}"' for rel, n in links)} if links else {}
        )
        chunk = [e.raw for e in live[(page - 1) * size : page * size]]
        return Reply(200, json_list(chunk), headers)


def _lenient_int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


class OffsetLimit(Protocol):
    """Offset and limit with a total count.

    GET /api/items?offset=200&limit=100 -> {"total": 250, "items": [...]}

    `offset` >= 0 (default 0), `limit` >= 1 (default 100, capped at `max_limit`).
    Options: `records_key` ('items'), `default_limit` (100), `max_limit` (1000).
    """

    name = "offset_limit"
    defaults: ClassVar[dict[str, Any]] = {"records_key": "items", "default_limit": 100, "max_limit": 1000}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        offset = int_param(query, "offset", 0, low=0)
        limit = int_param(
            query, "limit", self.options["default_limit"], high=self.options["max_limit"], clamp=True
        )
        live = data.live
        chunk = [e.raw for e in live[offset : offset + limit]]
        return Reply(200, splice({"total": len(live)}, self.options["records_key"], chunk))


class PageNumber(Protocol):
    """Page numbers with a page count.

    GET /api/items?page=2&per_page=50 -> {"page": 2, "total_pages": 4, "items": [...]}

    `page` >= 1 (default 1), `per_page` >= 1 (default 100, capped at `max_page_size`).
    Options: `records_key` ('items'), `default_page_size` (100), `max_page_size` (100).
    """

    name = "page_number"
    defaults: ClassVar[dict[str, Any]] = {
        "records_key": "items",
        "default_page_size": 100,
        "max_page_size": 100,
    }

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        page = int_param(query, "page", 1)
        size = int_param(
            query,
            "per_page",
            self.options["default_page_size"],
            high=self.options["max_page_size"],
            clamp=True,
        )
        live = data.live
        chunk = [e.raw for e in live[(page - 1) * size : page * size]]
        fields = {"page": page, "total_pages": pages(len(live), size)}
        return Reply(200, splice(fields, self.options["records_key"], chunk))


class Single(Protocol):
    """One object per URL, e.g. Gmail users.messages.get or Stripe's retrieve calls.

    GET /gmail/v1/users/me/messages/18c1f -> the value at fixture["me"]["18c1f"]

    The fixture leaves are objects, not lists. A missing key is a 404 in the shape named by
    the `errors` option (e.g. errors: google).
    """

    name = "single"
    holds_list = False

    def handle(self, call: Call, data: Snapshot) -> Reply:
        entry = data.single
        if entry is None or entry.deleted:
            raise BadRequest("Requested entity was not found.", status=404)
        return Reply(200, entry.raw)

"""PayPal page numbers with HATEOAS links."""

from __future__ import annotations

from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import Protocol, int_param, pages
from engine.sandbox.store import Snapshot


class PayPalPages(Protocol):
    """PayPal page/page_size paging with HATEOAS links (Invoicing v2, Transaction Search, ...).

    GET /v2/invoicing/invoices?page=1&page_size=2&total_required=true
    -> {"total_items": 5, "total_pages": 3,
        "links": [{"href": "https://api-m.paypal.com/v2/invoicing/invoices?page=1&page_size=2&total_required=true",
                   "rel": "self", "method": "GET"},
                  {"href": "...?page=2&page_size=2&total_required=true", "rel": "next", "method": "GET"}],
        "items": [...]}

    `page` >= 1, `page_size` 1..max (default 20); no `next` link on the last page.
    Options: `records_key` ('items'; Transaction Search 'transaction_details'),
    `default_page_size` (20), `max_page_size` (100).
    """

    name = "paypal_pages"
    error_style = "paypal"
    defaults: ClassVar[dict[str, Any]] = {
        "records_key": "items",
        "default_page_size": 20,
        "max_page_size": 100,
    }

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        issue = "INVALID_PARAMETER_VALUE"
        page = int_param(query, "page", 1, code=issue)
        size = int_param(
            query,
            "page_size",
            self.options["default_page_size"],
            high=self.options["max_page_size"],
            code=issue,
        )
        live = data.live
        start = (page - 1) * size
        fields: dict[str, Any] = {}
        if query.get("total_required") == "true":
            fields.update(total_items=len(live), total_pages=pages(len(live), size))
        links = [{"href": call.link(), "rel": "self", "method": "GET"}]
        if page > 1:
            links.append({"href": call.link(page=page - 1), "rel": "prev", "method": "GET"})
        if start + size < len(live):
            links.append({"href": call.link(page=page + 1), "rel": "next", "method": "GET"})
        fields["links"] = links
        chunk = [e.raw for e in live[start : start + size]]
        return Reply(200, splice(fields, self.options["records_key"], chunk))

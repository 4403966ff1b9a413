"""PayPal page numbers with HATEOAS links, and Transaction Search's required date range."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import orjson

from engine.paths import compile_path
from engine.sandbox.messages import Call, Reply, json_reply, splice
from engine.sandbox.protocols.base import Protocol, int_param, pages
from engine.sandbox.store import Entry, Snapshot


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


_RFC3339 = re.compile(
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])[Tt]([0-1][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_NOT_WELL_FORMED = "Request is not well-formed, syntactically incorrect, or violates schema."


class PayPalTransactionSearch(Protocol):
    """PayPal Transaction Search (`GET /v1/reporting/transactions`), as reporting_transactions_v1 says.

    GET /v1/reporting/transactions?start_date=2025-01-01T00:00:00Z&end_date=2025-01-31T23:59:59Z
        &fields=all&page_size=2&page=1
    -> {"transaction_details": [...], "account_number": "4VZ2ZFCXLE6Z6", "start_date": "...",
        "end_date": "...", "last_refreshed_datetime": "...", "page": 1, "total_items": 5,
        "total_pages": 3, "links": [{"href": "...", "rel": "self", "method": "GET"}, {..."rel": "next"}]}

    `start_date` and `end_date` are required, RFC 3339 with seconds, at most `max_days` (31) apart;
    otherwise 400 {"name": "INVALID_REQUEST", "message": "Request is not well-formed, ...",
    "details": [{"field": "end_date", "value": "...", "location": "query",
    "issue": "INVALID_PARAMETER_VALUE", "description": "..."}]}. Records are those whose
    `date_field` lies in [start_date, end_date]. `fields` defaults to `transaction_info` (each
    record holds only that), `all` gives everything, or a comma-separated list of parts.
    `page_size` 1..500 (default 100), `page` >= 1.
    Options: `date_field` ('transaction_info.transaction_initiation_date'), `max_days` (31),
    `account_number`, `default_page_size` (100), `max_page_size` (500).
    """

    name = "paypal_transactions"
    error_style = "paypal"
    defaults: ClassVar[dict[str, Any]] = {
        "date_field": "transaction_info.transaction_initiation_date",
        "max_days": 31,
        "account_number": "4VZ2ZFCXLE6Z6",
        "default_page_size": 100,
        "max_page_size": 500,
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._date = compile_path(str(self.options["date_field"]))

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        bounds: dict[str, datetime] = {}
        for name in ("start_date", "end_date"):
            value = query.get(name)
            if not value:
                return _invalid(name, "", "MISSING_REQUIRED_PARAMETER", f"{name} is required.")
            if not _RFC3339.match(value):
                return _invalid(
                    name, value, "INVALID_PARAMETER_SYNTAX", "Internet date and time format with seconds."
                )
            bounds[name] = _moment(value)
        start, end = bounds["start_date"], bounds["end_date"]
        if end < start:
            return _invalid(
                "end_date", query["end_date"], "INVALID_PARAMETER_VALUE", "end_date is before start_date."
            )
        if end - start > timedelta(days=int(self.options["max_days"])):
            return _invalid(
                "end_date",
                query["end_date"],
                "INVALID_PARAMETER_VALUE",
                f"The maximum supported range is {self.options['max_days']} days.",
            )
        issue = "INVALID_PARAMETER_VALUE"
        page = int_param(query, "page", 1, code=issue)
        size = int_param(
            query,
            "page_size",
            self.options["default_page_size"],
            high=self.options["max_page_size"],
            code=issue,
        )
        inside = []
        for entry in data.live:
            when = self._date(entry.record)
            if when is not None and start <= _moment(str(when)) <= end:
                inside.append(entry)
        parts = [p.strip() for p in (query.get("fields") or "transaction_info").split(",") if p.strip()]
        chunk = [_project(e, parts) for e in inside[(page - 1) * size : page * size]]
        total_pages = pages(len(inside), size)
        links = [{"href": call.link(), "rel": "self", "method": "GET"}]
        if page < total_pages:
            links.append({"href": call.link(page=page + 1), "rel": "next", "method": "GET"})
            links.append({"href": call.link(page=total_pages), "rel": "last", "method": "GET"})
        fields: dict[str, Any] = {
            "account_number": self.options["account_number"],
            "start_date": query["start_date"],
            "end_date": query["end_date"],
            "last_refreshed_datetime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "page": page,
            "total_items": len(inside),
            "total_pages": total_pages,
            "links": links,
        }
        return Reply(200, splice(fields, "transaction_details", chunk))


def _moment(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _project(entry: Entry, parts: list[str]) -> bytes:
    if "all" in parts or not isinstance(entry.record, dict):
        return entry.raw
    return orjson.dumps({k: v for k, v in entry.record.items() if k in parts})


def _invalid(field: str, value: str, issue: str, description: str) -> Reply:
    detail = {"field": field, "value": value, "location": "query", "issue": issue, "description": description}
    body = {
        "name": "INVALID_REQUEST",
        "message": _NOT_WELL_FORMED,
        "debug_id": secrets.token_hex(7),
        "details": [detail],
        "links": [
            {
                "href": "https://developer.paypal.com/docs/api/transaction-search/v1/#error-INVALID_REQUEST",
                "rel": "information_link",
                "method": "GET",
            }
        ],
    }
    return json_reply(body, 400)

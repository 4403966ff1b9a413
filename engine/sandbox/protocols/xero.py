"""Xero Accounting API list endpoints: page numbers and `If-Modified-Since`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from engine.paths import compile_path
from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param, pages
from engine.sandbox.store import Entry, Snapshot
from engine.transforms import parse_ms_json_date


def ms_json_now() -> str:
    """Now as Xero writes times: '/Date(1699999999000+0000)/'."""
    return f"/Date({int(time.time() * 1000)}+0000)/"


def envelope(provider_name: str) -> dict[str, Any]:
    """The fields every Xero Accounting response opens with."""
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": provider_name,
        "DateTimeUTC": f"/Date({int(time.time() * 1000)})/",
    }


def _since(value: str) -> datetime:
    """An If-Modified-Since value: ISO 8601 as Xero's spec shows it ('2020-02-06T12:17:43.202-08:00';
    without an offset, UTC), or an RFC 9110 HTTP-date."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            raise BadRequest(
                f"If-Modified-Since is not a date: {value!r}", code="QueryParseException"
            ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class XeroList(Protocol):
    """A Xero Accounting list (Invoices, Payments, Contacts, ...): pages of `pageSize` records.

    GET /api.xro/2.0/Invoices?page=2     (xero-tenant-id: ..., If-Modified-Since: 2024-05-01T00:00:00)
    -> {"Id": "9f1c...", "Status": "OK", "ProviderName": "Manifold Sandbox", "DateTimeUTC": "/Date(1714...)/",
        "pagination": {"page": 2, "pageSize": 100, "pageCount": 2, "itemCount": 130},
        "Invoices": [{"InvoiceID": "...", "UpdatedDateUTC": "/Date(1714550400000+0000)/", ...}, ...]}

    `page` >= 1 (default 1; a page past the end is empty), `pageSize` >= 1 (default 100, at most
    `max_page_size`). `If-Modified-Since` keeps records whose `modified_field` (a Microsoft JSON
    date) is at or after it; `IDs` (comma-separated) keeps the records with those ids (`id_field`). Options: `records_key` ('Invoices'), `modified_field`
    ('UpdatedDateUTC'), `default_page_size` (100), `max_page_size` (1000), `provider_name`.
    """

    name = "xero_list"
    error_style = "xero"
    defaults: ClassVar[dict[str, Any]] = {
        "records_key": "Items",
        "modified_field": "UpdatedDateUTC",
        "default_page_size": 100,
        "max_page_size": 1000,
        "provider_name": "Manifold Sandbox",
    }

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._modified = compile_path(str(self.options["modified_field"]))
        self._id = compile_path(str(self.options.get("id_field", "id")))

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        page = int_param(query, "page", 1, code="QueryParseException")
        size = int_param(
            query,
            "pageSize",
            self.options["default_page_size"],
            high=self.options["max_page_size"],
            code="QueryParseException",
        )
        header = call.headers.get("if-modified-since")
        live = data.live
        if query.get("IDs"):  # a comma-separated list of ids: only those records
            wanted = {i.strip().lower() for i in query["IDs"].split(",") if i.strip()}
            live = [e for e in live if str(self._id(e.record)).lower() in wanted]
        if header:
            since = _since(header)
            live = [entry for entry in live if self._changed_since(entry, since)]
        start = (page - 1) * size
        chunk = [entry.raw for entry in live[start : start + size]]
        fields = {
            **envelope(str(self.options["provider_name"])),
            "pagination": {
                "page": page,
                "pageSize": size,
                "pageCount": pages(len(live), size),
                "itemCount": len(live),
            },
        }
        return Reply(200, splice(fields, str(self.options["records_key"]), chunk))

    def _changed_since(self, entry: Entry, since: datetime) -> bool:
        value = self._modified(entry.record)
        if not isinstance(value, str):
            return False
        moment = parse_ms_json_date(value)
        return moment is not None and moment >= since

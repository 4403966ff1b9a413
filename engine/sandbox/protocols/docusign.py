"""DocuSign eSignature REST v2.1: listing envelope status changes.

GET /restapi/v2.1/accounts/{accountId}/envelopes?from_date=2025-11-01T00:00:00Z&start_position=2&count=2
-> {"resultSetSize": "2", "startPosition": "2", "endPosition": "3", "totalSetSize": "5",
    "nextUri": "/accounts/{accountId}/envelopes?...&start_position=4", "previousUri": "...",
    "envelopes": [{"envelopeId": "...", "status": "sent", "statusChangedDateTime": "...", ...}]}

`from_date` is required unless `envelope_ids` or `transaction_ids` is given (400
INVALID_REQUEST_PARAMETER); `from_to_status` (default `changed`) names the date the
`from_date`/`to_date` window applies to (changed: `statusChangedDateTime`, created:
`createdDateTime`, sent, delivered, completed, declined, voided: their `...DateTime`);
`status` keeps a comma list of current statuses (`any`: all); `order_by` (`last_modified`,
`status_changed`, `created`, `sent`, `completed`) with `order` asc/desc. `start_position` is
0-based, `count` the most to return. Counts and positions are strings, as DocuSign sends them.
Options: `default_count` (100), `max_count` (none: DocuSign documents no maximum; set one to
emulate a server-side cap, which a connector must page past using `totalSetSize`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from engine.errors import ManifoldError
from engine.sandbox.messages import Call, Reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param
from engine.sandbox.store import Entry, Snapshot
from engine.transforms import parse_timestamp

_WINDOW_FIELDS = {
    "changed": "statusChangedDateTime",
    "created": "createdDateTime",
    "sent": "sentDateTime",
    "delivered": "deliveredDateTime",
    "signed": "completedDateTime",
    "completed": "completedDateTime",
    "declined": "declinedDateTime",
    "voided": "voidedDateTime",
    "deleted": "deletedDateTime",
}
_ORDER_FIELDS = {
    "last_modified": "lastModifiedDateTime",
    "status_changed": "statusChangedDateTime",
    "created": "createdDateTime",
    "sent": "sentDateTime",
    "completed": "completedDateTime",
}


def _moment(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value) if isinstance(value, str) and value else None
    except (ValueError, ManifoldError):
        return None


def _field(entry: Entry, name: str) -> Any:
    return entry.record.get(name) if isinstance(entry.record, dict) else None


class DocuSignEnvelopes(Protocol):
    """Envelopes: listStatusChanges, paged by start_position and count (see the module docstring)."""

    name = "docusign_envelopes"
    error_style = "docusign"
    defaults: ClassVar[dict[str, Any]] = {"default_count": 100, "max_count": None}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        envelope_ids = _csv(query.get("envelope_ids"))
        transaction_ids = _csv(query.get("transaction_ids"))
        if not (query.get("from_date") or envelope_ids or transaction_ids):
            raise BadRequest(
                "The request contained at least one invalid parameter. "
                "A value for 'from_date', 'envelope_ids' or 'transaction_ids' must be set.",
                param="from_date",
            )
        window = _WINDOW_FIELDS.get((query.get("from_to_status") or "changed").lower())
        if window is None:
            raise BadRequest("Invalid value specified for from_to_status.", param="from_to_status")
        start, end = self._date(query, "from_date"), self._date(query, "to_date")
        statuses = {s.lower() for s in _csv(query.get("status"))} - {"any"}
        position = int_param(query, "start_position", 0, low=0, code="INVALID_REQUEST_PARAMETER")
        count = int_param(
            query, "count", self.options["default_count"], low=1, code="INVALID_REQUEST_PARAMETER"
        )
        if self.options["max_count"]:
            count = min(count, int(self.options["max_count"]))

        def keep(entry: Entry) -> bool:
            if envelope_ids and entry.id not in envelope_ids:
                return False
            if transaction_ids and _field(entry, "transactionId") not in transaction_ids:
                return False
            if statuses and str(_field(entry, "status") or "").lower() not in statuses:
                return False
            if start is None and end is None:
                return True
            moment = _moment(_field(entry, window))
            if moment is None:
                return False
            return (start is None or moment >= start) and (end is None or moment <= end)

        found = [e for e in data.live if keep(e)]
        order_by = query.get("order_by")
        if order_by:
            sort_field = _ORDER_FIELDS.get(order_by)
            if sort_field is None:
                raise BadRequest(f"Invalid value specified for order_by: {order_by}.", param="order_by")
            descending = (query.get("order") or "asc").lower() == "desc"
            found.sort(key=lambda e: str(_field(e, sort_field) or ""), reverse=descending)
        chunk = found[position : position + count]
        fields: dict[str, Any] = {
            "resultSetSize": str(len(chunk)),
            "startPosition": str(position),
            "endPosition": str(position + len(chunk) - 1 if chunk else position),
            "totalSetSize": str(len(found)),
        }
        more = position + len(chunk) < len(found)
        fields["nextUri"] = self._uri(call, start_position=position + len(chunk)) if more and chunk else ""
        fields["previousUri"] = self._uri(call, start_position=max(position - count, 0)) if position else ""
        return Reply(200, splice(fields, "envelopes", [e.raw for e in chunk]))

    @staticmethod
    def _date(query: dict[str, str], name: str) -> datetime | None:
        raw = query.get(name)
        if not raw:
            return None
        moment = _moment(raw)
        if moment is None:
            raise BadRequest(f"Invalid value specified for {name}.", param=name)
        return moment

    @staticmethod
    def _uri(call: Call, **changes: int) -> str:
        """DocuSign's relative URIs start at /accounts/...: the path after /restapi/v2.1."""
        link = call.link(**changes)
        marker = "/accounts/"
        return link[link.index(marker) :] if marker in link else link


def _csv(raw: str | None) -> set[str]:
    return {part.strip() for part in (raw or "").split(",") if part.strip()}

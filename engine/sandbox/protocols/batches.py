"""Several objects created or updated in one request, inside an envelope (Xero's batch writes)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from engine.paths import compile_path
from engine.sandbox.messages import Call, Reply, json_reply
from engine.sandbox.protocols.base import BadRequest
from engine.sandbox.protocols.writes import (
    WRITE_OPTIONS,
    Collection,
    WriteProtocol,
    field_names,
    merged,
    new_id,
    set_path,
)

TIMESTAMP_FORMATS = ("unix_seconds", "iso", "ms_json_date")


class BatchUpsert(WriteProtocol):
    """A POST whose body holds a list of objects under `envelope`: each one without an id (or with an
    unknown-to-the-client one left out) is created, each one carrying `id_field` updates that object.

    POST /api.xro/2.0/Invoices?summarizeErrors=false
         {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": "..."}, "LineItems": [...]},
                       {"InvoiceID": "243216c5-...", "Status": "AUTHORISED"},
                       {"Type": "ACCREC", "LineItems": [...]}]}
    -> 200 {"Id": "...", "Status": "OK", ...,
            "Invoices": [{"InvoiceID": "<new uuid>", ..., "StatusAttributeString": "OK"},
                         {"InvoiceID": "243216c5-...", "Status": "AUTHORISED", ..., "StatusAttributeString": "OK"},
                         {"Type": "ACCREC", ..., "HasErrors": true, "StatusAttributeString": "ERROR",
                          "ValidationErrors": [{"Message": "A Contact must be specified ..."}]}]}

    A new object must have every `required` path (a mapping path -> message); an update names an
    object of the collection. With `summarize_param` given as 'false', every object answers for
    itself in a 200: the valid ones are saved, a failed one comes back as sent with `failed` fields
    and its messages under `errors_field`. Otherwise any failure answers 400 in the error shape,
    with the failed objects under `elements_field`, and nothing is saved:
    {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
     "Elements": [{..., "ValidationErrors": [{"Message": "..."}]}]}

    Options: `envelope` (the list's key in request and reply, e.g. 'Invoices'), `id_field` (e.g.
    'InvoiceID'), `id_format` ('uuid', or a prefix for Stripe-like ids), `required`, `defaults`
    (under new objects), `timestamp_field` + `timestamp_format` (unix_seconds, iso, ms_json_date),
    `date_fields` (sent as ISO dates, '2025-12-01', answered in `timestamp_format`: Xero's Date),
    `summarize_param`, `errors_field`, `message_field` ('Message'), `failed`, `succeeded` (fields
    set on answered objects), `elements_field`, `reply_fields` (fields of the reply beside the
    list), `max_items`, and the write options `collection`, `idempotency_header`, `request_only`.
    """

    name = "batch_upsert"
    error_style = "xero"
    defaults: ClassVar[dict[str, Any]] = {
        **WRITE_OPTIONS,
        "envelope": "Items",
        "id_format": "uuid",
        "required": {},
        "defaults": {},
        "timestamp_field": None,
        "timestamp_format": "unix_seconds",
        "summarize_param": None,
        "errors_field": "ValidationErrors",
        "message_field": "Message",
        "failed": {},
        "succeeded": {},
        "elements_field": "Elements",
        "reply_fields": {},
        "max_items": None,
        "date_fields": [],
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        required = self.options["required"]
        if not isinstance(required, dict):
            raise ValueError("option required must map field paths to their messages")
        self._required = [(compile_path(path), str(message)) for path, message in required.items()]
        self._id_field = str(self.options.get("id_field", "id"))
        self._id_of = compile_path(self._id_field)
        if self.options["timestamp_format"] not in TIMESTAMP_FORMATS:
            raise ValueError(f"option timestamp_format must be one of {', '.join(TIMESTAMP_FORMATS)}")
        self._dates = [(name, compile_path(name)) for name in field_names(self.options, "date_fields")]
        for name in ("defaults", "failed", "succeeded", "reply_fields"):
            if not isinstance(self.options[name], dict):
                raise ValueError(f"option {name} must be a mapping of fields")

    def write(self, call: Call, collection: Collection) -> Reply:
        body = call.body if isinstance(call.body, dict) else None
        key = str(self.options["envelope"])
        items = None if body is None else body.get(key)
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise BadRequest(f"The request body must hold a list of objects under {key!r}.")
        limit = self.options["max_items"]
        if isinstance(limit, int) and len(items) > limit:
            raise BadRequest(f"At most {limit} objects may be sent in one request, not {len(items)}.")
        stamp = self._timestamp()
        results: list[tuple[dict[str, Any], list[str]]] = [
            self._one(item, collection, stamp) for item in items
        ]
        failures = [(record, errors) for record, errors in results if errors]
        summarize = self.options["summarize_param"]
        per_item = bool(summarize) and call.query.get(str(summarize), "").lower() == "false"
        if failures and not per_item:
            reply = self.error(400, "A validation exception occurred")
            shaped = orjson.loads(reply.body)
            shaped[str(self.options["elements_field"])] = [self._failed(r, e) for r, e in failures]
            return json_reply(shaped, 400)
        answered = []
        for record, errors in results:
            if errors:
                answered.append(self._failed(record, errors))
            else:
                collection.save(record)
                answered.append(merged(record, self.options["succeeded"]))
        return json_reply({**self.options["reply_fields"], key: answered})

    def _one(
        self, item: dict[str, Any], collection: Collection, stamp: Any
    ) -> tuple[dict[str, Any], list[str]]:
        """The object to save (or as sent, when it fails) and its validation messages."""
        received = {name: value for name, value in item.items() if name not in self.request_only}
        object_id = self._id_of(received)
        if object_id not in (None, ""):
            entry = collection.find(str(object_id))
            if entry is None or not isinstance(entry.record, dict):
                return received, [f"No object with {self._id_field} {object_id} exists."]
            record = merged(entry.record, received)
        else:
            errors = [message for get, message in self._required if get(received) in (None, "", [], {})]
            if errors:
                return received, errors
            record = merged(self.options["defaults"], received)
            set_path(record, self._id_field, self._new_id())
        for name, get in self._dates:
            value = get(received)
            if isinstance(value, str) and value:
                try:
                    day = datetime.fromisoformat(value).replace(tzinfo=UTC)
                except ValueError:
                    return received, [f"{name} is not a date: {value!r}."]
                set_path(record, name, self._format(day.timestamp()))
        if self.options["timestamp_field"]:
            set_path(record, str(self.options["timestamp_field"]), stamp)
        return record, []

    def _failed(self, record: dict[str, Any], errors: list[str]) -> dict[str, Any]:
        messages = [{str(self.options["message_field"]): message} for message in errors]
        return {**merged(record, self.options["failed"]), str(self.options["errors_field"]): messages}

    def _new_id(self) -> str:
        shape = str(self.options["id_format"])
        return str(uuid.uuid4()) if shape == "uuid" else new_id(shape)

    def _timestamp(self) -> Any:
        return self._format(time.time())

    def _format(self, seconds: float) -> Any:
        match self.options["timestamp_format"]:
            case "ms_json_date":
                return f"/Date({int(seconds * 1000)}+0000)/"
            case "iso":
                return datetime.fromtimestamp(int(seconds), UTC).isoformat().replace("+00:00", "Z")
            case _:
                return int(seconds)

"""Creating and updating objects with POST (or PATCH), as Stripe, PayPal and Notion do."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from engine.paths import compile_path, get_path
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


class Create(WriteProtocol):
    """A POST that creates an object and adds it to the collection (by default the GET route
    on the same path, so the next list shows it, first when that list is newest-first).

    POST /v1/payment_intents  amount=2000&currency=usd&metadata[deal_id]=d1   (Idempotency-Key: k1)
    -> 200 {"id": "pi_3Qa9...", "object": "payment_intent", "status": "requires_payment_method",
            "livemode": false, "amount": "2000", "currency": "usd", "metadata": {"deal_id": "d1"},
            "created": 1762387200}

    The object is `defaults`, the received fields laid over them (form bodies nested as Stripe
    reads them, values kept as strings), then the new id, `object` and the timestamp.
    A missing or empty `required` field is a 400 naming it, in Stripe's words:
    {"error": {"type": "invalid_request_error", "code": "parameter_missing", "param": "amount",
               "message": "Missing required param: amount."}}
    Options: `object` (the "object" field, none by default), `id_prefix` ('pi_'), `required`
    (field paths, 'a.b' for nested, 'documents.0.name' in a list), `defaults` (fields under the
    received ones), `timestamp_field` (e.g. 'created', or a list of them: now),
    `timestamp_format` ('unix' seconds; 'iso' '2025-06-01T10:00:00Z' (PayPal); 'iso_millis'; 'iso_7', DocuSign's seven decimals), `status` (200;
    PayPal and DocuSign 201), `id_format` ('random': the prefix and 24 letters and digits;
    'uuid': a GUID, DocuSign's envelopeId and Notion's ids), `reply` (the fields the reply carries, e.g.
    DocuSign's envelopeSummary [envelopeId, status, statusDateTime]; none: the whole object),
    `missing_code` and `missing_message` (the code and message of a missing required field,
    '{param}' standing for its name; DocuSign ENVELOPE_IS_INCOMPLETE), and the
    write options `collection`, `idempotency_header`, `request_only` (see `writes`).
    """

    name = "create"
    error_style = "stripe"
    defaults: ClassVar[dict[str, Any]] = {
        **WRITE_OPTIONS,
        "object": None,
        "id_prefix": "",
        "required": [],
        "defaults": {},
        "timestamp_field": None,
        "timestamp_format": "unix",
        "id_format": "random",
        "status": 200,
        "reply": None,
        "missing_code": "parameter_missing",
        "missing_message": "Missing required param: {param}.",
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        if self.options["id_format"] not in ("random", "uuid"):
            raise ValueError("option id_format must be 'random' or 'uuid'")
        self._required = [(name, compile_path(name)) for name in field_names(self.options, "required")]
        self._reply = None if self.options["reply"] is None else field_names(self.options, "reply")
        if self.options["id_format"] not in ("random", "uuid"):
            raise ValueError("option id_format must be 'random' or 'uuid'")
        self._id_field = str(self.options.get("id_field", "id"))
        self._timestamps = _timestamp_fields(self.options)
        _check(self.options)

    def finish(self, record: dict[str, Any]) -> dict[str, Any]:
        """The stored object as the provider would complete it (a subclass's hook; as is here)."""
        return record

    def write(self, call: Call, collection: Collection) -> Reply:
        received = self.received(call)
        for name, get in self._required:
            if get(received) in (None, "", [], {}):
                message = str(self.options["missing_message"]).replace("{param}", name)
                raise BadRequest(message, code=str(self.options["missing_code"]), param=name)
        stamped: dict[str, Any] = {}
        prefix = str(self.options["id_prefix"])
        made = prefix + str(uuid.uuid4()) if self.options["id_format"] == "uuid" else new_id(prefix)
        set_path(stamped, self._id_field, made)
        if self.options["object"]:
            stamped["object"] = self.options["object"]
        # id and object lead the object, as in the provider's replies, and win over the body
        record = self.finish(merged(merged(stamped, merged(self.options["defaults"], received)), stamped))
        _stamp(record, self._timestamps, self.options["timestamp_format"])
        collection.save(record)
        if self._reply is not None:
            return json_reply({name: get_path(record, name) for name in self._reply}, self.options["status"])
        return json_reply(record, self.options["status"])


class Update(WriteProtocol):
    """A POST on one object's path that changes it in the collection (by default the GET route
    at the path before the object's placeholder: /v1/invoices/{id}/finalize -> /v1/invoices).

    POST /v1/invoices/in_1/finalize  auto_advance=false      (set: {status: open})
    -> 200 {"id": "in_1", "object": "invoice", "status": "open", "auto_advance": "false", ...}

    The object is the stored one, the received fields laid over it, then `set`, then the
    timestamp; its id never changes. The last placeholder is the object's id; an unknown one is
    a 404: {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "id",
    "message": "No such invoice: 'in_x'"}}.
    Options: `object` (the noun in that message), `set` (fields the server sets, e.g.
    {status: open}), `timestamp_field` (e.g. 'status_transitions.finalized_at', or a list),
    `timestamp_format` ('unix_seconds' or 'iso'), `status` (200), `reply` (what the answer is
    instead of the object: a JSON object whose strings have '{id}' replaced by the object's id,
    e.g. PayPal's send: {href: "https://www.paypal.com/invoice/p/#{id}", rel: payer-view,
    method: GET}), and the write options `collection`, `idempotency_header`, `request_only`.
    """

    name = "update"
    error_style = "stripe"
    defaults: ClassVar[dict[str, Any]] = {
        **WRITE_OPTIONS,
        "object": "object",
        "set": {},
        "timestamp_field": None,
        "timestamp_format": "unix",
        "status": 200,
        "reply": None,
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._id_field = str(self.options.get("id_field", "id"))
        self._id_of = compile_path(self._id_field)
        self._timestamps = _timestamp_fields(self.options)
        _check(self.options)

    def collection_path(self, path: str) -> str:
        return _before_object(path, self.name)

    def finish(self, record: dict[str, Any]) -> dict[str, Any]:
        """The changed object as the provider would complete it (a subclass's hook; as is here)."""
        return record

    def write(self, call: Call, collection: Collection) -> Reply:
        param, object_id = list(call.path_params.items())[-1]
        entry = collection.find(object_id)
        if entry is None or not isinstance(entry.record, dict):
            raise BadRequest(
                f"No such {self.options['object']}: '{object_id}'",
                status=404,
                code="resource_missing",
                param=param,
            )
        record = self.finish(merged(merged(entry.record, self.received(call)), self.options["set"]))
        set_path(record, self._id_field, self._id_of(entry.record))
        _stamp(record, self._timestamps, self.options["timestamp_format"])
        collection.save(record)
        reply = self.options["reply"]
        if reply is not None:
            return json_reply(_with_id(reply, str(self._id_of(entry.record))), self.options["status"])
        return json_reply(record, self.options["status"])


def _before_object(path: str, protocol: str) -> str:
    """'/v1/invoices/{id}/finalize' -> '/v1/invoices': the collection before the object's id."""
    start = path.rfind("{")
    if start < 0:
        raise ValueError(f"a {protocol} route needs the object's id as a placeholder, e.g. {path}/{{id}}")
    return path[:start].rstrip("/")


def _timestamp_fields(options: Mapping[str, Any]) -> list[str]:
    fields = options["timestamp_field"]
    if fields is None or isinstance(fields, str):
        return [fields] if fields else []
    return field_names(options, "timestamp_field")


_ISO_STYLES = {
    "iso": lambda now: now.strftime("%Y-%m-%dT%H:%M:%SZ"),  # PayPal
    "iso_millis": lambda now: (
        now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    ),  # Notion
    "iso_7": lambda now: (
        now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    ),  # DocuSign: 2025-11-03T10:00:00.1234567Z
}
TIMESTAMP_FORMATS = ("unix", "unix_seconds", *_ISO_STYLES)


def _stamp(record: dict[str, Any], fields: list[str], style: str = "unix") -> None:
    now: Any = int(time.time())
    if style in _ISO_STYLES:
        now = _ISO_STYLES[style](datetime.now(UTC))
    for name in fields:
        set_path(record, name, now)


def _with_id(value: Any, object_id: str) -> Any:
    if isinstance(value, str):
        return value.replace("{id}", object_id)
    if isinstance(value, dict):
        return {k: _with_id(v, object_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_id(v, object_id) for v in value]
    return value


def _check(options: Mapping[str, Any]) -> None:
    if options.get("timestamp_format", "unix") not in TIMESTAMP_FORMATS:
        raise ValueError(f"option timestamp_format must be one of {', '.join(TIMESTAMP_FORMATS)}")
    for name in ("defaults", "set"):
        if name in options and not isinstance(options[name], dict):
            raise ValueError(f"option {name} must be a mapping of fields")
    status = options["status"]
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status < 300:
        raise ValueError("option status must be a 2xx status code")


class Retrieve(WriteProtocol):
    """A GET of one object of a collection (by default the GET route at the path before the
    object's placeholder), so objects a create stored are readable one by one, as on the API:

    GET /restapi/v2.1/accounts/a1/envelopes/4b72e2a4-...   (collection .../accounts/{accountId}/envelopes)
    -> 200 {"envelopeId": "4b72e2a4-...", "status": "sent", ...}

    An unknown id is a 404 in the route's error shape, with `missing_code` (e.g. DocuSign
    ENVELOPE_DOES_NOT_EXIST) and `missing_message`. Options: those two and `collection`.
    """

    name = "retrieve"
    error_style = "stripe"
    defaults: ClassVar[dict[str, Any]] = {
        **WRITE_OPTIONS,
        "missing_code": "resource_missing",
        "missing_message": "No such object: '{id}'",
    }

    def collection_path(self, path: str) -> str:
        return _before_object(path, self.name)

    def write(self, call: Call, collection: Collection) -> Reply:
        param, object_id = list(call.path_params.items())[-1]
        entry = collection.find(object_id)
        if entry is None:
            message = str(self.options["missing_message"]).replace("{id}", object_id)
            raise BadRequest(message, status=404, code=str(self.options["missing_code"]), param=param)
        return Reply(200, entry.raw)

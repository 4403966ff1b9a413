"""An accepted delivery's idempotency key and type, read as the spec's `event_id`/`event_type` say.

>>> spec = WebhooksSpec.model_validate({"verify": {"scheme": "none"}, "event_id": "id", "event_type": "type"})
>>> identify(spec, Verified("none"), {}, b'{"id": "evt_1", "type": "invoice.paid"}')
EventIdentity(id='evt_1', type='invoice.paid')
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import orjson

from ..paths import compile_path
from .errors import WebhookRejected
from .schemes import Verified, lower_headers
from .spec import EventField, EventSource, WebhooksSpec

MAX_ID = 512
_UNSET = object()


class EventIdentity(NamedTuple):
    id: str
    type: str | None


class _Body:
    """The body parsed as JSON at most once, and only if a path needs it."""

    def __init__(self, raw: bytes, parsed: Any = _UNSET):
        self.raw = raw
        self._value: Any = parsed

    @property
    def value(self) -> Any:
        if self._value is _UNSET:
            try:
                self._value = orjson.loads(self.raw)
            except orjson.JSONDecodeError:
                raise WebhookRejected("body is not JSON", 400) from None
        return self._value


def _field(source: EventSource) -> EventField:
    return source if isinstance(source, EventField) else EventField(path=source)


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text if text else None


Reader = Callable[[dict[str, str], _Body], str | None]


def _reader(source: EventSource) -> Reader:
    """Compile where a value is read (done once per receiver, not per delivery)."""
    spec = _field(source)
    if spec.value is not None:
        constant = spec.value
        return lambda headers, body: constant
    if spec.header is not None:
        name = spec.header.lower()
        return lambda headers, body: headers.get(name) or None
    if spec.body_sha256:
        return lambda headers, body: hashlib.sha256(body.raw).hexdigest()
    getters = [
        compile_path(p) for p in ([spec.path] if isinstance(spec.path, str) else list(spec.path or []))
    ]

    def read(headers: dict[str, str], body: _Body) -> str | None:
        value = body.value
        parts = [_scalar(get(value)) for get in getters]
        if not parts or any(p is None for p in parts):
            return None
        return ":".join(p for p in parts if p is not None)

    return read


class EventIdentifier:
    """A spec's `event_id`/`event_type` compiled once; `identify` per delivery."""

    def __init__(self, spec: WebhooksSpec):
        self._id = _reader(spec.event_id) if spec.event_id is not None else None
        self._type = _reader(spec.event_type) if spec.event_type is not None else None

    def identify(
        self, verified: Verified, headers: Mapping[str, str], body: bytes, parsed: Any = _UNSET
    ) -> EventIdentity:
        """The event id (400 when missing, or too long) and type (None when absent). `parsed`:
        the body already parsed as JSON, if the caller has it."""
        lowered = lower_headers(headers)
        lazy = _Body(body, parsed)
        event_id = verified.event_id
        if event_id is None and self._id is not None:
            event_id = self._id(lowered, lazy)
        if not event_id:
            raise WebhookRejected("event id not found in the delivery", 400)
        if len(event_id) > MAX_ID:
            raise WebhookRejected("event id is too long", 400)
        event_type = verified.event_type
        if event_type is None and self._type is not None:
            event_type = self._type(lowered, lazy)
        return EventIdentity(event_id, event_type)


def identify(
    spec: WebhooksSpec, verified: Verified, headers: Mapping[str, str], body: bytes
) -> EventIdentity:
    """The event id (400 when missing, or too long) and type (None when absent) of a verified delivery."""
    return EventIdentifier(spec).identify(verified, headers, body)

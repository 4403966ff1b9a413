"""An accepted delivery's idempotency key and type, read as the spec's `event_id`/`event_type` say.

>>> spec = WebhooksSpec.model_validate({"verify": {"scheme": "none"}, "event_id": "id", "event_type": "type"})
>>> identify(spec, Verified("none"), {}, b'{"id": "evt_1", "type": "invoice.paid"}')
EventIdentity(id='evt_1', type='invoice.paid')
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from ..paths import get_path
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

    def __init__(self, raw: bytes):
        self.raw = raw
        self._value: Any = _UNSET

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


def _read(source: EventSource, headers: dict[str, str], body: _Body) -> str | None:
    spec = _field(source)
    if spec.value is not None:
        return spec.value
    if spec.header is not None:
        return headers.get(spec.header.lower()) or None
    if spec.body_sha256:
        return hashlib.sha256(body.raw).hexdigest()
    paths = [spec.path] if isinstance(spec.path, str) else list(spec.path or [])
    parts = [_scalar(get_path(body.value, p)) for p in paths]
    if not parts or any(p is None for p in parts):
        return None
    return ":".join(p for p in parts if p is not None)


def identify(
    spec: WebhooksSpec, verified: Verified, headers: Mapping[str, str], body: bytes
) -> EventIdentity:
    """The event id (400 when missing, or too long) and type (None when absent) of a verified delivery."""
    lowered = lower_headers(headers)
    parsed = _Body(body)
    event_id = verified.event_id
    if event_id is None and spec.event_id is not None:
        event_id = _read(spec.event_id, lowered, parsed)
    if not event_id:
        raise WebhookRejected("event id not found in the delivery", 400)
    if len(event_id) > MAX_ID:
        raise WebhookRejected("event id is too long", 400)
    event_type = verified.event_type
    if event_type is None and spec.event_type is not None:
        event_type = _read(spec.event_type, lowered, parsed)
    return EventIdentity(event_id, event_type)

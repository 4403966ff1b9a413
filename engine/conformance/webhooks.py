"""Webhook event paths against the payload schemas a spec declares (OpenAPI 3.1 `webhooks:`, a
receiver operation, a sample payload): the event id, type and time paths, each event's
`apply.record`/`records`, and the applied stream's mapped fields in that record. Specs without
payload schemas leave webhooks unchecked."""

from __future__ import annotations

from .api_spec import ApiSpec
from .checker import Checker, Key
from .schemas import Schema, items_of
from .streams import record_paths


def check_webhooks(checker: Checker, specs: list[ApiSpec]) -> None:
    hooks = checker.spec.webhooks
    if hooks is None:
        return
    payloads = [schema for spec in specs for schema in spec.webhooks.values()]
    if not payloads:
        checker.accept(
            "webhooks", ("webhooks",), "the specs declare no webhook payloads; event paths not checked"
        )
        return
    payload = Schema.union(payloads)
    paths: list[tuple[str, Key, str]] = []
    applied: dict[tuple[str, str, str], Key] = {}
    for attr in ("event_id", "event_type"):
        value = getattr(hooks, attr, None)
        key: Key = ("webhooks", attr)
        if value is not None and not isinstance(value, str | list):
            value, key = value.path, (*key, "path")
        if isinstance(value, str) and value:
            paths.append((value, key, "event path"))
        elif isinstance(value, list):
            paths += [(p, (*key, i), "event path") for i, p in enumerate(value)]
    for event, effect in hooks.events.items():
        if effect.at:
            paths.append((effect.at, ("webhooks", "events", event, "at"), "event time path"))
        for i, apply in enumerate(effect.applies):
            at: Key = ("webhooks", "events", event, "apply") + (
                (i,) if isinstance(effect.apply, list) else ()
            )
            for attr in ("record", "records"):
                source = getattr(apply, attr)
                if source:
                    applied.setdefault((apply.stream, attr, source), (*at, attr))
    for path, key, what in paths:
        checker.record_path("webhooks", key, payload, path, what, "the event payload")
    for (stream, attr, source), key in applied.items():
        spec = checker.spec.streams.get(stream)
        found = checker.record_path(
            "webhooks", key, payload, source, "event record path", "the event payload"
        )
        if spec is None or found is None:
            continue
        record = items_of(found) if attr == "records" else found
        for path, field_key, what in record_paths(spec):
            checker.record_path(
                f"webhooks -> stream {stream}", ("streams", stream, *field_key), record, path, what
            )

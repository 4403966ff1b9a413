"""Webhook event paths against the payload schemas a spec declares (OpenAPI 3.1 `webhooks:`):
the event id, type and time paths, and each event's `apply.record`/`records`. Specs without
payload schemas leave webhooks unchecked."""

from __future__ import annotations

from .api_spec import ApiSpec
from .checker import Checker, Key
from .schemas import Schema


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
                    paths.append((source, (*at, attr), "event record path"))
    for path, key, what in paths:
        checker.record_path("webhooks", key, payload, path, what, "the event payload")

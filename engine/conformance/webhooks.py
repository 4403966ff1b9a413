"""Webhook event paths against the payload schemas a spec declares (OpenAPI 3.1 `webhooks:`, a
receiver operation, a sample payload): the event id, type and time paths, each event's
`apply.record`/`records`, and the applied stream's mapped fields in that record. Specs without
payload schemas leave webhooks unchecked.

A sample payload (DocuSign Connect's) shows fields but cannot prove a field is never sent: a
mapped field absent from a record that only a sample describes is accepted when the stream's own
response record (its REST request's schema) declares it, and a problem when that lacks it too."""

from __future__ import annotations

from .api_spec import ApiSpec
from .checker import Checker, Key
from .schemas import Schema, items_of, lookup
from .streams import record_paths

SAMPLE_FORMAT = "webhook payload sample"


def check_webhooks(
    checker: Checker, specs: list[ApiSpec], stream_records: dict[str, Schema | None] | None = None
) -> None:
    """`stream_records`: each stream's response record schema (from the stream checks), consulted
    for mapped fields a sample payload does not show."""
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
    samples = Schema.union(
        [s for spec in specs if spec.format == SAMPLE_FORMAT for s in spec.webhooks.values()]
    )
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
        sampled = bool(samples) and lookup(samples, source).status == "found"
        rest = (stream_records or {}).get(stream)
        where = f"webhooks -> stream {stream}"
        for path, field_key, what in record_paths(spec):
            if (
                sampled
                and rest is not None
                and lookup(record, path).status == "missing"
                and lookup(rest, path).status != "missing"
            ):
                checker.report.checked += 1
                checker.accept(
                    where,
                    ("streams", stream, *field_key),
                    f"{what} '{path}' is absent from the sample payload at '{source}', which cannot "
                    "prove it is never sent; the stream's response record declares it",
                )
                continue
            checker.record_path(where, ("streams", stream, *field_key), record, path, what)

"""Checks of meaning that the models alone cannot make: templates, models, parents, fixtures."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pydantic

from ..mapping import MappingError, RowMapper, compile_filter
from ..models import MODELS_DIR, ModelSpec, did_you_mean, load_models
from ..templating import ACTION_NAMES, CONNECTOR_NAMES, check_template
from .models import ConnectorSpec, RequestSpec, ServerTokenIncremental, StreamSpec
from .yaml_nodes import Path as DataPath

Problem = tuple[DataPath, str]


@functools.lru_cache(maxsize=8)
def _models(directory: Path) -> dict[str, ModelSpec]:
    """Model files are read once per process, however many specs are checked."""
    return load_models(directory)


def _templates(value: Any, path: DataPath) -> Iterator[tuple[DataPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _templates(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _templates(item, (*path, i))


def check_templates(value: Any, path: DataPath, allowed: frozenset[str] | set[str]) -> list[Problem]:
    return [
        (where, msg) for where, source in _templates(value, path) for msg in check_template(source, allowed)
    ]


def _stream_names(stream: StreamSpec) -> set[str]:
    names = set(CONNECTOR_NAMES) | {"state"}
    if stream.parent:
        names.add("parents" if stream.parent.batch else "parent")
    if stream.partitions:
        names.add("partition")
    return names


def _stream_requests(stream: StreamSpec) -> Iterator[tuple[DataPath, RequestSpec]]:
    """The stream's request and its incremental start and changes requests, where they are."""
    if stream.request is not None:
        yield ("request",), stream.request
    incremental = stream.incremental
    if isinstance(incremental, ServerTokenIncremental):
        if incremental.start is not None:
            yield ("incremental", "start", "request"), incremental.start.request
        if incremental.changes is not None:
            yield ("incremental", "changes", "request"), incremental.changes.request


def _check_stream(
    spec: ConnectorSpec, name: str, stream: StreamSpec, models: dict[str, ModelSpec]
) -> list[Problem]:
    at: DataPath = ("streams", name)
    problems: list[Problem] = []
    for where, request_spec in _stream_requests(stream):
        request = request_spec.model_dump(by_alias=True, exclude_none=True)
        problems += check_templates(request, (*at, *where), _stream_names(stream))
    if stream.incremental is not None and stream.incremental.type == "change_feed":
        feed = stream.incremental.model_dump(by_alias=True, exclude_none=True, include={"request", "start"})
        problems += check_templates(feed, (*at, "incremental"), _stream_names(stream))
    if isinstance(stream.max_records, str):
        problems += check_templates(stream.max_records, (*at, "max_records"), CONNECTOR_NAMES)
    parent_spec = spec.streams.get(stream.parent.stream) if stream.parent else None
    if stream.parent and stream.parent.incremental and parent_spec and parent_spec.incremental is None:
        problems.append(((*at, "parent", "incremental"), "the parent stream has no `incremental`"))
    try:
        compile_filter(stream.filter)
    except ValueError as exc:
        problems.append(((*at, "filter"), str(exc)))
    changes = stream.incremental.changes if isinstance(stream.incremental, ServerTokenIncremental) else None
    if changes is not None:
        try:
            compile_filter(changes.filter)
        except ValueError as exc:
            problems.append(((*at, "incremental", "changes", "filter"), str(exc)))
    if stream.parent:
        parent = stream.parent.stream
        if parent not in spec.streams:
            guess = difflib.get_close_matches(parent, list(spec.streams), n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            problems.append(((*at, "parent", "stream"), f"parent stream '{parent}' is not defined{hint}"))
        elif parent == name:
            problems.append(((*at, "parent", "stream"), "a stream cannot be its own parent"))
    if stream.into is None:
        if stream.fields:
            problems.append(((*at, "fields"), "fields given but no 'into' model to map them into"))
        return problems
    model = models.get(stream.into)
    if model is None:
        guess = difflib.get_close_matches(stream.into, list(models), n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        problems.append(((*at, "into"), f"model '{stream.into}' does not exist in schemas/models/{hint}"))
        return problems
    try:
        RowMapper(model, stream.mapped_fields(), spec.name)
    except MappingError as exc:
        problems.append(((*at, "fields"), str(exc)))
    if stream.disposition == "merge":
        unmapped = [k for k in model.primary_key if k not in stream.mapped_fields()]
        if unmapped:
            problems.append(
                ((*at, "fields"), f"merge needs the model's key column(s) mapped: {', '.join(unmapped)}")
            )
    return problems


def _parent_cycles(spec: ConnectorSpec) -> list[Problem]:
    problems: list[Problem] = []
    for name in spec.streams:
        seen = [name]
        current = spec.streams[name]
        while current.parent and current.parent.stream in spec.streams:
            nxt = current.parent.stream
            if nxt in seen:
                chain = " -> ".join([*seen, nxt])
                problems.append((("streams", name, "parent"), f"parent streams form a cycle: {chain}"))
                break
            seen.append(nxt)
            current = spec.streams[nxt]
    return problems


def _check_actions(spec: ConnectorSpec) -> list[Problem]:
    """Action templates use the names actions have; results land through a loading stream; the
    input schema is a valid JSON Schema."""
    problems: list[Problem] = []
    for name, action in spec.actions.items():
        where: tuple[str | int, ...] = ("actions", name)
        requests = action.model_dump(by_alias=True, include={"request", "then", "idempotency", "result"})
        problems += check_templates(requests, where, ACTION_NAMES)
        problems += check_templates(action.result.merge, (*where, "result", "merge"), ACTION_NAMES)
        stream = action.result.apply
        if stream is not None and (spec.streams.get(stream) is None or spec.streams[stream].into is None):
            problems.append(
                (
                    (*where, "result", "apply"),
                    f"no stream '{stream}' with `into`{did_you_mean(stream, list(spec.streams))}",
                )
            )
        try:
            jsonschema.Draft202012Validator.check_schema(action.input)
        except jsonschema.SchemaError as exc:
            problems.append(((*where, "input"), f"not a valid JSON Schema: {exc.message}"))
    return problems


def _check_pushes(spec: ConnectorSpec, models: dict[str, ModelSpec]) -> list[Problem]:
    """Pushes read a known model and go through actions of this connector."""
    problems: list[Problem] = []
    for name, push in spec.pushes.items():
        where: tuple[str | int, ...] = ("pushes", name)
        if push.source.model not in models:
            problems.append(
                (
                    (*where, "from", "model"),
                    f"no model '{push.source.model}'{did_you_mean(push.source.model, models)}",
                )
            )
        for key, action in (("action", push.action), ("update_action", push.update_action)):
            if action is not None and action not in spec.actions:
                problems.append(
                    ((*where, key), f"no action '{action}'{did_you_mean(action, list(spec.actions))}")
                )
        names = frozenset({"row", "remote", "config"})
        problems += check_templates(push.input, (*where, "input"), names)
        problems += check_templates(push.update_input or {}, (*where, "update_input"), names)
        if push.remote_of is not None and push.remote_of not in spec.pushes:
            problems.append(
                (
                    (*where, "remote_of"),
                    f"no push '{push.remote_of}'{did_you_mean(push.remote_of, list(spec.pushes))}",
                )
            )
    return problems


def _check_event_streams(spec: ConnectorSpec, models: dict[str, ModelSpec] | None = None) -> list[Problem]:
    """`webhooks.events` name streams of this connector; applied ones must load into a model."""
    problems: list[Problem] = []
    assert spec.webhooks is not None
    known = list(spec.streams)
    for event_type, effect in spec.webhooks.events.items():
        where: tuple[str | int, ...] = ("webhooks", "events", event_type)
        for i, apply in enumerate(effect.applies):
            at = (*where, "apply", i) if isinstance(effect.apply, list) else (*where, "apply")
            stream = spec.streams.get(apply.stream)
            if stream is None:
                problems.append(
                    ((*at, "stream"), f"no stream '{apply.stream}'{did_you_mean(apply.stream, known)}")
                )
            elif stream.into is None:
                problems.append(((*at, "stream"), f"stream '{apply.stream}' has no `into` model to apply to"))
            elif apply.fields and models is not None and stream.into in models:
                from ..webhooks.apply import override_fields

                try:
                    RowMapper(
                        models[stream.into], override_fields(stream.mapped_fields(), apply.fields), spec.name
                    )
                except (MappingError, pydantic.ValidationError) as exc:
                    problems.append(((*at, "fields"), str(exc)))
        for name in effect.sync.streams if effect.sync else []:
            if name not in spec.streams:
                problems.append(
                    ((*where, "sync", "streams"), f"no stream '{name}'{did_you_mean(name, known)}")
                )
    return problems


def check_meaning(spec: ConnectorSpec, path: Path, models_dir: Path | None = None) -> list[Problem]:
    problems: list[Problem] = []
    problems += check_templates(spec.base_url, ("base_url",), CONNECTOR_NAMES)
    auth = spec.auth.model_dump(by_alias=True)
    post_connect = auth.pop("post_connect", None) or []
    refresh = auth.pop("refresh", None)
    problems += check_templates(auth, ("auth",), CONNECTOR_NAMES)
    problems += check_templates(refresh, ("auth", "refresh"), CONNECTOR_NAMES | {"token"})
    problems += check_templates(
        post_connect, ("auth", "post_connect"), CONNECTOR_NAMES | {"token", "account"}
    )
    problems += check_templates(spec.http.headers, ("http", "headers"), CONNECTOR_NAMES)
    if spec.webhooks is not None:
        problems += check_templates(spec.webhooks.model_dump(by_alias=True), ("webhooks",), CONNECTOR_NAMES)
    problems += _check_actions(spec)
    models = _models((models_dir or MODELS_DIR).resolve())
    problems += _check_pushes(spec, models)
    if spec.webhooks is not None:
        problems += _check_event_streams(spec, models)
    for name, stream in spec.streams.items():
        problems += _check_stream(spec, name, stream, models)
    problems += _parent_cycles(spec)
    if spec.sandbox:
        for i, route in enumerate(spec.sandbox.routes):
            if not (path.parent / route.fixture).is_file():
                problems.append(
                    (("sandbox", "routes", i, "fixture"), f"fixture file '{route.fixture}' does not exist")
                )
    return problems

"""`docs/spec-reference.md`, generated from the spec models: every key, type, default and description."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .models import ConnectorSpec

REFERENCE_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "spec-reference.md"

INTRO = """\
# Connector spec reference

Generated from `engine/spec/models.py` by `make docs`; do not edit by hand (a test
fails when it is stale). A connector is one YAML file in `connectors/` that starts with
`# yaml-language-server: $schema=../schemas/connector.schema.json`.

Strings marked *template* are Jinja2, rendered once per run, partition or parent record
(never per record). Names: `config`, `env`, `secrets`, `connection`, `now`, and in stream
requests also `state`, `parent` (substreams) and `partition` (partitioned streams).
Filters beyond Jinja's own: `unix_seconds`, `iso`, `b64encode`, `b64urlencode` (URL-safe, unpadded),
`mime_message(text=..., html=...)` (a dict of headers -> an RFC 2822 message with CRLF line ends).
"""


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        args = get_args(annotation)
        meta = [a for a in args[1:] if getattr(a, "description", None)]
        if meta and "Jinja2" in (meta[0].description or ""):
            return "template"
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in get_args(annotation))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {_type_name(key)} to {_type_name(value)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += _models_in(arg)
    return found


def _default(info: Any) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()
        if isinstance(value, BaseModel):
            return "(defaults)"
        return f"`{value!r}`"
    if info.default is PydanticUndefined:
        return ""
    return f"`{info.default!r}`"


def _section(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    lines = [
        f"## {model.__name__}",
        "",
        doc,
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for name, info in model.model_fields.items():
        key = info.alias or name
        description = (info.description or "").replace("|", "\\|").replace("\n", " ")
        kind = _type_name(info.annotation).replace("|", "\\|")
        lines.append(f"| `{key}` | {kind} | {_default(info)} | {description} |")
    return "\n".join(lines) + "\n"


def render_reference() -> str:
    seen: list[type[BaseModel]] = []
    queue: list[type[BaseModel]] = [ConnectorSpec]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            queue += [m for m in _models_in(info.annotation) if m not in seen]
    return INTRO + "\n" + "\n".join(_section(m) for m in seen)

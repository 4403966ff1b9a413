"""Which section of docs/spec-reference.md a spec path is about, so errors can point there.

    >>> section_for("streams.invoices.paging")
    'docs/spec-reference.md#streamspec'
    >>> section_for("sandbox.routes[2].options")
    'docs/spec-reference.md#sandboxroute'
    >>> section_for("auth.post_connect[0].store")
    'docs/spec-reference.md#connectorspec'

A path descends through the spec models while each step names one model (a field, a map's key,
a list's index); at a union (paging kinds, auth types) or a plain value it stops: the section is
the last model reached.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from ..errors import REFERENCE
from .models import ConnectorSpec

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _one_model(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """(model, container) of an annotation: container is '', 'dict' or 'list'; None: not one model."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _one_model(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _one_model(options[0]) if len(options) == 1 else (None, "")
    if origin is dict:
        model, _ = _one_model(get_args(annotation)[1])
        return model, "dict"
    if origin is list:
        model, _ = _one_model(get_args(annotation)[0])
        return model, "list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    return None, ""


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info.annotation
    return None


def section_for(path: str) -> str:
    model: type[BaseModel] = ConnectorSpec
    steps = [m.group(1) or m.group(2) for m in _STEP.finditer(path)]
    index = 0
    while index < len(steps):
        annotation = _field(model, steps[index])
        if annotation is None:
            break
        found, container = _one_model(annotation)
        if found is None:
            break
        index += 2 if container else 1  # a map's key or a list's index follows its field
        if container and index > len(steps):
            break
        model = found
    return f"{REFERENCE}#{model.__name__.lower()}"

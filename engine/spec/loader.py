"""Load connector specs: YAML -> validated ConnectorSpec, or every problem with file:line:column.

A spec is checked in layers, and every problem of every layer is reported at once:
YAML syntax, the schema line, the models (unknown keys with a suggestion, wrong types,
missing keys), then meaning (templates, models and columns, parent streams, the config
schema, env vars of an enabled connector).
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ValidationError

from ..errors import Location, SpecError, SpecProblem
from .checks import check_meaning
from .models import ConnectorSpec
from .yaml_nodes import Path as DataPath
from .yaml_nodes import Positions, parse_with_positions

SCHEMA_LINE = "# yaml-language-server: $schema="
TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LoadedConnector:
    """A validated spec and where it came from."""

    spec: ConnectorSpec
    path: Path
    positions: Positions

    @property
    def directory(self) -> Path:
        return self.path.parent


def is_enabled(spec: ConnectorSpec, environ: Mapping[str, str] | None = None) -> bool:
    """A connector with a feature flag is on only when the flag env var is truthy."""
    if spec.flag is None:
        return True
    environ = os.environ if environ is None else environ
    return environ.get(spec.flag, "").strip().lower() in TRUTHY


def missing_env(spec: ConnectorSpec, environ: Mapping[str, str]) -> list[str]:
    return [name for name in spec.env if not environ.get(name)]


# ---------------------------------------------------------------- pydantic errors -> problems


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes (or containers) an annotation may hold."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(annotation):
            out += _unwrap(arg)
        return out
    return [annotation]


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk ConnectorSpec's annotations along a pydantic error location."""
    current: list[Any] = [ConnectorSpec]
    for part in loc:
        following: list[Any] = []
        for candidate in current:
            origin = get_origin(candidate)
            if origin is dict:
                following += _unwrap(get_args(candidate)[1])
            elif origin is list:
                following += _unwrap(get_args(candidate)[0])
            elif isinstance(candidate, type) and issubclass(candidate, BaseModel):
                for name, info in candidate.model_fields.items():
                    if part in (name, info.alias):
                        following += _unwrap(info.annotation)
                tag = candidate.model_fields.get("type")
                if tag is not None and part in get_args(tag.annotation):
                    following.append(candidate)  # a discriminated-union tag step
        current = following
    models = [c for c in current if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if models else None


def _data_path(loc: tuple[Any, ...], data: Any) -> DataPath:
    """The error location with union-tag steps (not present in the data) dropped."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            node = node[part]
            path.append(part)
    return tuple(path)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problems(exc: ValidationError, data: Any, file: str, positions: Positions) -> list[SpecProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        kind = error["type"]
        path = _data_path(loc, data)
        dotted = ".".join(str(p) for p in path)
        if kind == "extra_forbidden":
            key = str(loc[-1])
            path = _data_path(loc[:-1], data)
            model = _model_at(loc[:-1])
            allowed = _field_names(model) if model else []
            guess = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            message = f"unknown key '{key}'{hint} Expected one of: {', '.join(allowed)}"
            where = positions.find((*path, key), key=True)
            dotted = ".".join(str(p) for p in (*path, key))
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'"
            where = positions.find(path, key=True)
        elif kind == "union_tag_invalid":
            ctx = error.get("ctx", {})
            message = f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
            where = positions.find((*path, "type"))
        elif kind == "union_tag_not_found":
            message = "missing 'type' key that says which kind this is"
            where = positions.find(path)
        else:
            message = f"{error['msg']}; got {_describe(error.get('input'))}"
            where = positions.find(path)
        line, column = where if where else (None, None)
        problems.append(SpecProblem(Location(file, line, column), message, dotted))
    return problems


# ---------------------------------------------------------------- loading


def _parse(path: Path, text: str) -> tuple[Any, Positions, list[SpecProblem]]:
    file = str(path)
    problems: list[SpecProblem] = []
    first = text.splitlines()[0] if text else ""
    if not first.startswith(SCHEMA_LINE):
        problems.append(
            SpecProblem(
                Location(file, 1, 1),
                f"the first line must be '{SCHEMA_LINE}../schemas/connector.schema.json' "
                "so editors autocomplete and check the file",
            )
        )
    try:
        data, positions = parse_with_positions(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problems.append(SpecProblem(Location(file, line, column), f"YAML syntax error: {exc.problem}"))
        return None, Positions(), problems
    if not isinstance(data, dict):
        problems.append(SpecProblem(Location(file, 1, 1), "a connector spec must be a YAML mapping"))
    return data, positions, problems


def load_connector(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    check_env: bool = True,
    models_dir: Path | None = None,
) -> LoadedConnector:
    """Load and check one spec; raises SpecError listing every problem."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecProblem(Location(file), f"cannot read file: {exc.strerror}")]) from None
    data, positions, problems = _parse(path, text)
    if not isinstance(data, dict):
        raise SpecError(problems)
    try:
        spec = ConnectorSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems + _pydantic_problems(exc, data, file, positions)) from None
    if path.stem != spec.name:
        where = positions.find(("name",))
        problems.append(
            SpecProblem(
                Location(file, *(where or (None, None))),
                f"name '{spec.name}' must match the file name '{path.stem}'",
            )
        )
    try:
        Draft202012Validator.check_schema(spec.config)
    except SchemaError as exc:
        where = positions.find(("config", *exc.path))
        problems.append(
            SpecProblem(
                Location(file, *(where or (None, None))), f"config is not a valid JSON Schema: {exc.message}"
            )
        )
    for data_path, message in check_meaning(spec, path, models_dir):
        where = positions.find(data_path)
        dotted = ".".join(str(p) for p in data_path)
        problems.append(SpecProblem(Location(file, *(where or (None, None))), message, dotted))
    environ = os.environ if environ is None else environ
    if check_env and is_enabled(spec, environ):
        for name in missing_env(spec, environ):
            where = positions.find(("env",))
            flag = f" (it is enabled: {spec.flag} is set)" if spec.flag else ""
            problems.append(
                SpecProblem(
                    Location(file, *(where or (None, None))),
                    f"env var {name} is required by this connector{flag} but is not set",
                    "env",
                )
            )
    if problems:
        raise SpecError(problems)
    return LoadedConnector(spec, path, positions)


def connector_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their *.yaml files."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    return files


def load_connectors(
    paths: Iterable[str | Path], *, environ: Mapping[str, str] | None = None, check_env: bool = True
) -> list[LoadedConnector]:
    """Load many specs; raises one SpecError with the problems of every file."""
    loaded, problems = [], []
    for file in connector_files(paths):
        try:
            loaded.append(load_connector(file, environ=environ, check_env=check_env))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        raise SpecError(problems)
    return loaded

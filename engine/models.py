"""Unified models: the warehouse tables every provider's streams map into.

One model per file in `schemas/models/<name>.yaml`:

```yaml
name: invoices
description: Bills sent to customers, from any provider (Stripe, PayPal, Xero).
primary_key: [id]
columns:
  id: {type: string, description: Provider's invoice id}
  amount_due: {type: decimal}
  created_at: {type: timestamp}
```

The engine adds five system columns to every table (`_provider`, `_connection_id`,
`_synced_at`, `_version`, `_raw`), and a table's key is `(_provider, _connection_id, *primary_key)`,
so Stripe and PayPal rows, and two Stripe accounts, never collide.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.errors import Location, ManifoldError, SpecProblem

MODELS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "models"

ColumnType = Literal[
    "string", "integer", "float", "decimal", "boolean", "timestamp", "date", "json", "string_list"
]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)

# Money: DECIMAL(18, 2). One place to widen it (3-decimal currencies such as KWD are rounded).
DECIMAL_PRECISION = 18
DECIMAL_SCALE = 2

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "decimal": pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),  # a JSON document, serialised
    "string_list": pa.list_(pa.string()),
}

# Arrow field metadata that marks a `json` column (its Arrow type is a plain string).
JSON_FIELD_METADATA = {"type": "json"}

PROVIDER_COLUMN = "_provider"
CONNECTION_COLUMN = "_connection_id"
SYNCED_AT_COLUMN = "_synced_at"
VERSION_COLUMN = "_version"
RAW_COLUMN = "_raw"

_NAME = r"^[a-z][a-z0-9_]*$"


class ModelError(ManifoldError):
    """One or more model files are invalid; each problem says file:line and what was expected."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in unified models:\n{lines}")


def did_you_mean(word: str, choices: Any) -> str:
    """ " (did you mean 'x'?)" for the closest choice, or ''."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ColumnSpec(BaseModel):
    """One column of a unified model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ColumnType = Field(description="Column type: " + ", ".join(COLUMN_TYPES) + ".")
    description: str = ""

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if value not in COLUMN_TYPES:
            raise PydanticCustomError(
                "column_type",
                "unknown column type {value}{hint}; expected one of: {types}",
                {
                    "value": repr(value),
                    "hint": did_you_mean(str(value), COLUMN_TYPES),
                    "types": ", ".join(COLUMN_TYPES),
                },
            )
        return value

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]

    def field_metadata(self) -> dict[str, str] | None:
        """The Arrow field's metadata: the description, and `type: json` (a JSON column's Arrow
        type is a plain string; destinations with a JSON type, e.g. Postgres jsonb, read this)."""
        metadata = {"description": self.description} if self.description else {}
        if self.type == "json":
            metadata.update(JSON_FIELD_METADATA)
        return metadata or None


def is_json_field(field: pa.Field) -> bool:
    """A `json` column of a model's Arrow schema (see `ColumnSpec.field_metadata`)."""
    return (field.metadata or {}).get(b"type") == JSON_FIELD_METADATA["type"].encode()


SYSTEM_COLUMNS: dict[str, ColumnSpec] = {
    PROVIDER_COLUMN: ColumnSpec(type="string", description="Connector that wrote the row, e.g. 'stripe'."),
    CONNECTION_COLUMN: ColumnSpec(type="string", description="Connection (account) the row came from."),
    SYNCED_AT_COLUMN: ColumnSpec(type="timestamp", description="When the row was last written (UTC)."),
    VERSION_COLUMN: ColumnSpec(
        type="timestamp",
        description="When the row's state was current at the provider: the fetch time of a sync, the "
        "event time of a webhook. A write with an older version never replaces a newer row.",
    ),
    RAW_COLUMN: ColumnSpec(type="json", description="The source record, as JSON."),
}


class ModelSpec(BaseModel):
    """A unified model: one warehouse table that many providers fill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME, description="Table name, plural snake_case, e.g. 'invoices'.")
    description: str = Field(min_length=1)
    primary_key: list[str] = Field(
        min_length=1, description="Columns that identify a row within a connection."
    )
    columns: dict[str, ColumnSpec] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        for name in columns:
            if not isinstance(name, str) or not re.fullmatch(_NAME, name):
                raise PydanticCustomError(
                    "column_name",
                    "column name {name} must be snake_case and not start with '_' "
                    "(system columns are added by the engine)",
                    {"name": repr(name), "loc": ("columns", name)},
                )
        return columns

    @model_validator(mode="after")
    def _key_in_columns(self) -> ModelSpec:
        for index, column in enumerate(self.primary_key):
            if column not in self.columns:
                raise PydanticCustomError(
                    "primary_key",
                    "primary key column {column} is not in columns{hint}",
                    {
                        "column": repr(column),
                        "hint": did_you_mean(column, self.columns),
                        "loc": ("primary_key", index),
                    },
                )
        return self

    @property
    def table_key(self) -> list[str]:
        """The warehouse key: `[_provider, _connection_id, *primary_key]`."""
        return [PROVIDER_COLUMN, CONNECTION_COLUMN, *self.primary_key]

    @property
    def all_columns(self) -> dict[str, ColumnSpec]:
        """Model columns, then the system columns: the table's column order."""
        return {**self.columns, **SYSTEM_COLUMNS}

    def arrow_schema(self, *, system: bool = True) -> pa.Schema:
        """The table's Arrow schema: model columns then (by default) the system columns.

        Key columns are non-nullable; descriptions (and json-ness) travel as field metadata.
        """
        columns = self.all_columns if system else self.columns
        key = set(self.table_key)
        fields = [
            pa.field(
                name,
                column.arrow_type,
                nullable=name not in key,
                metadata=column.field_metadata(),
            )
            for name, column in columns.items()
        ]
        return pa.schema(fields, metadata={"model": self.name, "description": self.description})


# ---------------------------------------------------------------- loading


def load_models(directory: Path = MODELS_DIR) -> dict[str, ModelSpec]:
    """Load every `*.yaml` model in `directory`, keyed by name.

    All files are checked before anything is returned: problems are collected and raised
    together as one `ModelError`, each with file:line:column.
    """
    models: dict[str, ModelSpec] = {}
    problems: list[SpecProblem] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ModelError([SpecProblem(Location(str(directory)), "no *.yaml model files found")])
    for path in files:
        model, found = _load_file(path)
        problems.extend(found)
        if model is not None:
            models[model.name] = model
    if problems:
        raise ModelError(problems)
    return models


def load_model(path: Path) -> ModelSpec:
    """Load one model file; raises `ModelError` with file:line on any problem."""
    model, problems = _load_file(path)
    if problems or model is None:
        raise ModelError(problems)
    return model


def _load_file(path: Path) -> tuple[ModelSpec | None, list[SpecProblem]]:
    file = _display(path)
    try:
        loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        return None, [SpecProblem(where, f"invalid YAML: {exc.problem}")]
    if root is None or not isinstance(data, dict):
        return None, [
            SpecProblem(
                Location(file, 1, 1), "expected a mapping with name, description, primary_key, columns"
            )
        ]

    problems = _duplicate_keys(file, root)
    try:
        model = ModelSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            ctx = error.get("ctx") or {}
            loc = tuple(ctx.get("loc", error["loc"]))
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                allowed = ColumnSpec.model_fields if loc[0] == "columns" else ModelSpec.model_fields
                key = str(loc[-1])
                message = (
                    f"unknown key {key!r}{did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}"
                )
            problems.append(_problem(file, root, loc, message))
        return None, problems
    if model.name != path.stem:
        problems.append(
            _problem(
                file, root, ("name",), f"model name {model.name!r} must match its file name {path.stem!r}"
            )
        )
    return (None if problems else model), problems


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _problem(file: str, root: yaml.Node, loc: tuple[Any, ...], message: str) -> SpecProblem:
    node = _node_at(root, loc)
    mark = node.start_mark
    return SpecProblem(Location(file, mark.line + 1, mark.column + 1), message, ".".join(str(p) for p in loc))


def _node_at(node: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    """The deepest YAML node along `loc` (a pydantic error location)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    node = value
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _duplicate_keys(file: str, node: yaml.Node) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                mark = key.start_mark
                problems.append(
                    SpecProblem(
                        Location(file, mark.line + 1, mark.column + 1), f"duplicate key {key.value!r}"
                    )
                )
            seen.add(key.value)
            problems.extend(_duplicate_keys(file, value))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems.extend(_duplicate_keys(file, item))
    return problems

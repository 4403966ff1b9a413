"""Compiled row mapping: a page of records -> an Arrow table of one unified model.

A stream's `fields` are compiled once into one small plan per column (a path getter,
a bound transform, a default, the column type's coercion). Mapping a page then runs
one list comprehension per column over the records and hands each list to Arrow: no
templates, no path parsing, no per-record dicts.

```yaml
fields:
  id: id                                         # a plain path
  amount_due: {path: amount_due, as: cents}      # a path and a transform
  customer_email: {coalesce: [customer_email, customer.email]}
  kind: {value: charge}                          # a constant
  status: {path: status, as: lower, default: open}
```

Values a column's type cannot hold are coerced by the type (ISO text into a timestamp
column, numeric text into a decimal column...) and otherwise raise `CastError`, naming
the column, the mapping and the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from engine.errors import ManifoldError
from engine.models import (
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    SYNCED_AT_COLUMN,
    SYSTEM_COLUMNS,
    VERSION_COLUMN,
    ColumnSpec,
    ModelSpec,
    did_you_mean,
)
from engine.paths import Getter, compile_path, split_path
from engine.spec.models import FieldMapping, RecordFilter
from engine.transforms import (
    TRANSFORMS,
    CompiledTransform,
    Convert,
    TransformSpecError,
    compile_transform,
    parse_date,
    parse_decimal,
    parse_email_date,
    parse_timestamp,
    preview,
    to_boolean,
    to_float,
    to_integer,
    to_json,
    to_string,
    to_string_list,
)

Record = dict[str, Any]


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field mapping; `key` is the mapping's key at fault ('as', 'args'...)."""

    field: str
    message: str
    key: str = ""

    def __str__(self) -> str:
        where = f"fields.{self.field}" + (f".{self.key}" if self.key else "")
        return f"{where}: {self.message}"


class MappingError(ManifoldError, ValueError):
    """A stream's `fields` don't fit its model; raised when the mapping is compiled."""

    def __init__(self, provider: str, model: str, problems: list[FieldProblem]):
        self.provider = provider
        self.model = model
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{provider} -> {model}: {len(problems)} problem(s) in field mapping:\n{lines}")


class CastError(ManifoldError, ValueError):
    """A record's value could not be mapped into its column."""

    def __init__(self, model: str, column: str, source: str, index: int | None, record_key: str, reason: str):
        self.model = model
        self.column = column
        self.index = index
        where = f"record {index}" if index is not None else "a record"
        if record_key:
            where += f" ({record_key})"
        super().__init__(f"{model}.{column} ({source}), {where}: {reason}")


# ---------------------------------------------------------------- filters


def compile_filter(spec: RecordFilter | None) -> Callable[[Record], bool] | None:
    """A record predicate from a stream's `filter`, or None when there is none.

    Conditions are and-ed; `true` never equals `1`.

    >>> keep = compile_filter(RecordFilter(field="object", equals="charge"))
    >>> keep({"object": "charge"}), keep({"object": "refund"})
    (True, False)
    """
    if spec is None:
        return None
    get = compile_path(spec.field)
    given = spec.model_fields_set
    checks: list[Callable[[Any], bool]] = []
    if "equals" in given:
        checks.append(_equals(spec.equals))
    if "not_equals" in given:
        differs = _equals(spec.not_equals)
        checks.append(lambda value: not differs(value))
    if "in_" in given:
        checks.append(_one_of(spec.in_ or []))
    if "not_in" in given:
        outside = _one_of(spec.not_in or [])
        checks.append(lambda value: not outside(value))
    if not checks:
        raise ValueError(f"filter on {spec.field!r} needs one of: equals, not_equals, in, not_in")
    if len(checks) == 1:
        check = checks[0]
        return lambda record: check(get(record))
    return lambda record: all(check(value) for value in [get(record)] for check in checks)


def _equals(wanted: Any) -> Callable[[Any], bool]:
    is_bool = isinstance(wanted, bool)
    return lambda value: value == wanted and isinstance(value, bool) is is_bool


def _one_of(values: list[Any]) -> Callable[[Any], bool]:
    tests = [_equals(v) for v in values]
    return lambda value: any(test(value) for test in tests)


# ---------------------------------------------------------------- column coercion

_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_DECIMAL_LIMIT = Decimal(10) ** (DECIMAL_PRECISION - DECIMAL_SCALE)


def _to_column_decimal(value: Any) -> Decimal | None:
    number = parse_decimal(value)
    if number is None:
        return None
    try:
        number = number.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        number = _DECIMAL_LIMIT
    if abs(number) >= _DECIMAL_LIMIT:
        raise ValueError(f"does not fit DECIMAL({DECIMAL_PRECISION}, {DECIMAL_SCALE})")
    return number


def _to_column_timestamp(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        if value.__class__ is str:
            return parse_email_date(value)  # e.g. an email Date header
        raise


# How a column type stores a value that is not already of its type (nulls never get here).
_COERCE: dict[str, Convert] = {
    "string": to_string,
    "integer": to_integer,
    "float": to_float,
    "decimal": _to_column_decimal,
    "boolean": to_boolean,
    "timestamp": _to_column_timestamp,
    "date": parse_date,
    "json": to_json,
    "string_list": to_string_list,
}

# Types Arrow takes as-is and checks itself: try Arrow first, coerce in Python if it refuses.
_ARROW_FIRST = frozenset({"string", "decimal"})

# Transform output type -> column types it can be stored in (string output is parsed).
_STORABLE: dict[str, frozenset[str]] = {
    "integer": frozenset({"integer", "float", "decimal", "boolean", "string", "json"}),
    "float": frozenset({"float", "decimal", "integer", "string", "json"}),
    "decimal": frozenset({"decimal", "float", "integer", "string", "json"}),
    "boolean": frozenset({"boolean", "string", "json"}),
    "timestamp": frozenset({"timestamp", "date", "string", "json"}),
    "date": frozenset({"date", "timestamp", "string", "json"}),
    "json": frozenset({"json", "string"}),
    "string_list": frozenset({"string_list", "json"}),
}


def _coercion(column_type: str) -> CompiledTransform:
    return CompiledTransform(f"{column_type} column", {}, column_type, False, _COERCE[column_type])


# ---------------------------------------------------------------- columns


_UNSET: Any = object()


def _no_value(record: Any) -> Any:
    return None


@dataclass(frozen=True)
class _Column:
    """How one output column is computed."""

    name: str
    spec: ColumnSpec
    source: str  # for errors: "path 'amount' as cents"
    getter: Getter = _no_value
    key: str | None = None  # a top-level key: read with dict.get, the fastest path
    transform: CompiledTransform | None = None
    default: Any = None  # already coerced to the column type
    constant: Any = _UNSET  # already coerced; unmapped columns are a None constant

    @property
    def coerce(self) -> CompiledTransform:
        return _coercion(self.spec.type)

    @property
    def typed_by_transform(self) -> bool:
        """The transform already makes the column's type; text and decimals are still checked by Arrow."""
        column_type = self.spec.type
        return (
            self.transform is not None
            and self.transform.output == column_type
            and column_type not in _ARROW_FIRST
        )

    def read(self, records: list[Record]) -> list[Any]:
        """The raw values at the column's path(s)."""
        key, get = self.key, self.getter
        return [r.get(key) for r in records] if key is not None else [get(r) for r in records]

    def values(self, records: list[Record]) -> list[Any]:
        """Read and transform in one comprehension, then fill the default."""
        key, get, transform = self.key, self.getter, self.transform
        if transform is None:
            values = self.read(records)
        elif transform.null_safe:
            convert = transform.convert
            values = (
                [convert(r.get(key)) for r in records]
                if key is not None
                else [convert(get(r)) for r in records]
            )
        else:
            convert = transform.convert
            if key is not None:
                values = [None if (v := r.get(key)) is None else convert(v) for r in records]
            else:
                values = [None if (v := get(r)) is None else convert(v) for r in records]
        return self._fill(values)

    def _fill(self, values: list[Any]) -> list[Any]:
        default = self.default
        return values if default is None else [default if v is None else v for v in values]

    def array(self, records: list[Record]) -> pa.Array:
        arrow_type = self.spec.arrow_type
        if self.constant is not _UNSET:
            if self.constant is None:
                return pa.nulls(len(records), arrow_type)
            return pa.repeat(pa.scalar(self.constant, arrow_type), len(records))
        transform = self.transform
        if transform is not None and transform.arrow is not None:
            raw = self.read(records)
            whole = self._whole_column(raw)
            if whole is not None:
                return whole
            convert = transform.convert
            values = self._fill([None if v is None else convert(v) for v in raw])
        else:
            values = self.values(records)
        if self.typed_by_transform:
            return pa.array(values, arrow_type)
        column_type = self.spec.type
        if column_type in _ARROW_FIRST:
            try:
                return pa.array(values, arrow_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass
        coerce = _COERCE[column_type]
        return pa.array([None if v is None else coerce(v) for v in values], arrow_type)

    def _whole_column(self, raw: list[Any]) -> pa.Array | None:
        """The transform's Arrow form over the whole column, or None to go value by value."""
        arrow_type = self.spec.arrow_type
        try:
            source = pa.array(raw)  # Arrow infers the type: int64, string, null...
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            return None
        if pa.types.is_null(source.type):
            result: pa.Array = pa.nulls(len(raw), arrow_type)
        else:
            try:
                made = self.transform.arrow(source)  # type: ignore[union-attr,misc]
                if made is None or not _castable(made.type, arrow_type):
                    return None
                result = made if made.type == arrow_type else made.cast(arrow_type)
            except pa.ArrowException:
                return None
        if self.default is not None and result.null_count:
            result = pc.fill_null(result, pa.scalar(self.default, arrow_type))
        return result

    def value_of(self, record: Any) -> Any:
        """One record's value, slowly and with clean errors: used to explain a failure."""
        if not isinstance(record, dict):
            raise ValueError(f"the record is not an object: {preview(record)}")
        if self.constant is not _UNSET:
            return self.constant
        value = record.get(self.key) if self.key is not None else self.getter(record)
        if self.transform is not None:
            value = self.transform(value)
        if value is None:
            value = self.default
        if not self.typed_by_transform:
            value = self.coerce(value)
        pa.array([value], self.spec.arrow_type)
        return value


def _castable(made: pa.DataType, column: pa.DataType) -> bool:
    """Casts from an Arrow form's output that give what the per-value path gives."""
    if made == column:
        return True
    if pa.types.is_decimal(made) and pa.types.is_decimal(column):
        return True  # a safe cast: refuses to round or overflow
    return pa.types.is_timestamp(made) and pa.types.is_date32(column)


# ---------------------------------------------------------------- the mapper


class RowMapper:
    """Maps records of one stream into rows of one model, column-wise, into Arrow.

    >>> from engine.models import load_models
    >>> fields = {"id": "id", "kind": {"value": "charge"}, "amount": {"path": "amount", "as": "cents"}}
    >>> mapper = RowMapper(load_models()["payments"], fields, provider="stripe")
    >>> table = mapper.to_arrow([{"id": "ch_1", "amount": 1999}], "acct_1", datetime(2024, 3, 1, tzinfo=UTC))
    >>> table.select(["id", "kind", "amount", "_provider"]).to_pylist()
    [{'id': 'ch_1', 'kind': 'charge', 'amount': Decimal('19.99'), '_provider': 'stripe'}]
    """

    def __init__(
        self, model: ModelSpec, fields: Mapping[str, str | FieldMapping | dict[str, Any]], provider: str
    ):
        self.model = model
        self.provider = provider
        self.schema = model.arrow_schema()
        self.columns: list[str] = list(model.all_columns)
        problems: list[FieldProblem] = []
        for name in fields:
            if name in SYSTEM_COLUMNS:
                problems.append(FieldProblem(name, f"{name!r} is a system column, filled by the engine"))
            elif name not in model.columns:
                problems.append(
                    FieldProblem(
                        name, f"no column {name!r} in model {model.name!r}{did_you_mean(name, model.columns)}"
                    )
                )
        self._plan: list[_Column] = []
        for name, spec in model.columns.items():
            mapping = fields.get(name)
            if mapping is None:
                if name in model.primary_key:
                    problems.append(
                        FieldProblem(name, f"primary key column {name!r} of {model.name!r} is not mapped")
                    )
                self._plan.append(_Column(name, spec, "unmapped", constant=None))
                continue
            column = _compile_column(name, spec, mapping, problems)
            if column is not None:
                self._plan.append(column)
        if problems:
            raise MappingError(provider, model.name, problems)
        self._key_columns = [c for c in self._plan if c.name in model.primary_key]
        self._key_names = frozenset(model.primary_key)

    def __repr__(self) -> str:
        return f"RowMapper({self.provider!r} -> {self.model.name!r})"

    def to_arrow(
        self,
        records: list[Record],
        connection_id: str,
        synced_at: datetime,
        page_values: Mapping[str, Any] | None = None,
        version_at: datetime | None = None,
    ) -> pa.Table:
        """Map a page of records into a table with `self.schema` (model columns, then system columns).

        `page_values` fills columns that hold one value for the whole page, e.g. a substream's
        `calendar_id` from its parent record; they override the column's mapping. `version_at`
        is when the records' state was current (an event's time); default `synced_at`.
        """
        if synced_at.tzinfo is None:
            synced_at = synced_at.replace(tzinfo=UTC)
        version_at = version_at or synced_at
        if version_at.tzinfo is None:
            version_at = version_at.replace(tzinfo=UTC)
        page_values = page_values or {}
        for name in page_values:
            if name not in self.model.columns:
                raise ValueError(
                    f"page value for unknown column {name!r} of {self.model.name!r}"
                    f"{did_you_mean(name, self.model.columns)}"
                )
        count = len(records)
        arrays: list[pa.Array] = []
        for column in self._plan:
            if column.name in page_values:
                array = self._page_array(column, page_values[column.name], count)
            else:
                try:
                    array = column.array(records)
                except Exception as exc:
                    raise self._explain(column, records, exc) from None
            if (
                array.null_count
                and column.name in self._key_names
                and (column.constant is _UNSET or column.name in page_values)  # else the caller fills it
            ):
                index = array.to_pylist().index(None)
                raise CastError(
                    self.model.name, column.name, column.source, index, "", "primary key column is null"
                )
            arrays.append(array)
        arrays.append(pa.repeat(pa.scalar(self.provider, pa.string()), count))
        arrays.append(pa.repeat(pa.scalar(connection_id, pa.string()), count))
        arrays.append(pa.repeat(pa.scalar(synced_at, self.schema.field(SYNCED_AT_COLUMN).type), count))
        arrays.append(pa.repeat(pa.scalar(version_at, self.schema.field(VERSION_COLUMN).type), count))
        arrays.append(_raw_array(records))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _page_array(self, column: _Column, value: Any, count: int) -> pa.Array:
        try:
            value = column.coerce(value)
            if value is None:
                return pa.nulls(count, column.spec.arrow_type)
            return pa.repeat(pa.scalar(value, column.spec.arrow_type), count)
        except (ValueError, pa.ArrowException) as exc:
            raise CastError(self.model.name, column.name, "page value", None, "", _reason(exc)) from None

    def _explain(self, column: _Column, records: list[Record], exc: Exception) -> CastError:
        """Find the first record the column fails on and say why, in words."""
        for index, record in enumerate(records):
            try:
                column.value_of(record)
            except Exception as found:
                return CastError(
                    self.model.name,
                    column.name,
                    column.source,
                    index,
                    self._record_key(record),
                    _reason(found),
                )
        return CastError(self.model.name, column.name, column.source, None, "", _reason(exc))

    def _record_key(self, record: Any) -> str:
        parts = []
        for column in self._key_columns:
            try:
                parts.append(f"{column.name}={column.value_of(record)!r}")
            except Exception:
                return ""
        return ", ".join(parts)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _raw_array(records: list[Record]) -> pa.Array:
    """`_raw`: each record as JSON (orjson's output is UTF-8, which Arrow takes as is)."""
    dumps = orjson.dumps
    try:
        return pa.array([dumps(r) for r in records], pa.string())
    except TypeError:  # rare: non-string keys or values JSON can't hold, e.g. a Decimal
        option = orjson.OPT_NON_STR_KEYS
        return pa.array([dumps(r, option=option, default=str) for r in records], pa.string())


def _compile_column(
    name: str, spec: ColumnSpec, mapping: str | FieldMapping | dict[str, Any], problems: list[FieldProblem]
) -> _Column | None:
    """One column's plan, or None after adding its problems."""
    if isinstance(mapping, str):
        return _path_column(name, spec, mapping, f"path {mapping!r}")
    if isinstance(mapping, dict):
        try:
            mapping = FieldMapping.model_validate(mapping)
        except ValidationError as exc:
            for error in exc.errors():
                key = ".".join(str(p) for p in error["loc"])
                problems.append(FieldProblem(name, error["msg"], key))
            return None

    given = mapping.model_fields_set
    before = len(problems)
    sources = [key for key in ("path", "coalesce") if getattr(mapping, key) is not None]
    is_constant = mapping.as_ == "constant" or (not sources and "value" in given)
    if mapping.as_ == "constant" and "value" in given and "value" in mapping.args:
        problems.append(FieldProblem(name, "give the constant once: value or args.value", "args"))
    if len(sources) > 1:
        problems.append(FieldProblem(name, "use either path or coalesce, not both", "coalesce"))
    if is_constant and sources:
        problems.append(FieldProblem(name, f"a constant value takes no {sources[0]}", sources[0]))
    if not sources and not is_constant:
        problems.append(FieldProblem(name, "needs a path, coalesce (a list of paths) or value (a constant)"))
    if mapping.coalesce is not None and not mapping.coalesce:
        problems.append(FieldProblem(name, "coalesce needs at least one path", "coalesce"))
    if mapping.args and mapping.as_ is None:
        problems.append(FieldProblem(name, "args need a transform (as: ...)", "args"))

    coerce = _coercion(spec.type)
    if is_constant:
        return _constant_column(name, spec, mapping, coerce, problems, before)

    transform = None
    if mapping.as_ is not None:
        try:
            transform = compile_transform(mapping.as_, mapping.args)
        except TransformSpecError as exc:
            problems.append(FieldProblem(name, str(exc), "as" if mapping.as_ not in TRANSFORMS else "args"))
        else:
            storable = _STORABLE.get(transform.output or "")
            if storable is not None and spec.type not in storable:
                problems.append(
                    FieldProblem(
                        name,
                        f"transform {transform.name!r} makes {transform.output} values; "
                        f"column {name!r} is {spec.type}",
                        "as",
                    )
                )

    default = None
    if mapping.default is not None:
        try:
            default = coerce(mapping.default)
        except ValueError as exc:
            problems.append(
                FieldProblem(name, f"default does not fit the {spec.type} column: {exc}", "default")
            )

    if len(problems) > before:
        return None
    suffix = f" as {transform.name}" if transform else ""
    if mapping.coalesce:
        getters = [compile_path(p) for p in mapping.coalesce]
        return _Column(
            name,
            spec,
            f"coalesce {mapping.coalesce!r}{suffix}",
            getter=_first_of(getters),
            transform=transform,
            default=default,
        )
    path = mapping.path or ""
    column = _path_column(name, spec, path, f"path {path!r}{suffix}")
    return _Column(
        name, spec, column.source, getter=column.getter, key=column.key, transform=transform, default=default
    )


def _constant_column(
    name: str,
    spec: ColumnSpec,
    mapping: FieldMapping,
    coerce: CompiledTransform,
    problems: list[FieldProblem],
    before: int,
) -> _Column | None:
    """`{value: charge}`, `{as: constant, args: {value: charge}}`, or a value through a transform."""
    value = mapping.value
    try:
        if mapping.as_ == "constant":
            value = compile_transform("constant", {"value": value, **mapping.args})(None)
        elif mapping.as_ is not None:
            value = compile_transform(mapping.as_, mapping.args)(value)
    except TransformSpecError as exc:
        problems.append(FieldProblem(name, str(exc), "as" if mapping.as_ not in TRANSFORMS else "args"))
        return None
    except ValueError as exc:
        problems.append(FieldProblem(name, str(exc), "value"))
        return None
    try:
        constant = coerce(value)
    except ValueError as exc:
        problems.append(
            FieldProblem(name, f"the constant does not fit the {spec.type} column: {exc}", "value")
        )
        return None
    if len(problems) > before:
        return None
    return _Column(name, spec, f"constant {value!r}", constant=constant)


def _path_column(name: str, spec: ColumnSpec, path: str, source: str) -> _Column:
    parts = split_path(path)
    if len(parts) == 1 and "[" not in path and not parts[0].lstrip("-").isdigit():
        return _Column(name, spec, source, key=parts[0])
    return _Column(name, spec, source, getter=compile_path(path))


def _first_of(getters: list[Getter]) -> Getter:
    def first_non_null(record: Any) -> Any:
        for get in getters:
            value = get(record)
            if value is not None:
                return value
        return None

    return first_non_null

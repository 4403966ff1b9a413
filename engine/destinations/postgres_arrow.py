"""Arrow -> Postgres: column types, and the CSV that `COPY ... FROM STDIN (FORMAT csv)` reads.

The CSV is written by Arrow's C++ writer, column-wise, without turning values into Python
objects. Its rendering is what Postgres reads back losslessly:

    timestamp[us, UTC] -> 2025-11-01 12:00:00.000000Z     decimal128(18, 2) -> 15.00
    date32 -> 2025-11-01      bool -> true      null -> (empty, unquoted)      "" -> ""

`list<string>` becomes a Postgres array literal first (`{"a","b \\"c\\""}`). NUL characters,
which Postgres text and jsonb cannot hold, are dropped: the written CSV is searched for them
(and for `\\u0000` when there are jsonb columns), and only if found are the columns cleaned
(JSON values re-encoded without them) and the CSV written again.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv

from ..errors import ConfigError
from ..models import is_json_field

JSONB = "jsonb"
_CSV = csv.WriteOptions(include_header=False, quoting_style="needed")
_NUL = "\x00"
_JSON_NUL = "\\u0000"


def pg_type(field: pa.Field) -> str:
    """The Postgres column type for an Arrow field of a model's schema.

    >>> pg_type(pa.field("amount", pa.decimal128(18, 2)))
    'numeric(18,2)'
    """
    if is_json_field(field):
        return JSONB
    try:
        return _scalar_type(field.type)
    except KeyError:
        raise ConfigError(f"column {field.name!r}: Arrow type {field.type} has no Postgres type") from None


def _scalar_type(kind: pa.DataType) -> str:
    if _is_list(kind):
        return _scalar_type(kind.value_type) + "[]"
    if pa.types.is_decimal(kind):
        return f"numeric({kind.precision},{kind.scale})"
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    if _is_string(kind):
        return "text"
    return _SIMPLE[kind]


_SIMPLE: dict[pa.DataType, str] = {
    pa.int8(): "smallint",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.date64(): "date",
}


def copy_csv(rows: pa.Table, json_columns: frozenset[str] = frozenset()) -> bytes:
    """`rows` as COPY's CSV (no header), columns in table order; `json_columns` go to jsonb."""
    columns = [_array_literals(c.combine_chunks()) if _is_list(c.type) else c for c in rows.columns]
    data = _write(columns, rows.column_names)
    if _NUL.encode() in data or (json_columns and _JSON_NUL.encode() in data):
        cleaned = [
            _without_nul(c, name in json_columns) for c, name in zip(columns, rows.column_names, strict=True)
        ]
        data = _write(cleaned, rows.column_names)
    return data


def _write(columns: list[Any], names: list[str]) -> bytes:
    sink = pa.BufferOutputStream()
    csv.write_csv(pa.table(columns, names=names), sink, _CSV)
    return sink.getvalue().to_pybytes()


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind)


def _is_string(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _without_nul(column: Any, is_json: bool) -> Any:
    if not _is_string(column.type):
        return column
    if is_json:
        return _json_without_nul(column)
    if pc.any(pc.match_substring(column, _NUL)).as_py():
        return pc.replace_substring(column, _NUL, "")
    return column


def _json_without_nul(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """jsonb refuses `\\u0000`: re-encode the (rare) documents that have one, without it."""
    marked = pc.match_substring(column, _JSON_NUL)
    if not pc.any(marked).as_py():
        return column
    values = column.to_pylist()
    for index in pc.indices_nonzero(pc.fill_null(marked, False)).to_pylist():
        values[index] = orjson.dumps(_strip_nul(orjson.loads(values[index]))).decode()
    return pa.array(values, column.type)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, "")
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {k.replace(_NUL, ""): _strip_nul(v) for k, v in value.items()}
    return value


def _array_literals(lists: pa.ListArray | pa.LargeListArray) -> pa.Array:
    """`["a", None, 'say "hi"']` -> `{"a",NULL,"say \\"hi\\""}`; a null list stays null."""
    items = _without_nul(lists.values.cast(pa.string()), is_json=False)
    escaped = pc.replace_substring(pc.replace_substring(items, "\\", "\\\\"), '"', '\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "NULL")
    rebuilt = type(lists).from_arrays(lists.offsets, quoted, mask=lists.is_null())
    return pc.binary_join_element_wise("{", pc.binary_join(rebuilt, ","), "}", "")

"""Small read queries against any destination's connection, for the asset checks.

SQL is written once with `?` placeholders and double-quoted identifiers. DuckDB runs it
as it is; a psycopg connection (the Postgres destination's `.connection`) gets `%s`.
Another database is one more function in `_RUNNERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..destinations import Destination
from ..errors import ConfigError

Rows = list[tuple[Any, ...]]


def _duckdb(connection: Any, sql: str, params: list[Any]) -> Rows:
    return [tuple(row) for row in connection.execute(sql, params).fetchall()]


def _psycopg(connection: Any, sql: str, params: list[Any]) -> Rows:
    from psycopg.rows import tuple_row

    with connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute(sql.replace("%", "%%").replace("?", "%s"), params)
        return list(cursor.fetchall())


_RUNNERS: dict[str, Callable[[Any, str, list[Any]], Rows]] = {"duckdb": _duckdb, "psycopg": _psycopg}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fetch(destination: Destination, sql: str, params: Sequence[Any] = ()) -> Rows:
    """Run a read query (`?` placeholders) on the destination's connection; every row."""
    connection = getattr(destination, "connection", None)
    if connection is None:
        raise ConfigError(f"{type(destination).__name__} exposes no connection to query")
    module = type(connection).__module__.split(".")[0].lstrip("_")
    runner = _RUNNERS.get(module)
    if runner is None:
        raise ConfigError(f"cannot query a {module}.{type(connection).__qualname__} connection")
    return runner(connection, sql, list(params))


def table_exists(destination: Destination, table: str) -> bool:
    rows = fetch(
        destination,
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
        [table],
    )
    return bool(rows and rows[0][0])

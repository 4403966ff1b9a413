"""`manifold query`: look at what landed, read-only, as a table (DuckDB or Postgres)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from .destinations import POSTGRES_SCHEMES, warehouse_url
from .errors import ConfigError, ManifoldError

MAX_ROWS = 200

Result = tuple[list[str], list[tuple[Any, ...]]]


def run_query(sql: str, url: str | None = None, *, console: Console | None = None) -> None:
    url = url or warehouse_url()
    if url.startswith("duckdb:///"):
        columns, rows = _duckdb(sql, Path(url.removeprefix("duckdb:///")))
    elif url.startswith(POSTGRES_SCHEMES):
        columns, rows = _postgres(sql, url)
    else:
        raise ConfigError(f"manifold query reads DuckDB and Postgres warehouses, not {url.split(':', 1)[0]}:")
    table = Table(
        *columns,
        title=f"{min(len(rows), MAX_ROWS)} row(s)" + (" (first 200)" if len(rows) > MAX_ROWS else ""),
    )
    for row in rows[:MAX_ROWS]:
        table.add_row(*("" if v is None else str(v) for v in row))
    (console or Console()).print(table)


def _duckdb(sql: str, path: Path) -> Result:
    if not path.exists():
        raise ConfigError(f"no warehouse at {path}: run `make demo` or `manifold sync ...` first")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            result = con.execute(sql)
            return [d[0] for d in result.description or []], result.fetchmany(MAX_ROWS + 1)
    except duckdb.Error as exc:
        raise ManifoldError(f"query failed: {exc}") from None


def _postgres(sql: str, url: str) -> Result:
    """In a read-only transaction, with the warehouse's schema as the search path."""
    import psycopg
    from psycopg import sql as pgsql

    from .destinations.postgres import DEFAULT_SCHEMA, conninfo_password, split_schema
    from .redact import Redactor, redact_url

    conninfo, schema = split_schema(url)
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as con:
            con.read_only = True
            con.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema or DEFAULT_SCHEMA)))
            cursor = con.execute(sql.encode())
            return [d.name for d in cursor.description or []], cursor.fetchmany(MAX_ROWS + 1)
    except psycopg.Error as exc:
        message = Redactor(filter(None, [conninfo_password(conninfo)]))(str(exc).strip())
        raise ManifoldError(f"query on {redact_url(url)} failed: {message}") from None

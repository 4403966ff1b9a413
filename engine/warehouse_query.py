"""`manifold query`: look at what landed, read-only, as a table."""

from __future__ import annotations

from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from .destinations import warehouse_url
from .errors import ConfigError, ManifoldError

MAX_ROWS = 200


def run_query(sql: str, url: str | None = None, *, console: Console | None = None) -> None:
    url = url or warehouse_url()
    if not url.startswith("duckdb:///"):
        raise ConfigError(
            f"manifold query reads DuckDB warehouses; {url.split(':', 1)[0]}: use its own client"
        )
    path = Path(url.removeprefix("duckdb:///"))
    if not path.exists():
        raise ConfigError(f"no warehouse at {path}: run `make demo` or `manifold sync ...` first")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            result = con.execute(sql)
            columns = [d[0] for d in result.description or []]
            rows = result.fetchmany(MAX_ROWS + 1)
    except duckdb.Error as exc:
        raise ManifoldError(f"query failed: {exc}") from None
    table = Table(
        *columns,
        title=f"{min(len(rows), MAX_ROWS)} row(s)" + (" (first 200)" if len(rows) > MAX_ROWS else ""),
    )
    for row in rows[:MAX_ROWS]:
        table.add_row(*("" if v is None else str(v) for v in row))
    (console or Console()).print(table)

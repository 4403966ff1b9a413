"""Warehouses: DuckDB (embedded default) and Postgres. Chosen by URL."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from .base import Batch, Destination, LoadCounts, RunRecord, StateKey
from .duckdb import DuckDBDestination

DEFAULT_URL = "duckdb:///state/warehouse.duckdb"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

__all__ = ["Batch", "Destination", "LoadCounts", "RunRecord", "StateKey", "open_destination", "warehouse_url"]


def warehouse_url() -> str:
    return os.environ.get("MANIFOLD_WAREHOUSE_URL") or DEFAULT_URL


def open_destination(url: str | None = None) -> Destination:
    """`duckdb:///relative/path.duckdb`, `duckdb:////absolute/path.duckdb`, or
    `postgresql://user:password@host:5432/db?schema=name` (also `postgres://`; schema defaults to public)."""
    url = url or warehouse_url()
    if url.startswith("duckdb:///"):
        return DuckDBDestination(Path(url.removeprefix("duckdb:///")))
    if url.startswith(POSTGRES_SCHEMES):
        from .postgres import PostgresDestination  # psycopg loads only when Postgres is used

        return PostgresDestination(url)
    scheme = url.split(":", 1)[0]
    raise ConfigError(
        f"MANIFOLD_WAREHOUSE_URL {scheme}:... is not supported; use duckdb:///path/to/file.duckdb"
        " or postgresql://user@host:5432/db?schema=name"
    )

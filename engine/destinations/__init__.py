"""Warehouses: DuckDB (embedded default); Postgres comes next. Chosen by URL."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from .base import Batch, Destination, LoadCounts, RunRecord, StateKey
from .duckdb import DuckDBDestination

DEFAULT_URL = "duckdb:///state/warehouse.duckdb"

__all__ = ["Batch", "Destination", "LoadCounts", "RunRecord", "StateKey", "open_destination", "warehouse_url"]


def warehouse_url() -> str:
    return os.environ.get("MANIFOLD_WAREHOUSE_URL") or DEFAULT_URL


def open_destination(url: str | None = None) -> Destination:
    """`duckdb:///relative/path.duckdb` or `duckdb:////absolute/path.duckdb`."""
    url = url or warehouse_url()
    if url.startswith("duckdb:///"):
        return DuckDBDestination(Path(url.removeprefix("duckdb:///")))
    scheme = url.split(":", 1)[0]
    raise ConfigError(
        f"MANIFOLD_WAREHOUSE_URL {scheme}:... is not supported; use duckdb:///path/to/file.duckdb"
    )

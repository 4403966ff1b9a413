"""`WarehouseResource`: where Dagster runs load (and checks read), and the optional sandbox."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from ..destinations import Destination, open_destination, warehouse_url
from .urls import redact_url

SANDBOX_ENV = "MANIFOLD_SANDBOX_URL"


def _is_lock_conflict(exc: Exception) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def open_waiting(url: str, *, timeout: float, poll: float = 0.5) -> Destination:
    """Open the warehouse, waiting while another process holds a DuckDB file's write lock.

    DuckDB allows one writing process per file: two Dagster runs (or a run and the CLI)
    touching the same file take turns instead of failing. Postgres never waits here.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return open_destination(url)
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(poll)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse Manifold loads into, and (for demos and tests) the sandbox to read from.

    Both are read from the environment when the run starts, so the URL (which may hold a
    Postgres password) never shows in Dagster's UI unless you set `url` explicitly.
    """

    url: str | None = Field(
        default=None,
        description="Warehouse URL; unset: $MANIFOLD_WAREHOUSE_URL or duckdb:///state/warehouse.duckdb.",
    )
    sandbox_url: str | None = Field(
        default=None,
        description="Read from this sandbox (e.g. http://127.0.0.1:8765) instead of the providers; "
        f"unset: ${SANDBOX_ENV}, and live providers when that is unset too.",
    )
    lock_timeout: float = Field(
        default=600.0, description="Seconds to wait for another process's DuckDB write lock."
    )

    def resolved_url(self) -> str:
        return self.url or warehouse_url()

    def resolved_sandbox_url(self) -> str | None:
        return self.sandbox_url or os.environ.get(SANDBOX_ENV) or None

    @property
    def display_url(self) -> str:
        """The warehouse URL with any password masked."""
        return redact_url(self.resolved_url())

    @contextmanager
    def open(self) -> Iterator[Destination]:
        """The destination for one step; closed (and a DuckDB file's lock released) after it."""
        destination = open_waiting(self.resolved_url(), timeout=self.lock_timeout)
        try:
            yield destination
        finally:
            destination.close()

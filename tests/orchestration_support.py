"""Helpers for the Dagster tests: the sandbox over the repo's connectors, a warehouse in tmp."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from engine.orchestration import WarehouseResource, build_definitions
from engine.sandbox import Sandbox
from engine.spec.loader import load_connectors

ROOT = Path(__file__).resolve().parent.parent
CONNECTORS = ROOT / "connectors"


@contextmanager
def repo_sandbox() -> Iterator[Sandbox]:
    loaded = load_connectors([CONNECTORS], check_env=False)
    sandbox = Sandbox([(c.spec, c.path) for c in loaded if c.spec.sandbox])
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def warehouse_for(path: Path, sandbox: Sandbox) -> WarehouseResource:
    return WarehouseResource(url=f"duckdb:///{path}", sandbox_url=sandbox.url)


def definitions(warehouse: WarehouseResource, connectors: Path = CONNECTORS) -> dg.Definitions:
    return build_definitions(connectors, environ={}, warehouse=warehouse)


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

"""Shared fixtures: a copy of connectors/ to play with, the sandbox over real HTTP, the CLI,
and warehouses: a DuckDB file, or a Postgres schema of its own (dropped after the test).

Postgres is the one on 127.0.0.1:5432 (MANIFOLD_TEST_POSTGRES_URL to change it). Outside CI an
unreachable Postgres skips its tests with the reason; in CI (CI=true) it fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql

from engine.sandbox import Sandbox
from engine.spec.loader import load_connector

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("MANIFOLD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
WAREHOUSES = ["duckdb", "postgres"]


def postgres_admin() -> psycopg.Connection[Any]:
    """A connection to the test Postgres; if there is none: a skip, or in CI a failure."""
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"no Postgres at {POSTGRES_URL}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: Postgres must run; .ci/run starts it)")
        pytest.skip(reason)


def postgres_url(schema: str) -> str:
    return f"{POSTGRES_URL}?schema={schema}"


def schema_of(url: str) -> str:
    return url.rsplit("?schema=", 1)[1]


WarehouseFactory = Callable[[str, str], str]


@pytest.fixture
def new_warehouse(tmp_path: Path) -> Iterator[WarehouseFactory]:
    """`new_warehouse(kind, name)` -> the URL of an empty warehouse: `duckdb:///tmp/.../name.duckdb`,
    or for "postgres" a fresh schema `t_<uuid8>` (created by the destination, dropped afterwards)."""
    schemas: list[str] = []

    def new(kind: str, name: str) -> str:
        if kind == "duckdb":
            return f"duckdb:///{tmp_path / name}.duckdb"
        postgres_admin().close()
        schemas.append(f"t_{uuid.uuid4().hex[:8]}")
        return postgres_url(schemas[-1])

    yield new
    if schemas:
        with postgres_admin() as admin:
            admin.execute("SET lock_timeout = '20s'")
            for schema in schemas:
                admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass
class Workspace:
    """A private connectors/ copy, a warehouse (DuckDB file or Postgres schema URL) and a running
    sandbox serving that copy."""

    connectors: Path
    warehouse_url: str
    sandbox: Sandbox | None = None

    @property
    def kind(self) -> str:
        return "duckdb" if self.warehouse_url.startswith("duckdb:") else "postgres"

    def start_sandbox(self) -> Sandbox:
        specs = []
        for file in sorted(self.connectors.glob("*.yaml")):
            loaded = load_connector(file, check_env=False)
            specs.append((loaded.spec, file))
        self.sandbox = Sandbox(specs)
        self.sandbox.start()
        return self.sandbox

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "MANIFOLD_"))}
        env.update(
            {
                "MANIFOLD_CONNECTORS": str(self.connectors),
                "MANIFOLD_WAREHOUSE_URL": self.warehouse_url,
                "MANIFOLD_CONTROL_URL": os.environ["MANIFOLD_CONTROL_URL"],
            }
        )
        env.update(extra)
        return env

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `manifold` CLI in a subprocess against this workspace."""
        command = [sys.executable, "-m", "engine.cli", *args]
        return subprocess.run(
            command, cwd=ROOT, env=env or self.env(), capture_output=True, text=True, timeout=timeout
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "engine.cli", *args]
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env or self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def query(self, text: str) -> list[tuple]:
        """Rows of a read query: DuckDB read-only, or Postgres with the schema as search_path."""
        if self.kind == "duckdb":
            with duckdb.connect(self.warehouse_url.removeprefix("duckdb:///"), read_only=True) as con:
                return con.execute(text).fetchall()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as con:
            con.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(self.warehouse_url)))
            )
            return con.execute(text).fetchall()

    def wait_for_writers(self, table: str) -> None:
        """A killed client's last COMMIT may still be finishing in its Postgres backend: a SHARE
        lock waits for every open writer of the table. (A DuckDB file has no server.)"""
        if self.kind == "postgres":
            with psycopg.connect(POSTGRES_URL) as con:
                con.execute("SET lock_timeout = '20s'")
                schema = schema_of(self.warehouse_url)
                con.execute(
                    sql.SQL("LOCK TABLE {}.{} IN SHARE MODE").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )

    @staticmethod
    def parse_json(value: Any) -> Any:
        """A JSON column as Python: DuckDB returns its text, Postgres a jsonb value already parsed."""
        return json.loads(value) if isinstance(value, str) else value


@pytest.fixture
def workspace(
    tmp_path: Path, new_warehouse: WarehouseFactory, request: pytest.FixtureRequest
) -> Iterator[Workspace]:
    """A workspace on DuckDB; `@pytest.mark.parametrize("workspace", WAREHOUSES, indirect=True)`
    runs a test on each warehouse."""
    connectors = tmp_path / "connectors"
    shutil.copytree(ROOT / "connectors", connectors)
    space = Workspace(connectors, new_warehouse(getattr(request, "param", "duckdb"), "warehouse"))
    try:
        yield space
    finally:
        if space.sandbox is not None:
            space.sandbox.stop()


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh MANIFOLD_SECRET_KEY for this test (the vault never writes state/secret.key)."""
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MANIFOLD_SECRET_KEY", key)
    return key


@pytest.fixture(autouse=True)
def private_control_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own control store (syncs record their outcome on the connection), never
    the project's state/control.db; a test may point MANIFOLD_CONTROL_URL elsewhere itself."""
    monkeypatch.setenv("MANIFOLD_CONTROL_URL", f"sqlite:///{tmp_path}/control.db")

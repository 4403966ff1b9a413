"""Shared fixtures: a copy of connectors/ to play with, the sandbox over real HTTP, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from engine.sandbox import Sandbox
from engine.spec.loader import load_connector

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Workspace:
    """A private connectors/ copy, a warehouse file and a running sandbox serving that copy."""

    connectors: Path
    warehouse: Path
    sandbox: Sandbox | None = None

    @property
    def warehouse_url(self) -> str:
        return f"duckdb:///{self.warehouse}"

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
            {"MANIFOLD_CONNECTORS": str(self.connectors), "MANIFOLD_WAREHOUSE_URL": self.warehouse_url}
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

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    connectors = tmp_path / "connectors"
    shutil.copytree(ROOT / "connectors", connectors)
    space = Workspace(connectors, tmp_path / "warehouse.duckdb")
    try:
        yield space
    finally:
        if space.sandbox is not None:
            space.sandbox.stop()

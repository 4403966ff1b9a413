"""Dagster's own storage in Postgres (dagster-postgres): a materialization recorded and read back.

The database is created for the test and dropped after it. Outside CI an unreachable Postgres
skips the test; in CI (CI=true) it is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.instance.ref import InstanceRef
from psycopg import sql

from engine.orchestration import WarehouseResource

from .orchestration_support import definitions, query, repo_sandbox, warehouse_for

SERVER_URL = os.environ.get("MANIFOLD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _connect_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"no Postgres at {SERVER_URL}: {str(exc).splitlines()[0]}")


@pytest.fixture
def dagster_database() -> Iterator[str]:
    """A database of its own for Dagster's run, event and schedule storage."""
    name = f"dagster_test_{os.getpid()}"
    with _connect_admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            # SQLAlchemy 2.1 maps postgresql:// to psycopg 3, whose server-side parameters break
            # dagster-postgres's `NOTIFY run_events, %(id)s`; its own driver, psycopg2, is named.
            server = SERVER_URL.split("://", 1)[1].rsplit("/", 1)[0]
            yield f"postgresql+psycopg2://{server}/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


DAGSTER_YAML = """\
storage:
  postgres:
    postgres_url: {env: DAGSTER_POSTGRES_URL}
"""


def test_materialization_recorded_in_postgres_storage(
    tmp_path: Path, dagster_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"  # what DAGSTER_HOME points at, with the README's dagster.yaml
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_database)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        instance.add_dynamic_partitions("stripe_connections", ["default"])
        with repo_sandbox() as sandbox:
            warehouse = warehouse_for(tmp_path / "w.duckdb", sandbox)
            defs = definitions(warehouse)
            invoices = dg.AssetKey(["stripe", "invoices"])
            result = dg.materialize(
                [*(defs.assets or []), *(defs.asset_checks or [])],
                partition_key="default",
                resources={"warehouse": warehouse},
                instance=instance,
                selection=dg.AssetSelection.assets(invoices),
            )
        assert result.success
        records = instance.fetch_materializations(invoices, limit=1).records
        assert len(records) == 1 and records[0].run_id == result.run_id
        materialization = records[0].asset_materialization
        assert materialization is not None and materialization.partition == "default"
        assert materialization.metadata["records"].value == 5
        assert materialization.metadata["table"].value == "invoices"
        assert instance.get_dynamic_partitions("stripe_connections") == ["default"]
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(invoices, "keys_not_null"), limit=1
        )
        assert checks and checks[0].run_id == result.run_id
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM invoices") == [(5,)]


@pytest.fixture
def warehouse_schema() -> Iterator[str]:
    """A Postgres warehouse URL with a schema of its own, dropped after the test."""
    name = f"manifold_dagster_test_{os.getpid()}"
    with _connect_admin() as admin:
        try:
            yield f"{SERVER_URL}?schema={name}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_materialize_into_a_postgres_warehouse_and_check_it(warehouse_schema: str) -> None:
    pytest.importorskip("engine.destinations.postgres", reason="the Postgres destination is not here yet")
    with repo_sandbox() as sandbox:
        warehouse = WarehouseResource(url=warehouse_schema, sandbox_url=sandbox.url)
        defs = definitions(warehouse)
        invoices = dg.AssetKey(["stripe", "invoices"])
        assert defs.resolve_asset_graph().get(invoices).kinds == {"stripe", "postgres"}
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("stripe_connections", ["default"])
        result = dg.materialize(
            [*(defs.assets or []), *(defs.asset_checks or [])],
            partition_key="default",
            resources={"warehouse": warehouse},
            instance=instance,
            selection=dg.AssetSelection.assets(invoices),
        )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["inserted"].value == 5
    assert event.materialization.metadata["destination"].value == warehouse_schema
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"keys_not_null": True, "fresh": True, "connection_healthy": True}
    schema = warehouse_schema.rsplit("=", 1)[1]
    with psycopg.connect(SERVER_URL) as con:
        count = con.execute(
            sql.SQL("SELECT count(*) FROM {}.invoices").format(sql.Identifier(schema))
        ).fetchone()
    assert count == (5,)

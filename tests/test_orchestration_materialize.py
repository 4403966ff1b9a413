"""Real materializations, in process: the sandbox over HTTP, a DuckDB file, Dagster's events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from engine.connect import connect_in_sandbox
from engine.destinations.duckdb import DuckDBDestination
from engine.models import load_models
from engine.orchestration import WarehouseResource
from engine.orchestration.checks import connection_healthy, fresh, keys_not_null
from engine.orchestration.plan import StreamPlan, plan_streams
from engine.runner import load_for_run
from engine.sandbox import Sandbox
from engine.spec.loader import load_connector

from .orchestration_support import CONNECTORS, definitions, query, repo_sandbox, warehouse_for


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with repo_sandbox() as running:
        yield running


@pytest.fixture
def clean_sandbox(sandbox: Sandbox) -> Sandbox:
    sandbox.reset()
    return sandbox


def key(*path: str) -> dg.AssetKey:
    return dg.AssetKey(list(path))


def materialize(
    defs: dg.Definitions, warehouse: WarehouseResource, *keys: dg.AssetKey, checks: bool = True
) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    connectors = {k.path[0] for k in keys}
    for connector in connectors:
        instance.add_dynamic_partitions(f"{connector}_connections", ["default"])
    selection = dg.AssetSelection.assets(*keys)
    if not checks:
        selection = selection.without_checks()
    return dg.materialize(
        [*(defs.assets or []), *(defs.asset_checks or [])],
        partition_key="default",
        resources={"warehouse": warehouse},
        instance=instance,
        selection=selection,
        raise_on_error=False,
    )


def values(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def test_materializing_a_partition_syncs_the_stream_and_records_metadata(
    tmp_path: Path, clean_sandbox: Sandbox
) -> None:
    warehouse = warehouse_for(tmp_path / "w.duckdb", clean_sandbox)
    result = materialize(definitions(warehouse), warehouse, key("stripe", "invoices"))
    assert result.success
    assert query(tmp_path / "w.duckdb", "SELECT count(*), min(_connection_id) FROM invoices") == [
        (5, "default")
    ]
    (event,) = result.get_asset_materialization_events()
    assert event.partition == "default"
    meta = values(dict(event.materialization.metadata))
    assert meta["records"] == 5 and meta["inserted"] == 5 and meta["updated"] == 0
    assert meta["table"] == "invoices" and meta["pages"] == 1 and meta["requests"] == 1
    assert meta["destination"] == f"duckdb:///{tmp_path / 'w.duckdb'}"
    assert meta["duration_seconds"] >= 0 and meta["retries"] == 0
    cursor = meta["state"]["slices"][""]["cursor"]  # the created[gte] high-water mark, no secrets
    assert isinstance(cursor, int)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"keys_not_null", "fresh", "connection_healthy"}
    assert all(e.passed for e in evaluations.values()), {n: e.description for n, e in evaluations.items()}

    again = materialize(definitions(warehouse), warehouse, key("stripe", "invoices"), checks=False)
    (event,) = again.get_asset_materialization_events()
    meta = values(dict(event.materialization.metadata))
    assert meta["inserted"] == 0 and meta["records"] <= 5  # incremental: only from the cursor on
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM invoices") == [(5,)]


def test_calendar_list_and_its_events_substream(
    tmp_path: Path, clean_sandbox: Sandbox, secret_key: str
) -> None:
    # Google Calendar is OAuth: partition "default" is a connection made through the sandbox's server.
    loaded = load_for_run(str(CONNECTORS / "google_calendar.yaml"), sandbox=True)
    assert connect_in_sandbox(loaded, "default", clean_sandbox.url).account_id == "maya@acme-studio.example"
    warehouse = warehouse_for(tmp_path / "w.duckdb", clean_sandbox)
    result = materialize(
        definitions(warehouse),
        warehouse,
        key("google_calendar", "calendar_list"),
        key("google_calendar", "events"),
    )
    assert result.success
    order = [e.asset_key.path[1] for e in result.get_asset_materialization_events()]
    assert order == ["calendar_list", "events"]  # the parent's asset first
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM calendars") == [(2,)]
    (events,) = query(
        tmp_path / "w.duckdb", "SELECT count(DISTINCT calendar_id), count(*) FROM calendar_events"
    )
    assert events[0] == 2 and events[1] > 0
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_a_failed_stream_is_a_dagster_failure_with_its_cause_and_metadata(
    tmp_path: Path, clean_sandbox: Sandbox
) -> None:
    clean_sandbox.add_fault("stripe", "status", "/v1/payouts", status=401, times=-1)
    warehouse = warehouse_for(tmp_path / "w.duckdb", clean_sandbox)
    result = materialize(definitions(warehouse), warehouse, key("stripe", "payouts"))
    assert not result.success
    assert not result.get_asset_materialization_events()
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    data = failure.step_failure_data
    assert data.user_failure_data is not None
    description = data.user_failure_data.description or ""
    assert description.startswith("stripe.payouts (default): ") and "401" in description
    assert "\n" not in description and "sk_test" not in description
    meta = values(dict(data.user_failure_data.metadata))
    assert meta["table"] == "payouts" and meta["records"] == 0 and "401" in meta["error"]
    assert query(tmp_path / "w.duckdb", "SELECT status FROM _manifold_runs WHERE stream = 'payouts'") == [
        ("failed",)
    ]


def test_missing_env_fails_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.delenv("MANIFOLD_SANDBOX_URL", raising=False)
    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    result = materialize(definitions(warehouse), warehouse, key("stripe", "invoices"))
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data is not None
    assert "STRIPE_SECRET_KEY" in (failure.step_failure_data.user_failure_data.description or "")


# ---------------------------------------------------------------- the checks' verdicts


@pytest.fixture
def invoices_plan() -> StreamPlan:
    loaded = load_connector(CONNECTORS / "stripe.yaml", check_env=False)
    return next(p for p in plan_streams(loaded, load_models()) if p.stream == "invoices")


def test_checks_fail_on_null_keys_stale_syncs_and_errors(
    tmp_path: Path, clean_sandbox: Sandbox, invoices_plan: StreamPlan
) -> None:
    warehouse = warehouse_for(tmp_path / "w.duckdb", clean_sandbox)
    assert materialize(definitions(warehouse), warehouse, key("stripe", "invoices"), checks=False).success
    now = datetime.now(UTC)
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    try:
        con = destination.connection
        assert keys_not_null(destination, invoices_plan, "default", now).passed
        con.execute("UPDATE invoices SET id = NULL WHERE id = (SELECT min(id) FROM invoices)")
        verdict = keys_not_null(destination, invoices_plan, "default", now)
        assert not verdict.passed and verdict.details["null_key_rows"] == 1

        assert fresh(destination, invoices_plan, "default", now).passed
        later = now + timedelta(minutes=31)  # */15: two intervals allowed
        assert not fresh(destination, invoices_plan, "default", later).passed
        assert not fresh(destination, invoices_plan, "maya", now).passed  # never synced

        assert connection_healthy(destination, invoices_plan, "default", now).passed
        con.execute(
            "INSERT INTO _manifold_runs VALUES ('r2', 'stripe', 'invoices', 'default', now(), now(), "
            "'failed', 'HTTP 401 from https://api.stripe.com/v1/invoices', '{}')"
        )
        health = connection_healthy(destination, invoices_plan, "default", now)
        assert not health.passed and "401" in health.summary
    finally:
        destination.close()

"""Dagster definitions from the specs: assets, groups, partitions, lineage, schedules, the sensor."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from engine.control import ConnectionRecord, ConnectionStore, Vault, open_control
from engine.orchestration import SENSOR_NAME, Verdict, WarehouseResource, build_definitions, redact_url
from engine.orchestration.checks import combine
from engine.orchestration.freshness import allowed_age
from engine.orchestration.resources import open_waiting

from .orchestration_support import CONNECTORS, ROOT

STRIPE_STREAMS = [
    "balance_transactions",
    "charges",
    "customers",
    "invoice_events",
    "invoices",
    "payment_intents",
    "payouts",
]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions(
        CONNECTORS, environ={}, warehouse=WarehouseResource(url="duckdb:////tmp/x.duckdb")
    )


def key(*path: str) -> dg.AssetKey:
    return dg.AssetKey(list(path))


def test_one_asset_per_stream_with_into_grouped_by_connector(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    everything = {k for k in graph.get_all_asset_keys()}
    derived = {key("derived", "crm_links"), key("derived", "calendar_conflicts")}
    assert derived <= everything  # rebuilt from the tables (tests/test_derived.py)
    keys = everything - derived
    expected = {key("stripe", s) for s in STRIPE_STREAMS} | {
        key("google_calendar", "calendar_list"),
        key("google_calendar", "events"),
        key("paypal", "invoices"),
        key("paypal", "transactions"),
        key("crm", "brands"),
        key("crm", "contacts"),
        key("crm", "deals"),
    }
    assert keys == expected
    for asset_key in keys:
        node = graph.get(asset_key)
        connector = asset_key.path[0]
        assert node.group_name == connector
        assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
        assert node.partitions_def.name == f"{connector}_connections"
        assert node.kinds == {connector, "duckdb"}
        assert node.tags["manifold/connector"] == connector
        assert node.owners == ["team:data-platform"]  # from the spec's owners
    invoices = graph.get(key("stripe", "invoices"))
    assert invoices.tags["manifold/table"] == "invoices"
    assert invoices.description is not None and invoices.description.startswith("Invoices, newest first")
    assert invoices.metadata["dagster/table_name"] == "invoices"
    assert graph.get(key("stripe", "charges")).tags["manifold/table"] == "payments"


def test_substream_depends_on_its_parent_asset(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get(key("google_calendar", "events")).parent_keys == {
        key("google_calendar", "calendar_list")
    }
    assert graph.get(key("google_calendar", "calendar_list")).parent_keys == set()
    assert graph.get(key("stripe", "invoices")).parent_keys == set()


def test_every_stream_has_its_three_checks(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for asset_key in graph.get_all_asset_keys():
        if asset_key.path[0] == "derived":
            continue  # rebuilt whole from stream tables: no connection, no freshness of its own
        for name in ("keys_not_null", "fresh", "connection_healthy"):
            assert (asset_key.to_user_string(), name) in checks


def test_schedules_come_from_the_specs(defs: dg.Definitions) -> None:
    stripe = defs.resolve_schedule_def("stripe_schedule")
    calendar = defs.resolve_schedule_def("google_calendar_schedule")
    assert stripe.cron_schedule == "*/15 * * * *" and stripe.job_name == "stripe_sync"
    assert calendar.cron_schedule == "0 3 * * *" and calendar.job_name == "google_calendar_sync"
    job = defs.resolve_job_def("stripe_sync")
    assert {k.path[1] for k in job.asset_layer.selected_asset_keys} == set(STRIPE_STREAMS)


def test_schedule_requests_one_run_per_connection(defs: dg.Definitions) -> None:
    schedule = defs.resolve_schedule_def("stripe_schedule")
    tick = datetime(2025, 11, 7, 12, 15, tzinfo=UTC)
    with dg.instance_for_test() as instance:

        def evaluate() -> Any:
            context = dg.build_schedule_context(
                instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
            )
            return schedule.evaluate_tick(context)

        empty = evaluate()
        assert not empty.run_requests and "no connections" in (empty.skip_message or "")
        instance.add_dynamic_partitions("stripe_connections", ["default", "maya"])
        data = evaluate()
        assert sorted(r.partition_key for r in data.run_requests or []) == ["default", "maya"]


def test_sensor_adds_the_missing_connection_partitions(defs: dg.Definitions, secret_key: str) -> None:
    # Google Calendar connects users' accounts (OAuth): its partitions are the stored connections.
    store = ConnectionStore(open_control(), Vault())
    store.save(
        ConnectionRecord("google_calendar", "maya", connected=True, account_id="maya@acme-studio.example")
    )
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.DagsterInstance.ephemeral() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SensorResult)
        requests = {
            r.partitions_def_name: list(r.partition_keys) for r in result.dynamic_partitions_requests or []
        }
        assert requests == {
            "stripe_connections": ["default"],
            "google_calendar_connections": ["maya"],
            "paypal_connections": ["default"],
            "crm_connections": ["default"],
        }
        for name, partition_keys in requests.items():
            instance.add_dynamic_partitions(name, partition_keys)
        assert isinstance(sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)


def flagged_connectors(tmp_path: Path) -> Path:
    """The repo's connectors plus `acme_billing`: a copy of Stripe behind a flag, with no schedule."""
    folder = tmp_path / "connectors"
    shutil.copytree(CONNECTORS, folder)
    text = (folder / "stripe.yaml").read_text()
    text = text.replace("name: stripe\n", "name: acme_billing\nflag: ACME_BILLING_ENABLED\n", 1)
    text = text.replace('schedule: "*/15 * * * *"\n', "", 1)
    (folder / "acme_billing.yaml").write_text(text)
    return folder


def test_a_flagged_off_connector_contributes_nothing(tmp_path: Path) -> None:
    folder = flagged_connectors(tmp_path)
    off = build_definitions(folder, environ={})
    assert not [k for k in off.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "acme_billing"]
    assert "acme_billing_sync" not in {j.name for j in off.resolve_all_job_defs()}

    on = build_definitions(folder, environ={"ACME_BILLING_ENABLED": "true"})
    graph = on.resolve_asset_graph()
    assert {k.path[1] for k in graph.get_all_asset_keys() if k.path[0] == "acme_billing"} == set(
        STRIPE_STREAMS
    )
    assert graph.get(key("acme_billing", "invoices")).group_name == "acme_billing"
    on.resolve_job_def("acme_billing_sync")  # a manual job...
    with pytest.raises(Exception, match="acme_billing_schedule"):
        on.resolve_schedule_def("acme_billing_schedule")  # ...and no schedule


def test_postgres_warehouse_sets_the_kind() -> None:
    defs = build_definitions(
        CONNECTORS, environ={}, warehouse=WarehouseResource(url="postgresql://app:pw@127.0.0.1/w")
    )
    assert defs.resolve_asset_graph().get(key("stripe", "invoices")).kinds == {"stripe", "postgres"}


def test_the_sync_path_never_imports_dagster() -> None:
    code = (
        "import sys, engine.cli, engine.runner, engine.demo, engine.sync\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'dagster'], 'dagster imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_warehouse_urls_are_shown_without_passwords() -> None:
    assert redact_url("postgresql://app:s3cret@db:5432/w") == "postgresql://app:***@db:5432/w"
    assert redact_url("postgresql://app@db/w?password=s3cret") == "postgresql://app@db/w?password=***"
    assert redact_url("duckdb:///state/warehouse.duckdb") == "duckdb:///state/warehouse.duckdb"
    warehouse = WarehouseResource(url="postgresql://app:s3cret@db/w")
    assert "s3cret" not in warehouse.display_url


def test_freshness_allows_two_schedule_intervals() -> None:
    friday_noon = datetime(2025, 11, 7, 12, 7, tzinfo=UTC)
    assert allowed_age("*/15 * * * *", friday_noon) == timedelta(minutes=30)
    assert allowed_age("0 3 * * *", friday_noon) == timedelta(days=2)
    assert allowed_age("0 9 * * 1-5", friday_noon) == timedelta(days=6)  # Friday -> Monday


def test_a_run_waits_for_another_process_s_duckdb_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print(1, flush=True); time.sleep(2)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "1"  # the lock is held
        with pytest.raises(duckdb.IOException, match="lock"):
            open_waiting(f"duckdb:///{path}", timeout=0.3, poll=0.1)
        started = time.monotonic()
        destination = open_waiting(f"duckdb:///{path}", timeout=30, poll=0.1)
        destination.close()
        assert time.monotonic() - started > 0.5  # it waited for the holder to exit
    finally:
        holder.kill()
        holder.wait()


def test_a_check_over_many_connections_fails_if_one_does() -> None:
    verdicts = {
        "default": Verdict(True, "the last run succeeded"),
        "maya": Verdict(False, "the last run failed: HTTP 401", {"last_status": "failed"}),
    }
    result = combine("connection_healthy", verdicts)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.description == "maya: the last run failed: HTTP 401"
    assert set(result.metadata["connections"].value) == {"default", "maya"}
    assert combine("fresh", {"default": Verdict(True, "synced 0:01:00 ago")}).passed

"""Dagster turns queued sync requests into runs and records how they ended; a sensor starts the
webhook inbox drain while events wait, and the drain job applies them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from engine.control import ControlDB
from engine.control.inbox import Delivery, Inbox
from engine.control.sync_requests import SyncRequests
from engine.orchestration import WarehouseResource
from engine.orchestration.inbox import DRAIN_JOB, INBOX_SENSOR
from engine.orchestration.requests import REQUEST_TAG, REQUESTS_SENSOR, _finish

from .orchestration_support import CONNECTORS, definitions, query


@pytest.fixture
def control(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ControlDB:
    url = f"sqlite:///{tmp_path}/control.db"
    monkeypatch.setenv("MANIFOLD_CONTROL_URL", url)
    return ControlDB(url)


@pytest.fixture
def defs(tmp_path: Path) -> dg.Definitions:
    return definitions(WarehouseResource(url=f"duckdb:///{tmp_path}/warehouse.duckdb"))


def test_a_queued_request_becomes_one_run_per_connection(control: ControlDB, defs: dg.Definitions) -> None:
    requests = SyncRequests(control)
    streams = requests.queue("stripe", None, ["invoices"], source="api")
    whole = requests.queue("stripe", "default", [], source="webhook")
    sensor = defs.resolve_sensor_def(REQUESTS_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(result, dg.SensorResult)
        runs = {r.tags[REQUEST_TAG]: r for r in result.run_requests or []}
        assert set(runs) == {streams.id, whole.id}
        assert runs[streams.id].job_name == "stripe_sync" and runs[streams.id].partition_key == "default"
        assert runs[streams.id].asset_selection == [dg.AssetKey(["stripe", "invoices"])]
        assert runs[whole.id].asset_selection is None
        assert runs[whole.id].tags["manifold/source"] == "webhook"
        again = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(again, dg.SkipReason)  # each request is started once
    started = requests.get(streams.id)
    assert started is not None and started.state == "running"


def test_a_request_for_a_connector_dagster_does_not_have_fails_with_the_reason(
    control: ControlDB, defs: dg.Definitions
) -> None:
    requests = SyncRequests(control)
    request = requests.queue("xero", "acme", [], source="api")
    with dg.instance_for_test() as instance:
        assert isinstance(
            defs.resolve_sensor_def(REQUESTS_SENSOR)(dg.build_sensor_context(instance=instance)),
            dg.SkipReason,
        )
    failed = requests.get(request.id)
    assert failed is not None and failed.state == "failed" and "not enabled" in (failed.error or "")


def test_a_finished_run_is_recorded_on_its_request(control: ControlDB) -> None:
    requests = SyncRequests(control)
    ok, bad = requests.queue("stripe", "a", [], source="api"), requests.queue("stripe", "b", [], source="api")
    requests.started(ok.id, "run-1")
    requests.started(bad.id, "run-2")
    _finish({REQUEST_TAG: ok.id}, None)
    _finish({REQUEST_TAG: bad.id}, "stripe.invoices (b): 401 Unauthorized")
    _finish({}, None)  # runs not started by a request are left alone
    assert [requests.get(ok.id).state, requests.get(bad.id).state] == ["succeeded", "failed"]  # type: ignore[union-attr]
    assert "401" in (requests.get(bad.id).error or "")  # type: ignore[union-attr]


def test_the_inbox_sensor_starts_a_drain_only_while_events_wait(
    control: ControlDB, defs: dg.Definitions, tmp_path: Path
) -> None:
    sensor = defs.resolve_sensor_def(INBOX_SENSOR)
    with dg.instance_for_test() as instance:
        assert isinstance(sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
        invoice = json.loads((CONNECTORS / "fixtures" / "stripe" / "invoices.json").read_text())[0]
        event = {
            "id": "evt_1",
            "type": "invoice.paid",
            "created": int(time.time()),
            "data": {"object": invoice},
        }
        now = datetime.now(UTC).isoformat()
        Inbox(control).write(
            [Delivery("stripe", "evt_1", None, "invoice.paid", {}, json.dumps(event).encode(), now)], []
        )
        request = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(request, dg.RunRequest)
        result = defs.resolve_job_def(DRAIN_JOB).execute_in_process(instance=instance)
        assert result.success
    stored = Inbox(control).get("stripe", "evt_1")
    assert stored is not None and stored.state == "processed"
    assert query(tmp_path / "warehouse.duckdb", "SELECT id, status FROM invoices") == [
        (invoice["id"], invoice["status"])
    ]


def test_the_rules_sensor_runs_only_when_rules_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.orchestration.rules import RULES_JOB, RULES_SENSOR

    rules = tmp_path / "rules"
    rules.mkdir()
    monkeypatch.setenv("MANIFOLD_RULES", str(rules))
    defs = definitions(WarehouseResource(url=f"duckdb:///{tmp_path}/warehouse.duckdb"))
    sensor = defs.resolve_sensor_def(RULES_SENSOR)
    assert defs.resolve_job_def(RULES_JOB) is not None
    with dg.instance_for_test() as instance:
        assert isinstance(sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
        (rules / "r.yaml").write_text("name: r\n")
        assert isinstance(sensor(dg.build_sensor_context(instance=instance)), dg.RunRequest)

"""Queued sync requests ("sync now", webhook-triggered syncs) become Dagster runs.

`manifold_sync_requests_sensor` turns each queued request into runs of the connector's job
(one per connection: the asset partition), tagged with the request id; `manifold_sync_request_status`
records how each run ended on the request, for `GET /api/sync/{id}`.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from ..control.sync_requests import SyncRequest, SyncRequests
from ..spec.models import ConnectorSpec
from .connections import known_connections
from .metadata import one_line
from .schedules import job_name

REQUESTS_SENSOR = "manifold_sync_requests_sensor"
STATUS_SENSOR = "manifold_sync_request_status"
REQUEST_TAG = "manifold/sync_request"


def _open_requests() -> SyncRequests:
    from ..control import open_control

    return SyncRequests(open_control())


def run_requests(request: SyncRequest, spec: ConnectorSpec) -> list[dg.RunRequest]:
    """The runs one request asks for: its connection (or every known one), its streams (or all)."""
    connections = [request.connection_id] if request.connection_id else known_connections(spec)
    selection = [dg.AssetKey([spec.name, s]) for s in request.streams] or None
    return [
        dg.RunRequest(
            run_key=f"{request.id}:{connection}",
            job_name=job_name(spec),
            partition_key=connection,
            asset_selection=selection,
            tags={REQUEST_TAG: request.id, "manifold/source": request.source},
        )
        for connection in connections
    ]


def build_requests_sensor(specs: list[ConnectorSpec]) -> dg.SensorDefinition:
    by_name = {spec.name: spec for spec in specs}

    @dg.sensor(
        name=REQUESTS_SENSOR,
        minimum_interval_seconds=15,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts the runs that 'sync now' and webhook-triggered sync requests ask for.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        requests = _open_requests()
        runs: list[dg.RunRequest] = []
        for request in requests.queued():
            spec = by_name.get(request.connector)
            if spec is None:
                requests.finished(request.id, error=f"{request.connector} is not enabled in this Dagster")
                continue
            wanted = run_requests(request, spec)
            if not wanted:
                requests.finished(request.id, error=f"{request.connector} has no connections to sync")
                continue
            if requests.started(request.id):  # False: another tick took it
                runs += wanted
        if not runs:
            return dg.SkipReason("no queued sync requests")
        return dg.SensorResult(run_requests=runs)

    return _sensor


def build_status_sensor() -> dg.SensorDefinition:
    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=f"{STATUS_SENSOR}_success",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks a sync request succeeded when its run succeeds.",
    )
    def _succeeded(context: dg.RunStatusSensorContext) -> None:
        _finish(context.dagster_run.tags, None)

    return _succeeded


def build_failure_sensor() -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=f"{STATUS_SENSOR}_failure",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks a sync request failed, with the error, when its run fails.",
    )
    def _failed(context: dg.RunFailureSensorContext) -> None:
        message = context.failure_event.message or "the run failed"
        _finish(context.dagster_run.tags, one_line(message))

    return _failed


def _finish(tags: Any, error: str | None) -> None:
    request_id = tags.get(REQUEST_TAG)
    if request_id:
        _open_requests().finished(request_id, error=error)


def request_sensors(specs: list[ConnectorSpec]) -> Iterator[dg.SensorDefinition]:
    yield build_requests_sensor(specs)
    yield build_status_sensor()
    yield build_failure_sensor()

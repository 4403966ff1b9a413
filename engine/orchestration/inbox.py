"""The webhook inbox drain as a Dagster job, started by a sensor while events wait.

With DuckDB the warehouse has one writing process, so events are applied here, in runs that
take turns with the syncs for the file's lock, never in the web service.
"""

from pathlib import Path

import dagster as dg

from .resources import WarehouseResource
from .rounds import next_round, report_round

DRAIN_JOB = "manifold_apply_webhook_events"
INBOX_SENSOR = "manifold_webhook_inbox_sensor"


def build_drain_job(connectors: Path) -> dg.JobDefinition:
    @dg.op(description="Apply the webhook events waiting in the inbox to the models.")
    def apply_webhook_events(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
        from ..event_drain import drain_inbox

        with warehouse.open() as destination:
            report = drain_inbox(connectors, destination=destination)
        counts = {"applied": report.processed, "ignored": report.ignored, "failed": report.failed,
                  "parked": report.parked, "syncs_queued": report.syncs_queued}  # fmt: skip
        report_round(context, report.summary(), report.errors, counts)

    @dg.job(name=DRAIN_JOB, description="Apply waiting webhook events to the models (exactly once).")
    def _job() -> None:
        apply_webhook_events()

    return _job


def build_inbox_sensor(job: dg.JobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=INBOX_SENSOR,
        job=job,
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Starts the drain job while webhook events wait (one drain at a time).",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        from ..event_drain import due_count

        if not due_count():
            return dg.SkipReason("no webhook events waiting")
        return next_round(context, DRAIN_JOB, "drain")

    return _sensor

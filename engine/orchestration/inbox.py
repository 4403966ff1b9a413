"""The webhook inbox drain as a Dagster job, started by a sensor while events wait.

With DuckDB the warehouse has one writing process, so events are applied here, in runs that
take turns with the syncs for the file's lock, never in the web service.
"""

import time
from pathlib import Path

import dagster as dg

from .metadata import one_line
from .resources import WarehouseResource

DRAIN_JOB = "manifold_apply_webhook_events"
INBOX_SENSOR = "manifold_webhook_inbox_sensor"
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]  # fmt: skip


def build_drain_job(connectors: Path) -> dg.JobDefinition:
    @dg.op(description="Apply the webhook events waiting in the inbox to the models.")
    def apply_webhook_events(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
        from ..event_drain import drain_inbox

        with warehouse.open() as destination:
            report = drain_inbox(connectors, destination=destination)
        context.log.info(report.summary())
        for error in report.errors[:20]:
            context.log.warning(one_line(error))
        context.add_output_metadata(
            {
                "applied": report.processed,
                "ignored": report.ignored,
                "failed": report.failed,
                "parked": report.parked,
                "syncs_queued": report.syncs_queued,
            }
        )

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
        running = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=DRAIN_JOB, statuses=ACTIVE), limit=1
        )
        if running:
            return dg.SkipReason("a drain is already running")
        return dg.RunRequest(run_key=f"drain@{time.time():.0f}")

    return _sensor

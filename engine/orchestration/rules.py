"""Notification rules as a Dagster job, started by a sensor while rules exist.

Reads the warehouse where the syncs write it (one DuckDB writer): runs take turns for the lock.
"""

import time
from pathlib import Path

import dagster as dg

from .inbox import ACTIVE
from .metadata import one_line
from .resources import WarehouseResource

RULES_JOB = "manifold_notification_rules"
RULES_SENSOR = "manifold_rules_sensor"


def build_rules_job(connectors: Path, rules: Path) -> dg.JobDefinition:
    @dg.op(description="Evaluate the notification rules over the warehouse; send what fired, once each.")
    def run_notification_rules(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
        from ..rule_runner import run_rules_once

        with warehouse.open() as destination:
            report = run_rules_once(
                connectors, rules, destination=destination, sandbox_url=warehouse.resolved_sandbox_url()
            )
        context.log.info(report.summary())
        for error in report.errors[:20]:
            context.log.warning(one_line(error))
        context.add_output_metadata(
            {"fired": report.fired, "sent": report.sent, "failed": report.failed, "parked": report.parked}
        )

    @dg.job(
        name=RULES_JOB, description="Notification rules (rules/*.yaml): fire once per change, retry sends."
    )
    def _job() -> None:
        run_notification_rules()

    return _job


def build_rules_sensor(job: dg.JobDefinition, rules: Path) -> dg.SensorDefinition:
    @dg.sensor(
        name=RULES_SENSOR,
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Runs the notification rules every minute while rules/ holds any (one run at a time).",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if not any(rules.glob("*.yaml")):
            return dg.SkipReason(f"no rules in {rules}")
        running = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=RULES_JOB, statuses=ACTIVE), limit=1
        )
        if running:
            return dg.SkipReason("the rules are already running")
        return dg.RunRequest(run_key=f"rules@{time.time():.0f}")

    return _sensor

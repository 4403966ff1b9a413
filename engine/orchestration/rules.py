"""Notification rules as a Dagster job, started by a sensor while rules exist.

Reads the warehouse where the syncs write it (one DuckDB writer): runs take turns for the lock.
"""

from pathlib import Path

import dagster as dg

from .resources import WarehouseResource
from .rounds import next_round, report_round

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
        counts = {
            "fired": report.fired,
            "sent": report.sent,
            "failed": report.failed,
            "parked": report.parked,
        }
        report_round(context, report.summary(), report.errors, counts)

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
        return next_round(context, RULES_JOB, "rules")

    return _sensor

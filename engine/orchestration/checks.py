"""Asset checks per stream, read from the warehouse: keys, freshness, connection health.

Inside a partition's run the checks look at that connection; run on their own (from the
asset's Checks tab) they look at every connection and pass only if all of them do.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from ..destinations import Destination
from ..models import CONNECTION_COLUMN, PROVIDER_COLUMN
from .connections import known_connections, partitions_name
from .freshness import allowed_age
from .plan import StreamPlan
from .queries import fetch, quote, table_exists
from .resources import WarehouseResource

RUNS_TABLE = "_manifold_runs"
PARTITION_TAG = "dagster/partition"


@dataclass
class Verdict:
    """One check's outcome for one connection."""

    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def keys_not_null(destination: Destination, plan: StreamPlan, connection: str, now: datetime) -> Verdict:
    if not table_exists(destination, plan.table):
        return Verdict(True, f"{plan.table} does not exist yet")
    key = [c for c in plan.model.table_key if c not in (PROVIDER_COLUMN, CONNECTION_COLUMN)]
    nulls = " OR ".join(f"{quote(c)} IS NULL" for c in key)
    sql = (
        f"SELECT count(*) FROM {quote(plan.table)} WHERE {quote(PROVIDER_COLUMN)} IS NULL "
        f"OR {quote(CONNECTION_COLUMN)} IS NULL OR ({quote(PROVIDER_COLUMN)} = ? "
        f"AND {quote(CONNECTION_COLUMN)} = ? AND ({nulls}))"
    )
    (count,) = fetch(destination, sql, [plan.spec.name, connection])[0]
    details = {"null_key_rows": count, "key": plan.model.table_key}
    if count:
        return Verdict(False, f"{count} row(s) of {plan.table} have a null key column", details)
    return Verdict(True, "every key column is filled", details)


def _runs(destination: Destination, plan: StreamPlan, connection: str, where: str) -> list[tuple[Any, ...]]:
    if not table_exists(destination, RUNS_TABLE):
        return []
    sql = (
        f"SELECT status, error, finished_at FROM {RUNS_TABLE} WHERE connector = ? AND stream = ? "
        f"AND connection_id = ? AND finished_at IS NOT NULL {where} ORDER BY finished_at DESC LIMIT 1"
    )
    return fetch(destination, sql, [plan.spec.name, plan.stream, connection])


def fresh(destination: Destination, plan: StreamPlan, connection: str, now: datetime) -> Verdict:
    cron = plan.spec.schedule
    if cron is None:
        return Verdict(True, f"{plan.spec.name} has no schedule: synced on demand, never stale")
    limit = allowed_age(cron, now)
    details: dict[str, Any] = {"schedule": cron, "allowed_age": str(limit)}
    rows = _runs(destination, plan, connection, "AND status = 'succeeded'")
    if not rows:
        return Verdict(False, "never synced successfully", details)
    finished: datetime = rows[0][2]
    age = now - finished
    details.update(last_success=finished.isoformat(), age=str(age).split(".")[0])
    if age > limit:
        return Verdict(False, f"last successful sync {details['age']} ago; allowed {limit}", details)
    return Verdict(True, f"synced {details['age']} ago (allowed {limit})", details)


def connection_healthy(destination: Destination, plan: StreamPlan, connection: str, now: datetime) -> Verdict:
    rows = _runs(destination, plan, connection, "")
    if not rows:
        return Verdict(True, "no finished run yet")
    status, error, finished = rows[0]
    details = {"last_status": status, "last_finished": finished.isoformat()}
    if error:
        return Verdict(False, f"the last run failed: {error}", {**details, "last_error": error})
    return Verdict(True, f"the last run {status}", details)


Evaluate = Callable[[Destination, StreamPlan, str, datetime], Verdict]


@dataclass(frozen=True)
class CheckKind:
    evaluate: Evaluate
    description: str
    severity: dg.AssetCheckSeverity


CHECKS: dict[str, CheckKind] = {
    "keys_not_null": CheckKind(
        keys_not_null, "No row of the connection has a null key column.", dg.AssetCheckSeverity.ERROR
    ),
    "fresh": CheckKind(
        fresh,
        "The last successful sync is at most two schedule intervals old (manual connectors pass).",
        dg.AssetCheckSeverity.WARN,
    ),
    "connection_healthy": CheckKind(
        connection_healthy,
        "The connection's latest run of this stream recorded no error.",
        dg.AssetCheckSeverity.ERROR,
    ),
}


def combine(name: str, verdicts: dict[str, Verdict]) -> dg.AssetCheckResult:
    """Every connection's verdict as one result: passed only if each connection passed."""
    failed = {c: v for c, v in verdicts.items() if not v.passed}
    shown = failed or verdicts
    description = "; ".join(f"{c}: {v.summary}" for c, v in shown.items()) or "no connections yet"
    metadata: dict[str, Any] = {
        "connections": dg.MetadataValue.json({c: v.details for c, v in verdicts.items()})
    }
    if len(verdicts) == 1:
        metadata.update(
            {k: v for k, v in next(iter(verdicts.values())).details.items() if not isinstance(v, list)}
        )
    return dg.AssetCheckResult(
        check_name=name,
        passed=not failed,
        severity=CHECKS[name].severity,
        description=description,
        metadata=metadata,
    )


def _connections(context: dg.AssetCheckExecutionContext, plan: StreamPlan) -> list[str]:
    partition = context.run.tags.get(PARTITION_TAG)
    if partition:
        return [partition]
    return context.instance.get_dynamic_partitions(partitions_name(plan.spec)) or known_connections(plan.spec)


def build_stream_checks(plan: StreamPlan) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(name, asset=plan.key, description=kind.description) for name, kind in CHECKS.items()
    ]

    @dg.multi_asset_check(specs=specs, can_subset=True, name=f"{plan.spec.name}__{plan.stream}__checks")
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        connections = _connections(context, plan)
        now = datetime.now(UTC)
        with warehouse.open() as destination:
            for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.name):
                evaluate = CHECKS[check_key.name].evaluate
                verdicts = {c: evaluate(destination, plan, c, now) for c in connections}
                yield combine(check_key.name, verdicts)

    return _checks

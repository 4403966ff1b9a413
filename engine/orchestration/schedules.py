"""A job per connector (all its stream assets) and, when the spec has a cron, its schedule."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg

from ..spec.models import ConnectorSpec
from .connections import partitions_name
from .plan import StreamPlan

if TYPE_CHECKING:  # what define_asset_job returns; not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def job_name(spec: ConnectorSpec) -> str:
    return f"{spec.name}_sync"


def build_job(spec: ConnectorSpec, plans: list[StreamPlan]) -> "UnresolvedAssetJobDefinition":
    """Every stream of the connector (and their checks), for one connection per run."""
    return dg.define_asset_job(
        job_name(spec),
        selection=dg.AssetSelection.assets(*(p.key for p in plans)),
        description=f"Sync every {spec.title} stream of one connection.",
        tags={"manifold/connector": spec.name},
    )


def build_schedule(spec: ConnectorSpec, job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition | None:
    """One run per connection on each tick of `spec.schedule`; no cron, no schedule (manual).

    Dynamic partitions cannot use `build_schedule_from_partitioned_job`: the partitions to run
    are the connections known to the instance when the tick fires.
    """
    if spec.schedule is None:
        return None

    @dg.schedule(
        name=f"{spec.name}_schedule",
        cron_schedule=spec.schedule,
        job=job,
        execution_timezone="UTC",
        description=f"Sync every {spec.title} connection on '{spec.schedule}' (from the spec).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        connections = context.instance.get_dynamic_partitions(partitions_name(spec))
        if not connections:
            yield dg.SkipReason(f"{spec.name} has no connections yet (manifold_connections_sensor adds them)")
            return
        tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        for connection in connections:
            yield dg.RunRequest(run_key=f"{connection}@{tick}", partition_key=connection)

    return _schedule

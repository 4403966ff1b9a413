"""One Dagster asset per stream: materializing a partition syncs that stream for that connection."""

import time
from typing import Any

import dagster as dg

from ..errors import ManifoldError
from ..runner import run_sync
from ..sync import StreamResult
from .connections import connection_config
from .metadata import one_line, run_metadata
from .plan import StreamPlan
from .resources import WarehouseResource

PROGRESS_SECONDS = 10.0


class _ProgressLog:
    """Logs a long stream's progress to the run's log every few seconds."""

    def __init__(self, log: Any, interval: float = PROGRESS_SECONDS):
        self.log = log
        self.interval = interval
        self.last = time.monotonic()

    def __call__(self, result: StreamResult) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.log.info(f"{result.stream}: {result.pages:,} pages, {result.records:,} records so far")


def sync_stream(
    plan: StreamPlan, connection_id: str, warehouse: WarehouseResource, log: Any = None
) -> dg.MaterializeResult:
    """Run one stream for one connection; a failed stream raises `dg.Failure` with its metadata."""
    spec = plan.spec
    where = f"{spec.name}.{plan.stream} ({connection_id})"
    sandbox_url = warehouse.resolved_sandbox_url()
    if sandbox_url and spec.sandbox is None:
        raise dg.Failure(f"{where}: {spec.name} has no sandbox section; unset MANIFOLD_SANDBOX_URL")
    try:
        with warehouse.open() as destination:
            results = run_sync(
                plan.loaded,
                streams=[plan.stream],
                connection_id=connection_id,
                config=connection_config(spec, connection_id),
                sandbox_url=sandbox_url,
                destination=destination,
                progress=_ProgressLog(log) if log is not None else None,
            )
    except ManifoldError as exc:  # config or environment: nothing ran
        raise dg.Failure(f"{where}: {one_line(str(exc))}") from None
    (result,) = results
    metadata = run_metadata(result, warehouse.display_url)
    if result.error:
        raise dg.Failure(f"{where}: {one_line(result.error)}", metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


def _static_metadata(plan: StreamPlan) -> dict[str, Any]:
    columns = [
        dg.TableColumn(name, column.type, description=column.description or None)
        for name, column in plan.model.all_columns.items()
    ]
    return {
        "docs": dg.MetadataValue.url(plan.spec.docs),
        "primary_key": dg.MetadataValue.text(", ".join(plan.model.table_key)),
        "schedule": dg.MetadataValue.text(plan.spec.schedule or "manual"),
        "dagster/table_name": plan.table,
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }


def build_stream_asset(
    plan: StreamPlan, partitions: dg.PartitionsDefinition, destination_kind: str
) -> dg.AssetsDefinition:
    spec = plan.spec
    description = plan.stream_spec.description or f"{spec.title}: {plan.stream}"

    @dg.asset(
        key=plan.key,
        group_name=spec.name,
        description=f"{description}\n\nLoads into `{plan.table}`.",
        kinds={spec.name, destination_kind},
        tags={"manifold/connector": spec.name, "manifold/table": plan.table},
        owners=list(spec.owners) or None,
        partitions_def=partitions,
        deps=[plan.upstream] if plan.upstream else None,
        metadata=_static_metadata(plan),
        code_version=plan.code_version,
    )
    def _stream(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return sync_stream(plan, context.partition_key, warehouse, context.log)

    return _stream

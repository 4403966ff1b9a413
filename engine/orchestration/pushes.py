"""One Dagster asset per push: downstream of the stream assets that fill the model it reads, so
Xero's invoice push runs after Stripe's invoices sync. Partitioned by the target connection."""

from typing import Any

import dagster as dg

from ..errors import ManifoldError
from ..push_runner import run_pushes
from ..spec.loader import LoadedConnector
from .metadata import one_line
from .plan import StreamPlan
from .resources import WarehouseResource


def push_key(connector: str, push: str) -> dg.AssetKey:
    return dg.AssetKey([connector, f"push_{push}"])


def build_push_assets(
    loaded: LoadedConnector, plans: list[StreamPlan], partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """`plans`: every enabled connector's stream plans; the ones loading the source model (from
    the connector named in `from.where._provider`, if any) become the push's upstream."""
    spec = loaded.spec
    assets = []
    for name, push in spec.pushes.items():
        provider = push.source.where.get("_provider")
        upstream = [
            p.key
            for p in plans
            if p.table == push.source.model and (provider is None or p.spec.name == provider)
        ]
        assets.append(_push_asset(loaded, name, upstream, partitions))
    return assets


def _push_asset(
    loaded: LoadedConnector, name: str, upstream: list[dg.AssetKey], partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    spec = loaded.spec
    push = spec.pushes[name]

    @dg.asset(
        key=push_key(spec.name, name),
        group_name=spec.name,
        description=(push.description or f"{spec.title}: push {name}")
        + f"\n\nReads `{push.source.model}`, sends through `{push.action}`.",
        kinds={spec.name},
        tags={"manifold/connector": spec.name, "manifold/push": name},
        owners=list(spec.owners) or None,
        partitions_def=partitions,
        deps=upstream or None,
    )
    def _push(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        where = f"{spec.name}.push_{name} ({context.partition_key})"
        try:
            with warehouse.open() as destination:
                (report,) = run_pushes(
                    loaded,
                    [name],
                    connection_id=context.partition_key,
                    destination=destination,
                    sandbox_url=warehouse.resolved_sandbox_url(),
                )
        except ManifoldError as exc:
            raise dg.Failure(f"{where}: {one_line(str(exc))}") from None
        metadata: dict[str, Any] = {
            "rows": report.rows,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "failed": report.failed,
            "calls": report.calls,
        }
        if report.errors:
            metadata["last_error"] = one_line(report.errors[-1])
        if report.failed:
            raise dg.Failure(f"{where}: {report.summary()}", metadata=metadata)
        return dg.MaterializeResult(metadata=metadata)

    return _push

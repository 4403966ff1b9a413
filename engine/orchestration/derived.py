"""One Dagster asset per derived table (crm_links, calendar_conflicts): downstream of every stream
asset that fills a model it reads, rebuilt whole when it runs."""

import dagster as dg

from ..derived.run import Builder, builders, rebuild
from ..errors import ManifoldError
from ..models import ModelSpec
from .metadata import one_line
from .plan import StreamPlan
from .resources import WarehouseResource

GROUP = "derived"


def build_derived_assets(plans: list[StreamPlan], models: dict[str, ModelSpec]) -> list[dg.AssetsDefinition]:
    assets = []
    for name, (build, inputs) in builders(models=models).items():
        upstream = [p.key for p in plans if p.table in inputs]
        assets.append(_derived_asset(models[name], build, inputs, upstream))
    return assets


def _derived_asset(
    model: ModelSpec, build: Builder, inputs: tuple[str, ...], upstream: list[dg.AssetKey]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([GROUP, model.name]),
        group_name=GROUP,
        description=f"{model.description}\n\nReads {', '.join(f'`{i}`' for i in inputs)}; rebuilt whole.",
        kinds={"manifold"},
        tags={"manifold/table": model.name},
        deps=upstream or None,
    )
    def _derived(warehouse: WarehouseResource) -> dg.MaterializeResult:
        try:
            with warehouse.open() as destination:
                rows = rebuild(model, build(destination), destination)
        except ManifoldError as exc:
            raise dg.Failure(f"{model.name}: {one_line(str(exc))}") from None
        return dg.MaterializeResult(metadata={"rows": rows, "dagster/row_count": rows})

    return _derived

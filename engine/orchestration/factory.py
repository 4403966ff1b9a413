"""`build_definitions`: connectors/*.yaml -> Dagster assets, checks, jobs, schedules, sensor."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from ..destinations import DEFAULT_URL
from ..models import ModelSpec, load_models
from ..rules.loader import rules_dir
from ..spec.loader import LoadedConnector, is_enabled, load_connectors
from .assets import build_stream_asset
from .checks import build_stream_checks
from .connections import partitions_name
from .derived import build_derived_assets
from .inbox import build_drain_job, build_inbox_sensor
from .plan import plan_streams
from .pushes import build_push_assets
from .requests import request_sensors
from .resources import WarehouseResource
from .rules import build_rules_job, build_rules_sensor
from .schedules import build_job, build_schedule
from .sensors import build_connections_sensor
from .urls import destination_kind


def enabled_connectors(
    connectors: str | Path, environ: Mapping[str, str] | None = None
) -> list[LoadedConnector]:
    """Every valid spec in the folder whose feature flag is on (a bad spec raises, listing its problems).

    Env vars are checked when a stream runs, not here: the UI loads without any secrets.
    """
    environ = os.environ if environ is None else environ
    loaded = load_connectors([connectors], environ=environ, check_env=False)
    return [c for c in loaded if is_enabled(c.spec, environ)]


def connector_definitions(
    loaded: LoadedConnector, models: dict[str, ModelSpec], kind: str
) -> dg.Definitions | None:
    """One connector's assets, checks, job and schedule; None when no stream loads into a table."""
    plans = plan_streams(loaded, models)
    if not plans:
        return None
    partitions = dg.DynamicPartitionsDefinition(name=partitions_name(loaded.spec))
    job = build_job(loaded.spec, plans)
    schedule = build_schedule(loaded.spec, job)
    return dg.Definitions(
        assets=[build_stream_asset(p, partitions, kind) for p in plans],
        asset_checks=[build_stream_checks(p) for p in plans],
        jobs=[job],
        schedules=[schedule] if schedule else [],
    )


def build_definitions(
    connectors: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    warehouse: WarehouseResource | None = None,
) -> dg.Definitions:
    """Dagster definitions for every enabled connector in a folder.

    `environ` (default: the process's) decides the feature flags and, unless `warehouse.url`
    is set, the warehouse kind shown on the assets; the warehouse URL itself is read when a
    run starts.

    >>> defs = build_definitions(Path("connectors"))  # doctest: +SKIP
    >>> defs.resolve_asset_graph().get_all_asset_keys()  # doctest: +SKIP
    {AssetKey(['stripe', 'invoices']), AssetKey(['google_calendar', 'events']), ...}
    """
    environ = os.environ if environ is None else environ
    warehouse = warehouse or WarehouseResource()
    kind = destination_kind(warehouse.url or environ.get("MANIFOLD_WAREHOUSE_URL") or DEFAULT_URL)
    loaded = enabled_connectors(connectors, environ)
    models = load_models()
    built = [(c, d) for c in loaded if (d := connector_definitions(c, models, kind)) is not None]
    parts = [d for _, d in built]
    plans = [p for c in loaded for p in plan_streams(c, models)]
    parts += [
        dg.Definitions(
            assets=build_push_assets(c, plans, dg.DynamicPartitionsDefinition(name=partitions_name(c.spec)))
        )
        for c in loaded
        if c.spec.pushes
    ]
    parts.append(dg.Definitions(assets=build_derived_assets(plans, models)))
    # DuckDB has one writing process per file: steps run one after another in the run's process.
    executor: Any = dg.in_process_executor if kind == "duckdb" else dg.multiprocess_executor
    specs = [c.spec for c, _ in built]  # connectors with assets (a write-only one has none)
    drain_job = build_drain_job(Path(connectors))
    rules = rules_dir()
    rules_job = build_rules_job(Path(connectors), rules)
    return dg.Definitions.merge(
        *parts,
        dg.Definitions(
            jobs=[drain_job, rules_job],
            sensors=[
                build_connections_sensor(specs),
                *request_sensors(specs),
                build_inbox_sensor(drain_job),
                build_rules_sensor(rules_job, rules),
            ],
            resources={"warehouse": warehouse},
            executor=executor,
        ),
    )

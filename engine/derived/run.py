"""Rebuilding derived tables: `manifold derive`, and Dagster assets downstream of their inputs.

    counts = derive(["crm_links", "calendar_conflicts"], destination)

Each table is rebuilt whole in one transaction (its old rows deleted, the new ones written), so a
link that no longer holds (a contact's email changed) disappears.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..destinations import Batch, Destination
from ..destinations.base import StateKey
from ..errors import ConfigError
from ..models import SYNCED_AT_COLUMN, VERSION_COLUMN, ModelSpec, load_models
from .conflicts import find_conflicts
from .links import build_links
from .loader import links_dir, load_links
from .spec import LinkSpec

Builder = Callable[[Destination], list[dict[str, Any]]]

#: Tables read by each derived table: Dagster puts the derived asset downstream of their streams.
CONFLICT_INPUTS = ("calendar_events", "calendars")


def builders(
    links: Path | None = None, models: dict[str, ModelSpec] | None = None
) -> dict[str, tuple[Builder, tuple[str, ...]]]:
    """Derived table -> (builder, the models it reads)."""
    models = models if models is not None else load_models()
    found: dict[str, tuple[Builder, tuple[str, ...]]] = {
        "calendar_conflicts": (find_conflicts, CONFLICT_INPUTS)
    }
    for spec in load_links(links or links_dir(), models):
        inputs = {m for r in spec.rules for m in (r.source.model, r.target.model)} | {
            f.target.model for f in spec.follow
        }
        found[spec.name] = (functools.partial(_links, spec), tuple(sorted(inputs)))
    return found


def _links(spec: LinkSpec, destination: Destination) -> list[dict[str, Any]]:
    return build_links(spec, destination)


def derive(names: list[str] | None, destination: Destination, *, links: Path | None = None) -> dict[str, int]:
    """Rebuild the named derived tables (default: all); returns the rows each now holds."""
    models = load_models()
    known = builders(links, models)
    chosen = names or list(known)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ConfigError(
            f"no derived table {', '.join(unknown)} (derived tables: {', '.join(sorted(known))})"
        )
    counts = {}
    for name in chosen:
        build, _ = known[name]
        counts[name] = rebuild(models[name], build(destination), destination)
    return counts


def rebuild(model: ModelSpec, rows: list[dict[str, Any]], destination: Destination) -> int:
    now = datetime.now(UTC)
    schema = model.arrow_schema()
    stamped = [{**row, SYNCED_AT_COLUMN: now, VERSION_COLUMN: now} for row in rows]
    table = pa.Table.from_pylist(stamped, schema=schema)
    destination.ensure_table(model.name, schema)
    key = StateKey("manifold", f"derived:{model.name}", "all")
    destination.commit(
        [Batch(model.name, table, model.table_key, "append", clear={})],
        key,
        {"rows": len(rows), "built_at": now.isoformat()},
    )
    return len(rows)

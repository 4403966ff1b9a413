"""One drain of the webhook inbox into the warehouse: `manifold apply-events` and the Dagster job.

With DuckDB (one writing process per file) this runs where syncs run, in Dagster or the CLI,
never in the web service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .control import open_control
from .control.inbox import Inbox
from .control.sync_requests import SyncRequests
from .destinations import Destination, open_destination
from .models import load_models
from .spec.loader import is_enabled, load_connectors
from .webhooks.apply import DrainReport, EventApplier, drain


def event_appliers(connectors: Path, environ: Mapping[str, str] | None = None) -> dict[str, EventApplier]:
    """An applier per enabled connector whose events or action results do something."""
    environ = os.environ if environ is None else environ
    models = load_models()
    loaded = load_connectors([connectors], environ=environ, check_env=False)
    return {
        c.spec.name: EventApplier(c, models)
        for c in loaded
        if c.spec.event_streams() or (c.spec.webhooks is not None and c.spec.webhooks.events)
        if is_enabled(c.spec, environ)
    }


def drain_inbox(
    connectors: Path,
    *,
    destination: Destination | None = None,
    warehouse_url: str | None = None,
    control_url: str | None = None,
    limit: int = 500,
) -> DrainReport:
    """Apply every due event of the enabled connectors; returns what happened."""
    appliers = event_appliers(connectors)
    db = open_control(control_url)
    own = destination is None
    target = destination or open_destination(warehouse_url)
    try:
        return drain(Inbox(db), appliers, target, SyncRequests(db), limit=limit)
    finally:
        if own:
            target.close()
        db.close()


def due_count(control_url: str | None = None) -> int:
    db = open_control(control_url)
    try:
        return len(Inbox(db).due(limit=1))
    finally:
        db.close()

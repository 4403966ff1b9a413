"""An action from start to landed result, for the CLI, the web service and Python callers.

    outcome = perform(load_for_run("stripe", sandbox=False), "create_invoice",
                      {"customer": "cus_1", "items": [...]}, connection_id="default")

The result of an action that declares `result.apply` is queued in the inbox as an event (one
per idempotency key) and, with `apply_now`, applied to the warehouse at once; otherwise the
Dagster drain applies it (the web service never writes the warehouse).
"""

from __future__ import annotations

from typing import Any

from ..control import open_control
from ..control.inbox import Inbox
from ..destinations import Destination
from ..runner import build_runtime
from ..runtime import ConnectorRuntime
from ..spec.loader import LoadedConnector
from .run import ActionOutcome, result_delivery, run_action


def perform(
    loaded: LoadedConnector,
    name: str,
    given: Any,
    *,
    connection_id: str = "default",
    sandbox_url: str | None = None,
    control_url: str | None = None,
    apply_now: Destination | None = None,
    idempotency_key: str | None = None,
    runtime: ConnectorRuntime | None = None,
) -> ActionOutcome:
    """`runtime`: one to reuse across calls (its HTTP client and rate limit); else one for this call."""
    own = runtime is None
    active = runtime or build_runtime(loaded, connection_id=connection_id, sandbox_url=sandbox_url)
    try:
        outcome = run_action(active, name, given, idempotency_key=idempotency_key)
    finally:
        if own:
            active.close()
    delivery = result_delivery(outcome, loaded.spec.actions[name])
    if delivery is not None:
        db = open_control(control_url)
        try:
            inbox = Inbox(db)
            inbox.write([delivery], [])
            if apply_now is not None:
                from ..webhooks.apply import EventApplier, apply_events

                event = inbox.get(delivery.connector, delivery.event_id, delivery.connection_id)
                if event is not None and event.state == "pending":
                    apply_events([event], EventApplier(loaded), inbox, apply_now)
        finally:
            db.close()
    return outcome

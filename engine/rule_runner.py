"""One round of the notification rules: evaluate over the warehouse, send what fired.

Runs where the warehouse is read safely: `manifold rules` or the Dagster job after syncs and the
inbox drain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .actions.perform import perform
from .actions.run import ActionOutcome
from .control import open_control
from .control.rule_firings import RuleFirings
from .destinations import Destination, open_destination
from .models import load_models
from .rules.loader import load_rules
from .rules.run import RulesReport, evaluate, send
from .runner import build_runtime
from .runtime import ConnectorRuntime
from .spec.loader import LoadedConnector, load_connectors


def run_rules_once(
    connectors: Path,
    rules: Path,
    *,
    destination: Destination | None = None,
    warehouse_url: str | None = None,
    control_url: str | None = None,
    sandbox_url: str | None = None,
) -> RulesReport:
    loaded: dict[str, LoadedConnector] = {
        c.spec.name: c for c in load_connectors([connectors], check_env=False)
    }
    models = load_models()
    specs = load_rules(rules, models, loaded)
    if not specs:
        return RulesReport()

    # One runtime per connection for the round: one HTTP client, and the connector's rate limit
    # (Slack: a message per second) holds across all the sends.
    runtimes: dict[tuple[str, str], ConnectorRuntime] = {}

    def act(connector: str, action: str, given: Any, connection: str) -> ActionOutcome:
        key = (connector, connection)
        if key not in runtimes:
            runtimes[key] = build_runtime(
                loaded[connector], connection_id=connection, sandbox_url=sandbox_url
            )
        return perform(
            loaded[connector],
            action,
            given,
            connection_id=connection,
            control_url=control_url,
            runtime=runtimes[key],
        )

    db = open_control(control_url)
    own = destination is None
    target = destination or open_destination(warehouse_url)
    try:
        firings = RuleFirings(db)
        report = evaluate(specs, target, firings, models)
        return send(specs, firings, act, report=report)
    finally:
        for runtime in runtimes.values():
            runtime.close()
        if own:
            target.close()
        db.close()

"""Running a connector's pushes for one connection: the CLI's `manifold push` and Dagster's assets.

    reports = run_pushes(load_for_run("xero", sandbox=False), connection_id="acme")

Runs where the warehouse is read and written safely (the CLI, a Dagster run): action results that
land in a model (`result.apply`) are applied at once.
"""

from __future__ import annotations

from typing import Any

from .actions.perform import perform
from .actions.run import ActionOutcome
from .control import open_control
from .control.push_marks import PushMarks
from .destinations import Destination, open_destination
from .errors import ConfigError
from .models import load_models
from .pushes.run import PushReport, run_push
from .runner import build_runtime
from .spec.loader import LoadedConnector


def run_pushes(
    loaded: LoadedConnector,
    names: list[str] | None = None,
    *,
    connection_id: str = "default",
    destination: Destination | None = None,
    warehouse_url: str | None = None,
    control_url: str | None = None,
    sandbox_url: str | None = None,
) -> list[PushReport]:
    spec = loaded.spec
    chosen = names or list(spec.pushes)
    unknown = [n for n in chosen if n not in spec.pushes]
    if unknown:
        known = ", ".join(sorted(spec.pushes)) or "none"
        raise ConfigError(f"{spec.name} has no push {', '.join(unknown)} (pushes: {known})")
    models = load_models()
    own = destination is None
    target = destination or open_destination(warehouse_url)
    db = open_control(control_url)
    # One runtime for every call of the round: one HTTP client, and the provider's rate limit
    # (Xero: 60 calls a minute per tenant) holds across them.
    runtime = build_runtime(loaded, connection_id=connection_id, sandbox_url=sandbox_url)
    try:

        def act(action: str, given: Any) -> ActionOutcome:
            return perform(
                loaded,
                action,
                given,
                connection_id=connection_id,
                control_url=control_url,
                apply_now=target,
                runtime=runtime,
            )

        config = dict(runtime.context.get("config") or {})
        reports = []
        for name in chosen:
            push = spec.pushes[name]
            remotes = PushMarks(db, spec.name, push.remote_of, connection_id) if push.remote_of else None
            marks = PushMarks(db, spec.name, name, connection_id)
            model = models[push.source.model]
            reports.append(run_push(name, push, model, target, marks, act, config=config, remotes=remotes))
        return reports
    finally:
        runtime.close()
        db.close()
        if own:
            target.close()

"""Outbound actions: write-back requests declared in a connector's `actions:` section.

    from engine.actions.run import run_action
    outcome = run_action(runtime, "create_payment_intent", {"amount": 2000, "currency": "eur"})

This package's `__init__` holds only the spec models (the connector spec imports them).
"""

from .spec import ActionErrors, ActionRequest, ActionResult, ActionSpec, Idempotency

__all__ = ["ActionErrors", "ActionRequest", "ActionResult", "ActionSpec", "Idempotency"]

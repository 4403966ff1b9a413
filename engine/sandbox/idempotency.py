"""Replies remembered by idempotency key, one memory per connector (keys are per account).

Two conventions, told apart by the header name:

- `Idempotency-Key` (Stripe, https://docs.stripe.com/api/idempotent_requests): a key is tied
  to the endpoint and the parameters of its first request. Reused with the same ones, the
  first reply comes back as it was, plus `Idempotent-Replayed: true`, and nothing runs; with
  other ones, a 400 `idempotency_error`.
- any other header (PayPal's `PayPal-Request-Id`): the same id on the same endpoint replays
  the first reply; the body is not compared.

Only replies below 400 are remembered: Stripe saves no result when a request fails
validation, so a corrected retry with the same key still runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from engine.sandbox.messages import Call, Reply

STRIPE_HEADER = "idempotency-key"


class IdempotencyConflict(Exception):
    """A key reused for another request (Stripe's convention only)."""


@dataclass(frozen=True)
class _Remembered:
    endpoint: str
    fingerprint: bytes
    reply: Reply


class IdempotencyKeys:
    """One connector's remembered replies; requests carrying a key run one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: dict[tuple[str, ...], _Remembered] = {}

    def once(self, header: str, call: Call, run: Callable[[], Reply]) -> Reply:
        """`run()` the first time `call` carries its key in `header`, the remembered reply after.

        Raises IdempotencyConflict when a Stripe-style key was first used for another request.
        """
        name = header.lower()
        key = call.headers.get(name, "")
        if not key:
            return run()
        stripe = name == STRIPE_HEADER
        endpoint = f"{call.method} {call.api_path}"
        slot = (name, key) if stripe else (name, key, endpoint)
        fingerprint = _fingerprint(call.body)
        with self._lock:
            seen = self._replies.get(slot)
            if seen is None:
                reply = run()
                if reply.status < 400:
                    self._replies[slot] = _Remembered(endpoint, fingerprint, _copy(reply))
                return reply
        if stripe and seen.endpoint != endpoint:
            raise IdempotencyConflict(
                "Keys for idempotent requests can only be used for the same endpoint they were first "
                f"used for ('{seen.endpoint}' vs '{endpoint}'). Try using a key other than '{key}' if "
                "you meant to execute a different request."
            )
        if stripe and seen.fingerprint != fingerprint:
            raise IdempotencyConflict(
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request."
            )
        replayed = _copy(seen.reply)
        if stripe:
            replayed.headers["Idempotent-Replayed"] = "true"
        return replayed

    def clear(self) -> None:
        with self._lock:
            self._replies.clear()


def _fingerprint(body: Any) -> bytes:
    """The parameters as compared across requests: key order does not matter."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _copy(reply: Reply) -> Reply:
    """A reply detached from the one the server may still change (delay, truncation, headers)."""
    return replace(reply, headers=dict(reply.headers), delay=0.0, truncate=False)

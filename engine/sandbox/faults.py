"""Injected faults: rate limits, outages, latency, cut-off bodies, HTML error pages, expired tokens.

A rule hits requests to one connector (None: every connector) whose API path starts with
`path`, e.g. {"connector": "stripe", "path": "/v1/invoices", "kind": "status", "status": 429,
"retry_after": 1, "times": 2}. It skips the first `after` matching requests, then hits the
next `times` (-1: forever). `slow` rules stack with every other rule; of the rest, the first
matching rule wins. Faults come before the auth check, as an outage in front of the API would.

Kinds:
- status: reply `status` (default 500) with the provider's error body; `Retry-After: retry_after`
  when given.
- slow: wait `delay` seconds before answering.
- truncated: the normal reply with its body cut in half (Content-Length matches what is sent).
- html: an HTML error page with `status` (default 200), as from a proxy or a maintenance page.
- expire_tokens: forget every sync token of the connector, then answer normally (-> 410).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

FaultKind = Literal["status", "slow", "truncated", "html", "expire_tokens"]
KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class FaultRule:
    kind: FaultKind
    connector: str | None = None
    path: str = ""
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    times: int = 1
    after: int = 0
    seen: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"fault status must be an HTTP status, got {self.status}")
        if self.times < -1:
            raise ValueError("fault times must be -1 (forever) or a count >= 0")
        if self.after < 0 or self.delay < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("fault after, delay and retry_after must not be negative")

    @classmethod
    def from_dict(cls, data: Any) -> FaultRule:
        """Build a rule from control-API JSON; unknown keys and wrong types are ValueErrors."""
        if not isinstance(data, dict):
            raise ValueError("a fault rule is a JSON object")
        allowed = {f.name for f in fields(cls)} - {"seen", "hits"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(
                f"unknown fault field(s): {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
            )
        if "kind" not in data:
            raise ValueError("a fault rule needs a kind")
        numbers = {"status": int, "times": int, "after": int, "retry_after": float, "delay": float}
        for name, kind in numbers.items():
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"fault {name} must be a number")
            if value is not None and kind is int and not float(value).is_integer():
                raise ValueError(f"fault {name} must be an integer")
        for name in ("connector", "path"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"fault {name} must be a string")
        clean: dict[str, Any] = {
            k: (int(v) if numbers.get(k) is int and v is not None else v) for k, v in data.items()
        }
        return cls(**clean)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def exhausted(self) -> bool:
        return self.times != -1 and self.hits >= self.times

    def matches(self, connector: str, path: str) -> bool:
        return (self.connector is None or self.connector == connector) and path.startswith(self.path)


class Faults:
    """The rules in force, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def draw(self, connector: str, path: str) -> list[FaultRule]:
        """Count this request against the matching rules; return the ones that hit it."""
        hit: list[FaultRule] = []
        decided = False
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(connector, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or (decided and rule.kind != "slow"):
                    continue
                decided = decided or rule.kind != "slow"
                rule.hits += 1
                hit.append(rule)
        return hit

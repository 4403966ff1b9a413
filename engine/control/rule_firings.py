"""What notification rules have fired, so each fires once per change, and how the sends went."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from .db import ControlDB, now_utc
from .inbox import RetryPolicy

FiringState = Literal["baseline", "pending", "sent", "parked"]


@dataclass(frozen=True)
class Firing:
    rule: str
    row_key: str
    state: FiringState
    input: dict[str, Any]
    attempts: int
    last_error: str | None = None
    fired_at: str = ""
    sent_at: str | None = None


class RuleFirings:
    def __init__(self, db: ControlDB):
        self.db = db

    def mark(self, rule: str) -> str | None:
        """The newest `_synced_at` the rule has looked at; None before its first evaluation."""
        rows = self.db.query("SELECT synced_at FROM rule_marks WHERE rule = ?", [rule])
        return str(rows[0]["synced_at"]) if rows else None

    def set_mark(self, rule: str, synced_at: str) -> None:
        now = now_utc()
        self.db.execute(
            "INSERT INTO rule_marks (rule, synced_at, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (rule) DO UPDATE SET synced_at = excluded.synced_at, updated_at = excluded.updated_at",
            [rule, synced_at, now],
        )

    def fire(
        self, rule: str, firings: Sequence[tuple[str, dict[str, Any]]], *, state: FiringState = "pending"
    ) -> int:
        """Record firings (row key, rendered input); ones already recorded change nothing. Returns new ones."""
        now = now_utc()
        added = 0
        with self.db.transaction():
            for row_key, given in firings:
                added += self.db.execute(
                    "INSERT INTO rule_firings (rule, row_key, state, input, fired_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (rule, row_key) DO NOTHING",
                    [rule, row_key, state, orjson.dumps(given).decode(), now],
                )
        return added

    def _firing(self, row: dict[str, Any]) -> Firing:
        return Firing(**{**row, "input": orjson.loads(row["input"])})

    def due(self, limit: int = 200) -> list[Firing]:
        rows = self.db.query(
            "SELECT rule, row_key, state, input, attempts, last_error, fired_at, sent_at FROM rule_firings"
            " WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " ORDER BY fired_at LIMIT ?",
            [now_utc(), limit],
        )
        return [self._firing(r) for r in rows]

    def list(self, rule: str | None = None) -> list[Firing]:
        sql = "SELECT rule, row_key, state, input, attempts, last_error, fired_at, sent_at FROM rule_firings"
        rows = (
            self.db.query(sql + " WHERE rule = ? ORDER BY fired_at", [rule]) if rule else self.db.query(sql)
        )
        return [self._firing(r) for r in rows]

    def sent(self, firing: Firing) -> None:
        self.db.execute(
            "UPDATE rule_firings SET state = 'sent', sent_at = ?, last_error = NULL WHERE rule = ? AND row_key = ?",
            [now_utc(), firing.rule, firing.row_key],
        )

    def failed(
        self, firing: Firing, error: str, *, permanent: bool, policy: RetryPolicy = RetryPolicy()
    ) -> FiringState:
        attempts = firing.attempts + 1
        state: FiringState = "parked" if permanent or attempts >= policy.max_attempts else "pending"
        retry_at = datetime.now(UTC) + timedelta(seconds=policy.delay(attempts))
        self.db.execute(
            "UPDATE rule_firings SET state = ?, attempts = ?, last_error = ?, next_attempt_at = ?"
            " WHERE rule = ? AND row_key = ?",
            [state, attempts, error[:2000], retry_at.isoformat(), firing.rule, firing.row_key],
        )
        return state

    def summary(self) -> Sequence[dict[str, Any]]:
        """Per rule: counts by state, the last firing and the last error (for diagnostics)."""
        rows = self.db.query(
            "SELECT rule, state, COUNT(*) AS n, MAX(fired_at) AS last FROM rule_firings GROUP BY rule, state"
        )
        errors = {
            r["rule"]: r["last_error"]
            for r in self.db.query(
                "SELECT rule, last_error FROM rule_firings WHERE last_error IS NOT NULL ORDER BY fired_at"
            )
        }
        rules: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = rules.setdefault(
                row["rule"],
                {
                    "rule": row["rule"],
                    "baseline": 0,
                    "pending": 0,
                    "sent": 0,
                    "parked": 0,
                    "last_fired_at": None,
                },
            )
            entry[row["state"]] = int(row["n"])
            if row["state"] != "baseline":
                entry["last_fired_at"] = max(
                    filter(None, [entry["last_fired_at"], row["last"]]), default=None
                )
        for name, entry in rules.items():
            entry["last_error"] = errors.get(name)
        return [rules[name] for name in sorted(rules)]

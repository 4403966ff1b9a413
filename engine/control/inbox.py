"""The webhook inbox and its audit log: verified deliveries stored once, then applied once.

Unique per (connector, connection, event id): per-connection providers may reuse ids across
accounts.

    inbox = Inbox(db)
    [new] = inbox.write([Delivery("stripe", "evt_1", None, "invoice.paid", {}, body, now)], [])
    inbox.write([same_delivery], [])      # -> [False]: a duplicate changes nothing
    for event in inbox.due("stripe"):     # pending events whose retry time has come
        ...; inbox.processed(event)       # or inbox.failed(event, "why", policy)

Every delivery also leaves an `AuditEntry` (accepted, duplicate, rejected with the reason...),
never with a secret or the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from .db import ControlDB, now_utc

Outcome = Literal["accepted", "duplicate", "rejected", "handshake", "acknowledged"]
EventState = Literal["pending", "processed", "ignored", "parked"]


@dataclass(frozen=True)
class Delivery:
    """A verified delivery to store: the raw body bytes and a safe subset of its headers."""

    connector: str
    event_id: str
    connection_id: str | None
    event_type: str | None
    headers: dict[str, str]
    body: bytes = field(repr=False)
    received_at: str


@dataclass(frozen=True)
class AuditEntry:
    connector: str
    outcome: Outcome
    status: int
    received_at: str
    connection_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    connector: str
    event_id: str
    connection_id: str | None
    event_type: str | None
    headers: dict[str, str]
    body: bytes = field(repr=False)
    received_at: str
    state: EventState
    attempts: int
    error: str | None = None
    processed_at: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Failed applications wait `base * 2**(attempts-1)` seconds (capped); after `max_attempts`, parked."""

    max_attempts: int = 8
    base_seconds: float = 30
    cap_seconds: float = 3600

    def delay(self, attempts: int) -> float:
        return float(min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class InboxStats:
    """What diagnostics show per connector."""

    connector: str
    last_received_at: str | None
    accepted: int
    duplicate: int
    rejected: int
    pending: int
    oldest_unprocessed_at: str | None
    parked: int


_EVENT_COLUMNS = (
    "connector, event_id, connection_id, event_type, headers, body, received_at, state, attempts, error,"
    " processed_at"
)


class Inbox:
    """Reads and writes of `webhook_events` and `webhook_audit`."""

    def __init__(self, db: ControlDB):
        self.db = db

    # ------------------------------------------------------------ receiving

    def write(self, deliveries: Sequence[Delivery], audits: Sequence[AuditEntry]) -> list[bool]:
        """Store deliveries and audit entries in one transaction; True for each delivery that is new.

        A delivery's own audit entry (accepted or duplicate) is added here, once its fate is known.
        """
        fresh: list[bool] = []
        with self.db.transaction():
            for item in deliveries:
                changed = self.db.execute(
                    "INSERT INTO webhook_events (connector, event_id, connection_id, event_type, headers,"
                    " body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (connector, connection_id, event_id) DO NOTHING",
                    [
                        item.connector,
                        item.event_id,
                        item.connection_id or "",
                        item.event_type,
                        orjson.dumps(item.headers).decode(),
                        item.body,
                        item.received_at,
                    ],
                )
                fresh.append(changed > 0)
                self._audit(
                    AuditEntry(
                        item.connector,
                        "accepted" if changed > 0 else "duplicate",
                        200,
                        item.received_at,
                        item.connection_id,
                        item.event_id,
                        item.event_type,
                    )
                )
            for entry in audits:
                self._audit(entry)
        return fresh

    def _audit(self, entry: AuditEntry) -> None:
        self.db.execute(
            "INSERT INTO webhook_audit (connector, connection_id, event_id, event_type, outcome, reason, status,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                entry.connector,
                entry.connection_id,
                entry.event_id,
                entry.event_type,
                entry.outcome,
                entry.reason,
                entry.status,
                entry.received_at,
            ],
        )

    # ------------------------------------------------------------ applying

    def _event(self, row: dict[str, Any]) -> StoredEvent:
        return StoredEvent(
            connector=row["connector"],
            event_id=row["event_id"],
            connection_id=row["connection_id"] or None,
            event_type=row["event_type"],
            headers=orjson.loads(row["headers"]),
            body=bytes(row["body"]),
            received_at=row["received_at"],
            state=row["state"],
            attempts=row["attempts"],
            error=row["error"],
            processed_at=row["processed_at"],
        )

    def get(self, connector: str, event_id: str, connection_id: str | None = None) -> StoredEvent | None:
        rows = self.db.query(
            f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE connector = ? AND connection_id = ?"
            " AND event_id = ?",
            [connector, connection_id or "", event_id],
        )
        return self._event(rows[0]) if rows else None

    def due(
        self, connector: str | None = None, *, limit: int = 500, now: str | None = None
    ) -> list[StoredEvent]:
        """Pending events whose (retry) time has come, oldest first."""
        now = now or now_utc()
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM webhook_events WHERE state = 'pending'"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        )
        params: list[Any] = [now]
        if connector is not None:
            sql += " AND connector = ?"
            params.append(connector)
        rows = self.db.query(sql + " ORDER BY received_at, event_id LIMIT ?", [*params, limit])
        return [self._event(r) for r in rows]

    def processed(self, event: StoredEvent, state: EventState = "processed") -> None:
        self.db.execute(
            "UPDATE webhook_events SET state = ?, processed_at = ?, error = NULL, next_attempt_at = NULL"
            " WHERE connector = ? AND connection_id = ? AND event_id = ?",
            [state, now_utc(), event.connector, event.connection_id or "", event.event_id],
        )

    def failed(self, event: StoredEvent, error: str, policy: RetryPolicy = RetryPolicy()) -> EventState:
        """Record a failed application: retried later with backoff, or parked after the bound."""
        attempts = event.attempts + 1
        state: EventState = "parked" if attempts >= policy.max_attempts else "pending"
        retry_at = datetime.now(UTC) + timedelta(seconds=policy.delay(attempts))
        self.db.execute(
            "UPDATE webhook_events SET state = ?, attempts = ?, error = ?, next_attempt_at = ?"
            " WHERE connector = ? AND connection_id = ? AND event_id = ?",
            [
                state,
                attempts,
                error[:2000],
                retry_at.isoformat(),
                event.connector,
                event.connection_id or "",
                event.event_id,
            ],
        )
        return state

    def requeue_parked(self, connector: str) -> int:
        """Give parked events another round (after the cause is fixed)."""
        return self.db.execute(
            "UPDATE webhook_events SET state = 'pending', attempts = 0, next_attempt_at = NULL"
            " WHERE connector = ? AND state = 'parked'",
            [connector],
        )

    # ------------------------------------------------------------ reporting

    def stats(self, connector: str) -> InboxStats:
        counts = {
            r["outcome"]: int(r["n"])
            for r in self.db.query(
                "SELECT outcome, COUNT(*) AS n FROM webhook_audit WHERE connector = ? GROUP BY outcome",
                [connector],
            )
        }
        last = self.db.query(
            "SELECT MAX(received_at) AS at FROM webhook_audit WHERE connector = ?", [connector]
        )[0]["at"]
        states = {
            r["state"]: (int(r["n"]), r["oldest"])
            for r in self.db.query(
                "SELECT state, COUNT(*) AS n, MIN(received_at) AS oldest FROM webhook_events"
                " WHERE connector = ? AND state IN ('pending', 'parked') GROUP BY state",
                [connector],
            )
        }
        pending, oldest = states.get("pending", (0, None))
        return InboxStats(
            connector=connector,
            last_received_at=last,
            accepted=counts.get("accepted", 0),
            duplicate=counts.get("duplicate", 0),
            rejected=counts.get("rejected", 0),
            pending=pending,
            oldest_unprocessed_at=oldest,
            parked=states.get("parked", (0, None))[0],
        )

    def audit_log(self, connector: str | None = None, *, limit: int = 100) -> list[AuditEntry]:
        sql = (
            "SELECT connector, outcome, status, received_at, connection_id, event_id, event_type, reason"
            " FROM webhook_audit"
        )
        params: list[Any] = []
        if connector is not None:
            sql += " WHERE connector = ?"
            params.append(connector)
        rows = self.db.query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [AuditEntry(**r) for r in rows]

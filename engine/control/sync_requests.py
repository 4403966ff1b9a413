"""Queued sync requests: "sync now" buttons and webhook-triggered syncs, run by the Dagster sensor.

    requests = SyncRequests(db)
    request = requests.queue("google_calendar", "maya", ["events"], source="webhook")
    requests.queue("google_calendar", "maya", ["events"], source="webhook")  # same request: pending
    for request in requests.queued():   # the sensor
        requests.started(request.id, run_id)  ...  requests.finished(request.id, error=None)

While a request is queued, asking for the same sync again returns it instead of a new one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from .db import ControlDB, now_utc

SyncState = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class SyncRequest:
    id: str
    connector: str
    connection_id: str | None
    streams: list[str]
    source: str
    state: SyncState
    created_at: str
    run_id: str | None = None
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connector": self.connector,
            "connection_id": self.connection_id,
            "streams": self.streams,
            "source": self.source,
            "state": self.state,
            "run_id": self.run_id,
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


_COLUMNS = (
    "id, connector, connection_id, streams, source, state, created_at, run_id, error, started_at, finished_at"
)


def _pending_key(connector: str, connection_id: str | None, streams: list[str]) -> str:
    return orjson.dumps([connector, connection_id or "", sorted(streams)]).decode()


class SyncRequests:
    def __init__(self, db: ControlDB):
        self.db = db

    def _request(self, row: dict[str, Any]) -> SyncRequest:
        return SyncRequest(**{**row, "streams": orjson.loads(row["streams"])})

    def get(self, request_id: str) -> SyncRequest | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM sync_requests WHERE id = ?", [request_id])
        return self._request(rows[0]) if rows else None

    def queue(
        self, connector: str, connection_id: str | None, streams: list[str] | None = None, *, source: str
    ) -> SyncRequest:
        """Queue a sync, or return the identical one already queued (deduplicated while pending)."""
        streams = sorted(set(streams or []))
        key = _pending_key(connector, connection_id, streams)
        request_id = uuid.uuid4().hex
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO sync_requests (id, connector, connection_id, streams, source, state, pending_key,"
                " created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (pending_key) DO NOTHING",
                [
                    request_id,
                    connector,
                    connection_id,
                    orjson.dumps(streams).decode(),
                    source,
                    key,
                    now_utc(),
                ],
            )
            rows = self.db.query(f"SELECT {_COLUMNS} FROM sync_requests WHERE pending_key = ?", [key])
        return self._request(rows[0])

    def queued(self, limit: int = 100) -> list[SyncRequest]:
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM sync_requests WHERE state = 'queued' ORDER BY created_at LIMIT ?",
            [limit],
        )
        return [self._request(r) for r in rows]

    def started(self, request_id: str, run_id: str | None = None) -> bool:
        """Mark a queued request running; False when it was not queued (another sensor took it)."""
        return (
            self.db.execute(
                "UPDATE sync_requests SET state = 'running', pending_key = NULL, run_id = ?, started_at = ?"
                " WHERE id = ? AND state = 'queued'",
                [run_id, now_utc(), request_id],
            )
            > 0
        )

    def finished(self, request_id: str, error: str | None = None) -> None:
        self.db.execute(
            "UPDATE sync_requests SET state = ?, error = ?, pending_key = NULL, finished_at = ? WHERE id = ?",
            ["failed" if error else "succeeded", error[:2000] if error else None, now_utc(), request_id],
        )

    def recent(self, connector: str | None = None, limit: int = 50) -> list[SyncRequest]:
        sql = f"SELECT {_COLUMNS} FROM sync_requests"
        params: list[Any] = []
        if connector is not None:
            sql += " WHERE connector = ?"
            params.append(connector)
        rows = self.db.query(sql + " ORDER BY created_at DESC LIMIT ?", [*params, limit])
        return [self._request(r) for r in rows]

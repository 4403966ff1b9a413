"""Connections: who connected which provider account, its credentials (encrypted) and its health."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from .crypto import Vault
from .db import ControlDB, now_utc

_COLUMNS = (
    "connector, id, owner_id, account_id, account, config, credentials, scopes, connected, last_error,"
    " last_error_at, last_sync_at, token_expires_at, created_at, updated_at"
)


@dataclass(frozen=True)
class ConnectionRecord:
    """One stored connection. `credentials` are decrypted in memory and never shown in its repr."""

    connector: str
    id: str
    owner_id: str | None = None
    account_id: str | None = None
    account: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)
    scopes: list[str] = field(default_factory=list)
    connected: bool = False
    last_error: str | None = None
    last_error_at: str | None = None
    last_sync_at: str | None = None
    token_expires_at: str | None = None
    created_at: str = ""
    updated_at: str = ""

    def __repr__(self) -> str:
        return (
            f"ConnectionRecord(connector={self.connector!r}, id={self.id!r}, account_id={self.account_id!r}, "
            f"connected={self.connected}, credentials={'***' if self.credentials else '{}'})"
        )

    def token_status(self, now: datetime, soon_seconds: float = 300) -> str:
        """valid / expiring soon / expired / not applicable."""
        if not self.token_expires_at:
            return "not applicable"
        left = (datetime.fromisoformat(self.token_expires_at) - now).total_seconds()
        if left <= 0:
            return "expired"
        return "expiring soon" if left <= soon_seconds else "valid"


class ConnectionStore:
    """CRUD and health updates over the `connections` table."""

    def __init__(self, db: ControlDB, vault: Vault):
        self.db = db
        self.vault = vault

    def _record(self, row: dict[str, Any]) -> ConnectionRecord:
        credentials = self.vault.decrypt(row["credentials"]) if row["credentials"] else {}
        return ConnectionRecord(
            connector=row["connector"],
            id=row["id"],
            owner_id=row["owner_id"],
            account_id=row["account_id"],
            account=orjson.loads(row["account"]),
            config=orjson.loads(row["config"]),
            credentials=credentials,
            scopes=orjson.loads(row["scopes"]),
            connected=bool(row["connected"]),
            last_error=row["last_error"],
            last_error_at=row["last_error_at"],
            last_sync_at=row["last_sync_at"],
            token_expires_at=row["token_expires_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def get(self, connector: str, connection_id: str) -> ConnectionRecord | None:
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM connections WHERE connector = ? AND id = ?", [connector, connection_id]
        )
        return self._record(rows[0]) if rows else None

    def by_account(self, connector: str, account_id: str) -> ConnectionRecord | None:
        """The connection of this provider account (Xero tenant), the oldest if several share it."""
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM connections WHERE connector = ? AND account_id = ? ORDER BY created_at, id",
            [connector, account_id],
        )
        return self._record(rows[0]) if rows else None

    def list(self, connector: str | None = None) -> list[ConnectionRecord]:
        if connector is None:
            rows = self.db.query(f"SELECT {_COLUMNS} FROM connections ORDER BY connector, id")
        else:
            rows = self.db.query(
                f"SELECT {_COLUMNS} FROM connections WHERE connector = ? ORDER BY id", [connector]
            )
        return [self._record(r) for r in rows]

    def save(self, record: ConnectionRecord) -> ConnectionRecord:
        """Insert or replace the whole record (credentials re-encrypted)."""
        now = now_utc()
        existing = self.get(record.connector, record.id)
        record = replace(record, created_at=existing.created_at if existing else now, updated_at=now)
        values = [
            record.connector,
            record.id,
            record.owner_id,
            record.account_id,
            orjson.dumps(record.account).decode(),
            orjson.dumps(record.config).decode(),
            self.vault.encrypt(record.credentials) if record.credentials else None,
            orjson.dumps(record.scopes).decode(),
            int(record.connected),
            record.last_error,
            record.last_error_at,
            record.last_sync_at,
            record.token_expires_at,
            record.created_at,
            record.updated_at,
        ]
        with self.db.transaction():
            self.db.execute(
                "DELETE FROM connections WHERE connector = ? AND id = ?", [record.connector, record.id]
            )
            self.db.execute(
                f"INSERT INTO connections ({_COLUMNS}) VALUES ({', '.join('?' * len(values))})", values
            )
        return record

    def mark_error(self, connector: str, connection_id: str, error: str, *, disconnect: bool = False) -> None:
        now = now_utc()
        sql = "UPDATE connections SET last_error = ?, last_error_at = ?, updated_at = ?"
        sql += ", connected = 0" if disconnect else ""
        self.db.execute(sql + " WHERE connector = ? AND id = ?", [error, now, now, connector, connection_id])

    def mark_synced(self, connector: str, connection_id: str) -> None:
        now = now_utc()
        self.db.execute(
            "UPDATE connections SET last_sync_at = ?, last_error = NULL, last_error_at = NULL, updated_at = ?"
            " WHERE connector = ? AND id = ?",
            [now, now, connector, connection_id],
        )

    def disconnect(self, connector: str, connection_id: str, reason: str = "disconnected by a user") -> bool:
        """Forget the credentials and mark the connection disconnected; the row stays for its history."""
        now = now_utc()
        changed = self.db.execute(
            "UPDATE connections SET credentials = NULL, connected = 0, token_expires_at = NULL, last_error = ?,"
            " last_error_at = ?, updated_at = ? WHERE connector = ? AND id = ?",
            [reason, now, now, connector, connection_id],
        )
        return changed > 0

    def delete(self, connector: str, connection_id: str) -> bool:
        return (
            self.db.execute(
                "DELETE FROM connections WHERE connector = ? AND id = ?", [connector, connection_id]
            )
            > 0
        )

    def rotate_key(self) -> int:
        """Re-encrypt every stored credential with the vault's primary key; returns how many."""
        rows = self.db.query(
            "SELECT connector, id, credentials FROM connections WHERE credentials IS NOT NULL"
        )
        with self.db.transaction():
            for row in rows:
                self.db.execute(
                    "UPDATE connections SET credentials = ? WHERE connector = ? AND id = ?",
                    [self.vault.rotate(row["credentials"]), row["connector"], row["id"]],
                )
        return len(rows)


def record_sync(
    db: ControlDB, connector: str, connection_id: str, error: str | None, *, create: bool
) -> None:
    """A sync's outcome on its connection: `last_sync_at` (and the error cleared), or `last_error`.

    `create`: connectors whose credentials come from the environment (API keys, client
    credentials) get their connection row on first sync, so they show in `manifold connections`
    and diagnostics like per-user connections do. No credentials are stored for them.
    """
    now = now_utc()
    with db.transaction():
        if create:
            db.execute(
                "INSERT INTO connections (connector, id, connected, created_at, updated_at)"
                " VALUES (?, ?, 1, ?, ?) ON CONFLICT (connector, id) DO NOTHING",
                [connector, connection_id, now, now],
            )
        if error is None:
            db.execute(
                "UPDATE connections SET last_sync_at = ?, last_error = NULL, last_error_at = NULL, updated_at = ?"
                " WHERE connector = ? AND id = ?",
                [now, now, connector, connection_id],
            )
        else:
            db.execute(
                "UPDATE connections SET last_error = ?, last_error_at = ?, updated_at = ? WHERE connector = ? AND id = ?",
                [error[:2000], now, now, connector, connection_id],
            )

"""Versioned schema migrations of the control store. Append; never edit an applied one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: tuple[str, ...]
    postgres: tuple[str, ...] | None = None  # where Postgres needs other SQL

    def statements(self, dialect: Literal["sqlite", "postgres"]) -> tuple[str, ...]:
        return self.postgres if dialect == "postgres" and self.postgres is not None else self.sql


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "connections",
        (
            """CREATE TABLE connections (
                connector TEXT NOT NULL,
                id TEXT NOT NULL,
                owner_id TEXT,
                account_id TEXT,
                account TEXT NOT NULL DEFAULT '{}',
                config TEXT NOT NULL DEFAULT '{}',
                credentials TEXT,
                scopes TEXT NOT NULL DEFAULT '[]',
                connected INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                last_error_at TEXT,
                last_sync_at TEXT,
                token_expires_at TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (connector, id)
            )""",
            "CREATE INDEX connections_owner ON connections (owner_id)",
        ),
    ),
    Migration(
        2,
        "oauth_states",
        (
            # One row per authorize redirect: the `state` nonce, what it is bound to, the PKCE
            # verifier (encrypted); `used_at` makes it single use (engine/oauth/state.py).
            """CREATE TABLE oauth_states (
                nonce TEXT PRIMARY KEY,
                connector TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                owner_id TEXT,
                redirect_uri TEXT NOT NULL,
                code_verifier TEXT,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                used_at TEXT
            )""",
            "CREATE INDEX oauth_states_created ON oauth_states (created_at)",
            # The key that signs `state` values, encrypted with the vault; shared by every process.
            "CREATE TABLE oauth_keys (name TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at TEXT NOT NULL)",
        ),
    ),
]

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
]

"""Versioned schema migrations of the control store. Append; never edit an applied one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: tuple[str, ...]
    postgres: tuple[str, ...] | None = None  # where Postgres needs other SQL

    def statements(self, dialect: Literal["sqlite", "postgres"]) -> tuple[str, ...]:
        return self.postgres if dialect == "postgres" and self.postgres is not None else self.sql

    def for_postgres(self, types: dict[str, str]) -> Migration:
        """The same statements with SQLite's type names replaced by Postgres's."""
        translated = []
        for statement in self.sql:
            for sqlite_type, postgres_type in types.items():
                statement = statement.replace(sqlite_type, postgres_type)
            translated.append(statement)
        return replace(self, postgres=tuple(translated))


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
    Migration(
        3,
        "webhook_inbox",
        (
            # One row per accepted delivery, unique per (connector, connection, event id): a duplicate
            # is a no-op. connection_id is '' for deliveries to /webhooks/{connector}.
            # `state` runs pending -> processed | ignored, or parked after too many failed attempts.
            """CREATE TABLE webhook_events (
                connector TEXT NOT NULL,
                event_id TEXT NOT NULL,
                connection_id TEXT NOT NULL DEFAULT '',
                event_type TEXT,
                headers TEXT NOT NULL DEFAULT '{}',
                body BLOB NOT NULL,
                received_at TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TEXT,
                processed_at TEXT,
                error TEXT,
                PRIMARY KEY (connector, connection_id, event_id)
            )""",
            "CREATE INDEX webhook_events_state ON webhook_events (state, next_attempt_at)",
            # Every delivery, whatever became of it; never a secret, never the body.
            """CREATE TABLE webhook_audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                connector TEXT NOT NULL,
                connection_id TEXT,
                event_id TEXT,
                event_type TEXT,
                outcome TEXT NOT NULL,
                reason TEXT,
                status INTEGER NOT NULL,
                received_at TEXT NOT NULL
            )""",
            "CREATE INDEX webhook_audit_connector ON webhook_audit (connector, received_at)",
        ),
    ).for_postgres({"BLOB": "BYTEA", "INTEGER PRIMARY KEY AUTOINCREMENT": "BIGSERIAL PRIMARY KEY"}),
    Migration(
        4,
        "sync_requests",
        (
            # "Sync now" buttons and webhook-triggered syncs; the Dagster sensor turns them into runs.
            # At most one queued request per (connector, connection, streams): `pending_key` is unique
            # while queued and NULL once the request is picked up.
            """CREATE TABLE sync_requests (
                id TEXT PRIMARY KEY,
                connector TEXT NOT NULL,
                connection_id TEXT,
                streams TEXT NOT NULL DEFAULT '[]',
                source TEXT NOT NULL,
                state TEXT NOT NULL,
                pending_key TEXT UNIQUE,
                run_id TEXT,
                error TEXT,
                created_at TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT
            )""",
            "CREATE INDEX sync_requests_state ON sync_requests (state, created_at)",
        ),
    ),
    Migration(
        5,
        "rule_firings",
        (
            # One row per (rule, row that came to match): fired once, then sent, retried or parked.
            # `baseline` rows matched when the rule was first evaluated and are never sent.
            """CREATE TABLE rule_firings (
                rule TEXT NOT NULL,
                row_key TEXT NOT NULL,
                state TEXT NOT NULL,
                input TEXT NOT NULL DEFAULT '{}',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TEXT,
                last_error TEXT,
                fired_at TEXT NOT NULL,
                sent_at TEXT,
                PRIMARY KEY (rule, row_key)
            )""",
            "CREATE INDEX rule_firings_state ON rule_firings (state, next_attempt_at)",
            "CREATE TABLE rule_marks (rule TEXT PRIMARY KEY, synced_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        ),
    ),
    Migration(
        6,
        "push_marks",
        (
            # One row per (push, target connection, source row): the remote id the provider gave it,
            # the hash of the input last pushed (a changed row is pushed again) and how it went.
            """CREATE TABLE push_marks (
                connector TEXT NOT NULL,
                push TEXT NOT NULL,
                connection_id TEXT NOT NULL,
                row_key TEXT NOT NULL,
                remote_id TEXT,
                input_hash TEXT,
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                pushed_at TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (connector, push, connection_id, row_key)
            )""",
        ),
    ),
]

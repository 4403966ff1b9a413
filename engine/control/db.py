"""One small SQL seam over SQLite and Postgres, with versioned migrations applied on open.

SQL is written once with `?` placeholders; the Postgres side translates them to `%s`.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ..redact import redact_url
from .migrations import MIGRATIONS

DEFAULT_URL = "sqlite:///state/control.db"
Dialect = Literal["sqlite", "postgres"]
_PLACEHOLDER = re.compile(r"\?")


def control_url() -> str:
    return os.environ.get("MANIFOLD_CONTROL_URL") or DEFAULT_URL


def now_utc() -> str:
    """Timestamps are stored as ISO 8601 UTC text in both dialects (sortable, unambiguous)."""
    return datetime.now(UTC).isoformat()


def _wal(connection: sqlite3.Connection, timeout: float = 30) -> None:
    """Switch the file to WAL. The switch needs the file to itself and SQLite does not wait for
    it (no busy handler): processes opening a new store at once take turns here."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class ControlDB:
    """A connection to the control store. Thread-safe: one lock around the one DB connection.

    `durable=True` makes each SQLite commit wait for the disk (synchronous=FULL), for writes that
    are acknowledged to someone else (the webhook inbox); WAL's NORMAL survives a process crash only.
    """

    def __init__(self, url: str, *, durable: bool = False):
        self.url = url
        self._lock = threading.RLock()
        self.dialect: Dialect
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite = sqlite3.connect(
                str(path), timeout=30, check_same_thread=False, isolation_level=None
            )
            _wal(self._sqlite)
            self._sqlite.execute("PRAGMA busy_timeout=30000")
            self._sqlite.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._sqlite.execute("PRAGMA foreign_keys=ON")
            self.dialect = "sqlite"
        elif url.startswith(("postgresql://", "postgres://")):
            import psycopg

            try:
                self._pg = psycopg.connect(url, autocommit=True)
            except psycopg.Error as exc:
                raise ConfigError(f"cannot reach the control store at {redact_url(url)}: {exc}") from None
            self.dialect = "postgres"
        else:
            raise ConfigError(
                f"MANIFOLD_CONTROL_URL {redact_url(url)} is not supported; "
                "use sqlite:///path/to/control.db or postgresql://user@host/db"
            )
        self.migrate()

    def _sql(self, sql: str) -> str:
        return _PLACEHOLDER.sub("%s", sql) if self.dialect == "postgres" else sql

    @contextmanager
    def transaction(self) -> Iterator[ControlDB]:
        """BEGIN ... COMMIT, ROLLBACK on any error. SQLite takes the write lock up front."""
        with self._lock:
            self.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            try:
                yield self
            except BaseException:
                self.execute("ROLLBACK")
                raise
            self.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; returns the number of rows it changed."""
        with self._lock:
            if self.dialect == "sqlite":
                return self._sqlite.execute(sql, tuple(params)).rowcount
            with self._pg.cursor() as cursor:
                cursor.execute(self._sql(sql).encode(), tuple(params))
                return cursor.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            if self.dialect == "sqlite":
                lite = self._sqlite.execute(sql, tuple(params))
                names = [d[0] for d in lite.description or []]
                return [dict(zip(names, row, strict=True)) for row in lite.fetchall()]
            with self._pg.cursor() as cursor:
                cursor.execute(self._sql(sql).encode(), tuple(params))
                names = [d[0] for d in cursor.description or []]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def migrate(self) -> list[int]:
        """Apply the migrations this store has not seen, each in its own transaction."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS manifold_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        done = {r["version"] for r in self.query("SELECT version FROM manifold_migrations")}
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            with self.transaction():
                if self.query(
                    "SELECT version FROM manifold_migrations WHERE version = ?", [migration.version]
                ):
                    continue  # another process applied it meanwhile
                for statement in migration.statements(self.dialect):
                    self.execute(statement)
                self.execute(
                    "INSERT INTO manifold_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [migration.version, migration.name, now_utc()],
                )
            applied.append(migration.version)
        return applied

    def close(self) -> None:
        with self._lock:
            if self.dialect == "sqlite":
                self._sqlite.close()
            else:
                self._pg.close()

    def __repr__(self) -> str:
        return f"ControlDB({redact_url(self.url)!r})"


def open_control(url: str | None = None) -> ControlDB:
    return ControlDB(url or control_url())

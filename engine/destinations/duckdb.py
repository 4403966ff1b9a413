"""DuckDB: the embedded default warehouse (one writing process per file)."""

from __future__ import annotations

import contextlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ..models import VERSION_COLUMN
from .base import Batch, LoadCounts, RunRecord, StateKey, merge_rows

STATE_TABLE = "_manifold_state"
RUNS_TABLE = "_manifold_runs"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBDestination:
    """Loads Arrow batches with DELETE+INSERT merge or plain append; state in the same transaction."""

    def __init__(self, path: str | Path, *, memory_limit: str | None = None):
        self.path = Path(path)
        self.url = f"duckdb:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(self.path))
        # Loading streams batch by batch: a small buffer pool keeps the sync's memory flat, and
        # checkpointing only past 1 GB of WAL (not on every 16 MB commit) keeps commits cheap
        # as the table grows. The WAL makes every commit durable either way.
        limit = memory_limit or os.environ.get("MANIFOLD_DUCKDB_MEMORY_LIMIT") or "64MB"
        self._con.execute(f"SET memory_limit = '{limit}'")
        self._con.execute("SET checkpoint_threshold = '1GB'")
        self._con.execute("SET preserve_insertion_order = false")
        self._lock = threading.Lock()
        self._known: dict[str, set[str]] = {}
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (connector VARCHAR, stream VARCHAR, connection_id VARCHAR,"
            " state JSON, updated_at TIMESTAMPTZ, PRIMARY KEY (connector, stream, connection_id))"
        )
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (run_id VARCHAR, connector VARCHAR, stream VARCHAR,"
            " connection_id VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, status VARCHAR,"
            " error VARCHAR, stats JSON, PRIMARY KEY (run_id, stream))"
        )

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The underlying connection (for queries by tests and the demo summary)."""
        return self._con

    def _columns(self, table: str) -> set[str]:
        rows = self._con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
            [table],
        ).fetchall()
        return {r[0] for r in rows}

    def ensure_table(self, name: str, schema: pa.Schema) -> None:
        with self._lock:
            existing = self._columns(name)
            empty = schema.empty_table()
            if not existing:
                self._con.register("__empty", empty)
                self._con.execute(f"CREATE TABLE {_quote(name)} AS SELECT * FROM __empty")
                self._con.unregister("__empty")
            else:
                missing = [f for f in schema if f.name not in existing]
                if missing:
                    probe = pa.schema(missing).empty_table()
                    self._con.register("__probe", probe)
                    types = dict(
                        self._con.execute(
                            "SELECT column_name, column_type FROM (DESCRIBE __probe)"
                        ).fetchall()
                    )
                    self._con.unregister("__probe")
                    for f in missing:
                        self._con.execute(
                            f"ALTER TABLE {_quote(name)} ADD COLUMN {_quote(f.name)} {types[f.name]}"
                        )
            self._known[name] = {f.name for f in schema}

    def get_state(self, key: StateKey) -> dict[str, Any]:
        with self._lock:
            row = self._con.execute(
                f"SELECT state FROM {STATE_TABLE} WHERE connector = ? AND stream = ? AND connection_id = ?",
                [key.connector, key.stream, key.connection_id],
            ).fetchone()
        return orjson.loads(row[0]) if row else {}

    def _clear(self, table: str, where: dict[str, Any]) -> None:
        conditions = [f"{_quote(c)} = ?" for c in where]
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        self._con.execute(f"DELETE FROM {_quote(table)}{clause}", list(where.values()))

    def _load(self, batch: Batch) -> LoadCounts:
        table = _quote(batch.table)
        rows = merge_rows(batch) if batch.disposition == "merge" else batch.rows
        if batch.columns is not None and batch.disposition == "merge":
            rows = rows.select(batch.columns)
        self._con.register("__batch", rows)
        try:
            if batch.disposition == "append":
                self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM __batch")
                return LoadCounts(inserted=rows.num_rows)
            match = " AND ".join(f"t.{_quote(k)} = b.{_quote(k)}" for k in batch.key)
            if batch.columns is not None:
                return self._load_patch(table, match, batch, rows.num_rows)
            if batch.versioned:
                return self._load_versioned(table, match, rows.num_rows)
            deleted = self._con.execute(f"DELETE FROM {table} t USING __batch b WHERE {match}").fetchone()
            updated = int(deleted[0]) if deleted else 0
            self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM __batch")
            return LoadCounts(inserted=rows.num_rows - updated, updated=updated)
        finally:
            with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses; ROLLBACK follows
                self._con.unregister("__batch")

    def _load_patch(self, table: str, match: str, batch: Batch, count: int) -> LoadCounts:
        """Set the batch's columns on matching rows (not newer ones, when versioned); insert the rest."""
        assert batch.columns is not None
        version = _quote(VERSION_COLUMN)
        sets = ", ".join(f"{_quote(c)} = b.{_quote(c)}" for c in batch.columns if c not in batch.key)
        newer = (
            f" AND (t.{version} IS NULL OR b.{version} IS NULL OR t.{version} <= b.{version})"
            if batch.versioned and VERSION_COLUMN in batch.columns
            else ""
        )
        changed = self._con.execute(
            f"UPDATE {table} t SET {sets} FROM __batch b WHERE {match}{newer}"
        ).fetchone()
        updated = int(changed[0]) if changed else 0
        names = ", ".join(_quote(c) for c in batch.columns)
        written = self._con.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM __batch b"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})"
        ).fetchone()
        inserted = int(written[0]) if written else 0
        return LoadCounts(inserted=inserted, updated=updated, stale=count - inserted - updated)

    def _load_versioned(self, table: str, match: str, count: int) -> LoadCounts:
        """Replace only rows whose version is not newer; rows still matching afterwards are newer."""
        version = _quote(VERSION_COLUMN)
        deleted = self._con.execute(
            f"DELETE FROM {table} t USING __batch b WHERE {match}"
            f" AND (t.{version} IS NULL OR b.{version} IS NULL OR t.{version} <= b.{version})"
        ).fetchone()
        updated = int(deleted[0]) if deleted else 0
        written = self._con.execute(
            f"INSERT INTO {table} BY NAME SELECT b.* FROM __batch b"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})"
        ).fetchone()
        total = int(written[0]) if written else 0
        return LoadCounts(inserted=total - updated, updated=updated, stale=count - total)

    def commit(self, batches: list[Batch], key: StateKey, state: dict[str, Any]) -> LoadCounts:
        counts = LoadCounts()
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                for batch in batches:
                    if batch.clear is not None:
                        self._clear(batch.table, batch.clear)
                    if batch.rows.num_rows:
                        counts.add(self._load(batch))
                self._con.execute(
                    f"INSERT OR REPLACE INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?)",
                    [
                        key.connector,
                        key.stream,
                        key.connection_id,
                        orjson.dumps(state).decode(),
                        datetime.now(UTC),
                    ],
                )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        return counts

    def record_run(self, run: RunRecord) -> None:
        with self._lock:
            self._con.execute(
                f"INSERT OR REPLACE INTO {RUNS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                run.row(),
            )

    def rows(
        self,
        table: str,
        columns: list[str],
        where: dict[str, Any],
        *,
        synced_after: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            if not self._columns(table):
                return []
            conditions = [f"{_quote(c)} = ?" for c in where]
            params: list[Any] = list(where.values())
            if synced_after is not None:
                conditions.append('"_synced_at" > ?')
                params.append(synced_after)
            clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            names = ", ".join(_quote(c) for c in columns)
            tail = f" LIMIT {int(limit)}" if limit is not None else ""
            found = self._con.execute(f"SELECT {names} FROM {_quote(table)}{clause}{tail}", params)
            return [dict(zip(columns, row, strict=True)) for row in found.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._con.close()

"""What every destination offers: tables from models, batched loads, state in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class StateKey:
    connector: str
    stream: str
    connection_id: str


@dataclass
class Batch:
    """Rows for one table, already mapped to the model's Arrow schema."""

    table: str
    rows: pa.Table
    key: list[str]
    disposition: Literal["merge", "append"]
    #: Merge only over rows whose `_version` is not newer (webhooks and polls of one object).
    versioned: bool = False
    #: Delete the table's rows with these column values first, in the same transaction ({}: every
    #: row): a derived table (crm_links, calendar_conflicts) rebuilt whole, even with no rows now.
    clear: dict[str, Any] | None = None
    #: A patch (merge only): write just these columns (the key's among them); matching rows keep
    #: their other columns, new rows get nulls there. None: whole rows.
    columns: list[str] | None = None


@dataclass
class LoadCounts:
    inserted: int = 0
    updated: int = 0
    stale: int = 0  # rows not written: the table holds a newer version

    def add(self, other: LoadCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.stale += other.stale


@dataclass
class RunRecord:
    """One stream run, for the runs table (what happened, never secrets)."""

    run_id: str
    connector: str
    stream: str
    connection_id: str
    started_at: datetime
    finished_at: datetime | None
    status: Literal["running", "succeeded", "failed"]
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def row(self) -> list[Any]:
        """The values of the runs table, in its column order (stats as JSON text)."""
        return [
            self.run_id,
            self.connector,
            self.stream,
            self.connection_id,
            self.started_at,
            self.finished_at,
            self.status,
            self.error,
            orjson.dumps(self.stats).decode(),
        ]


def merge_rows(batch: Batch) -> pa.Table:
    """The rows a merge writes: one per key, the last of a batch, or for a versioned batch the
    newest `_version` (a page of Stripe events lists an invoice's newest event first)."""
    rows = batch.rows
    if batch.versioned and rows.num_rows > 1 and "_version" in rows.column_names:
        order = pc.sort_indices(rows, sort_keys=[("_version", "ascending")], null_placement="at_start")
        rows = rows.take(order)  # a stable sort: equal versions keep their order, the last wins
    return dedupe_last(rows, batch.key)


def dedupe_last(rows: pa.Table, key: list[str]) -> pa.Table:
    """Keep the last row of each key within a batch (a page may repeat a record)."""
    if rows.num_rows < 2:
        return rows
    varying = [k for k in key if pc.count_distinct(rows[k]).as_py() > 1]
    if len(varying) == 1 and pc.count_distinct(rows[varying[0]]).as_py() == rows.num_rows:
        return rows
    indexed = rows.append_column("__i", pa.array(range(rows.num_rows), pa.int64()))
    last = indexed.group_by(key, use_threads=False).aggregate([("__i", "max")])
    keep = pc.sort_indices(last["__i_max"])
    return rows.take(pc.take(last["__i_max"], keep))


class Destination(Protocol):
    url: str

    def ensure_table(self, name: str, schema: pa.Schema) -> None:
        """Create the table, or add the columns the schema has gained (nullable)."""
        ...

    def get_state(self, key: StateKey) -> dict[str, Any]: ...

    def commit(self, batches: list[Batch], key: StateKey, state: dict[str, Any]) -> LoadCounts:
        """Load the batches and save the stream's state in one transaction."""
        ...

    def record_run(self, run: RunRecord) -> None: ...

    def rows(
        self,
        table: str,
        columns: list[str],
        where: dict[str, Any],
        *,
        synced_after: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Rows whose columns equal `where` (and written after `synced_after`): what rules read.
        A table not created yet has no rows."""
        ...

    def close(self) -> None: ...

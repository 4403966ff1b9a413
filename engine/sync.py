"""Sync: pages -> mapped Arrow batches -> destination, each batch committed with its state.

The state saved with a batch is the checkpoint of the last page in it, so a sync
killed at any moment resumes at the first page not yet loaded: no gaps, no duplicates.
The cursor or token only advances when a slice has read its last page.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from .destinations import Batch, Destination, LoadCounts, RunRecord, StateKey
from .errors import ManifoldError
from .extract import StreamReader
from .mapping import RowMapper
from .models import ModelSpec, load_models
from .paths import get_path
from .runtime import ConnectorRuntime
from .webhooks.apply import event_time

BATCH_ROWS = int(os.environ.get("MANIFOLD_BATCH_ROWS") or 5_000)
MAP_CHUNK = 1_000
BATCH_SECONDS = 5.0


@dataclass
class StreamResult:
    """What one stream run did (safe to show: no secrets)."""

    connector: str
    stream: str
    connection_id: str
    table: str | None
    pages: int = 0
    records: int = 0
    counts: LoadCounts = field(default_factory=LoadCounts)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    error: str | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def metadata(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "records": self.records,
            "inserted": self.counts.inserted,
            "updated": self.counts.updated,
            "requests": self.requests,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
            "table": self.table,
        }


Progress = Callable[[StreamResult], None]


def _without_checkpoints(state: dict[str, Any]) -> dict[str, Any]:
    return {k: {sk: sv for sk, sv in v.items() if sk != "checkpoint"} for k, v in state.items()}


class _BatchWriter:
    """Collects records, maps them in chunks (Arrow's per-call cost is per chunk, not per page)
    and commits batches with the state of the pages they hold."""

    def __init__(self, sync: StreamSync, slices: dict[str, dict[str, Any]], result: StreamResult):
        self.sync = sync
        self.slices = slices
        self.result = result
        self.records: list[Any] = []
        self.values: dict[str, Any] = {}
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.extra: dict[str, Any] = {}  # more stream state committed with every batch (`parent`)
        self.last_flush = time.monotonic()

    def add(self, records: list[Any], values: dict[str, Any]) -> None:
        if not records:
            return
        if values != self.values:  # page values (from a parent or partition) are per chunk
            self._map()
            self.values = values
        self.records.extend(records)
        if len(self.records) >= MAP_CHUNK:
            self._map()

    def _map(self) -> None:
        if self.records:
            runtime, stream = self.sync.runtime, self.sync.stream
            if stream.record is None and stream.version is None:
                mapped = self.sync.mapper.to_arrow(
                    self.records, runtime.connection.id, runtime.now, self.values
                )
            else:  # each listed record (a Stripe event) carries the object and when it was current
                mapped = pa.concat_tables(
                    [
                        self.sync.mapper.to_arrow(
                            [get_path(r, stream.record) if stream.record else r],
                            runtime.connection.id,
                            runtime.now,
                            self.values,
                            version_at=event_time(get_path(r, stream.version)) if stream.version else None,
                        )
                        for r in self.records
                    ]
                )
            self.tables.append(mapped)
            self.rows += mapped.num_rows
            self.records = []

    def due(self) -> bool:
        waiting = self.rows + len(self.records)
        return waiting >= self.sync.batch_rows or time.monotonic() - self.last_flush > BATCH_SECONDS

    def flush(self) -> None:
        """Map what is left and commit the rows with the state of every page they came from."""
        self._map()
        sync = self.sync
        batches = []
        if self.tables:
            rows = pa.concat_tables(self.tables)
            batches.append(
                Batch(sync.model.name, rows, sync.model.table_key, sync.stream.disposition, sync.versioned)
            )
        self.result.counts.add(
            sync.destination.commit(batches, sync.key, {"slices": dict(self.slices), **self.extra})
        )
        self.tables, self.rows, self.last_flush = [], 0, time.monotonic()


class StreamSync:
    """Runs one stream of one connection into the destination."""

    def __init__(
        self,
        runtime: ConnectorRuntime,
        name: str,
        destination: Destination,
        model: ModelSpec,
        *,
        full_refresh: bool = False,
        progress: Progress | None = None,
        batch_rows: int = BATCH_ROWS,
    ):
        self.runtime = runtime
        self.name = name
        self.destination = destination
        self.model = model
        self.stream = runtime.spec.streams[name]
        self.full_refresh = full_refresh
        self.progress = progress
        self.batch_rows = batch_rows
        self.mapper = RowMapper(model, self.stream.mapped_fields(), runtime.spec.name)
        self.key = StateKey(runtime.spec.name, name, runtime.connection.id)
        # Webhooks or actions also write this stream's model, or its rows carry their own time:
        # a merge keeps the newer `_version`.
        self.versioned = name in runtime.spec.event_streams() or self.stream.version is not None

    def run(self) -> StreamResult:
        runtime = self.runtime
        table = self.model.name
        result = StreamResult(runtime.spec.name, self.name, runtime.connection.id, table)
        run = RunRecord(
            uuid.uuid4().hex,
            self.key.connector,
            self.name,
            self.key.connection_id,
            datetime.now(UTC),
            None,
            "running",
        )
        self.destination.record_run(run)
        started = time.monotonic()
        requests_before, retries_before = runtime.client.stats.requests, runtime.client.stats.retries
        self.destination.ensure_table(table, self.model.arrow_schema())
        saved = {} if self.full_refresh else self.destination.get_state(self.key)
        slices: dict[str, dict[str, Any]] = dict(saved.get("slices") or {})
        if self.full_refresh:
            slices = {}
        reader = StreamReader(runtime, self.name)
        writer = _BatchWriter(self, slices, result)
        if self.stream.parent and self.stream.parent.incremental:
            reader.parent_state = {} if self.full_refresh else dict(saved.get("parent") or {})
            writer.extra = {"parent": reader.parent_state}
        try:
            for item in reader.read(slices):
                writer.add(item.records, item.values)
                if item.done and not item.state and self.stream.parent:
                    slices.pop(item.slice_key, None)  # a finished substream slice with nothing to keep
                else:
                    slices[item.slice_key] = item.state
                result.pages += 1
                result.records += len(item.records)
                if writer.due():
                    writer.flush()
                    self._report(result, started, requests_before, retries_before)
            if reader.parent_state_after is not None:  # every slice read: the parent's state advances
                writer.extra = {"parent": reader.parent_state_after}
            writer.flush()
        except ManifoldError as exc:
            result.error = runtime.redactor(str(exc))
        except Exception as exc:  # an engine bug: still recorded, never with secrets
            result.error = runtime.redactor(f"{type(exc).__name__}: {exc}")
        self._report(result, started, requests_before, retries_before)
        result.state = {"slices": _without_checkpoints(slices)}
        run.finished_at = datetime.now(UTC)
        run.status = "failed" if result.error else "succeeded"
        run.error = result.error
        run.stats = result.metadata()
        self.destination.record_run(run)
        return result

    def _report(self, result: StreamResult, started: float, requests: int, retries: int) -> None:
        stats = self.runtime.client.stats
        result.seconds = time.monotonic() - started
        result.requests = stats.requests - requests
        result.retries = stats.retries - retries
        if self.progress:
            self.progress(result)


def loadable_streams(runtime: ConnectorRuntime, only: list[str] | None = None) -> list[str]:
    """Streams that load into a model (parent-only streams are read through their children;
    streams without a request are filled by webhooks only)."""
    names = [n for n, s in runtime.spec.streams.items() if s.into is not None and s.polled]
    if only:
        unknown = [n for n in only if n not in runtime.spec.streams]
        if unknown:
            raise ManifoldError(
                f"{runtime.spec.name} has no stream {', '.join(unknown)}; streams: {', '.join(runtime.spec.streams)}"
            )
        names = [
            n for n in only if runtime.spec.streams[n].into is not None and runtime.spec.streams[n].polled
        ]
    return names


def sync_connector(
    runtime: ConnectorRuntime,
    destination: Destination,
    *,
    streams: list[str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    models: dict[str, ModelSpec] | None = None,
) -> list[StreamResult]:
    """Sync streams one after another; a failing stream does not stop the others."""
    models = models or load_models()
    results = []
    for name in loadable_streams(runtime, streams):
        into = runtime.spec.streams[name].into
        assert into is not None
        sync = StreamSync(
            runtime, name, destination, models[into], full_refresh=full_refresh, progress=progress
        )
        results.append(sync.run())
    return results

"""Applying stored events to the models, once each: the inbox drain (webhook events, and the
results of actions that land in a model).

    appliers = {c.spec.name: EventApplier(c) for c in connectors if c.spec.webhooks}
    report = drain(inbox, appliers, destination, sync_requests)

Each event's `webhooks.events` entry says what it does. Its records go through the named
stream's own mapping into that stream's model, in one warehouse transaction per event, with
`_version` = the event's time: the merge keeps whichever of a webhook and a poll is newer, so
re-applying an event (after a crash between the warehouse commit and marking it processed)
changes nothing. A failed event is retried with backoff and parked after a bound.

Rows land under the delivery's connection (`/webhooks/{connector}/{connection_id}`), else the
connection `webhooks.route` finds by a body value (Gmail's emailAddress) or whose account id the
event names (`webhooks.account`, Notion's `workspace_id`), else under the `default` connection,
the one API-key connectors sync as.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from ..control.connections import ConnectionRecord, ConnectionStore
from ..control.crypto import Vault
from ..control.inbox import Inbox, RetryPolicy, StoredEvent
from ..control.sync_requests import SyncRequests
from ..destinations import Batch, Destination, StateKey
from ..errors import ManifoldError
from ..mapping import RowMapper, compile_filter
from ..models import (
    CONNECTION_COLUMN,
    PROVIDER_COLUMN,
    SYNCED_AT_COLUMN,
    VERSION_COLUMN,
    ModelSpec,
    load_models,
)
from ..paths import get_all, get_path
from ..spec.loader import LoadedConnector
from ..spec.models import FieldMapping
from ..transforms import parse_timestamp
from .decoding import UndecodableField, decode_body
from .events import ApplyRecord, ConnectionRoute, EventEffect, QueueSync

RESULT_EVENT_PREFIX = "action:"  # action results, queued like events (engine/actions/run.py)

DEFAULT_CONNECTION = "default"
WEBHOOK_STATE_STREAM = "_webhooks"


class ApplyError(ManifoldError):
    """An event cannot be applied as its connector declares (its shape is not what the spec says)."""


@dataclass(frozen=True)
class EventPlan:
    """What applying one event does: batches for the warehouse and maybe a sync to queue."""

    batches: list[Batch]
    sync: QueueSync | None
    connection_id: str


@dataclass
class DrainReport:
    processed: int = 0
    ignored: int = 0
    failed: int = 0
    parked: int = 0
    syncs_queued: int = 0
    inserted: int = 0
    updated: int = 0
    stale: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.processed} applied, {self.ignored} ignored, {self.failed} failed ({self.parked} parked), "
            f"{self.syncs_queued} sync(s) queued; rows: {self.inserted} inserted, {self.updated} updated, "
            f"{self.stale} older than the stored version"
        )


def event_time(value: Any) -> datetime:
    if isinstance(value, bool) or value is None:
        raise ApplyError(f"event time {value!r} is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value  # milliseconds (WhatsApp, Meta)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str) and value.isdigit():
        return event_time(int(value))
    try:
        parsed = parse_timestamp(value)
    except (ValueError, ManifoldError):
        parsed = None
    if parsed is None:
        raise ApplyError(f"event time {str(value)[:40]!r} is neither unix seconds nor ISO 8601")
    return parsed


def override_fields(
    base: Mapping[str, str | FieldMapping], over: Mapping[str, Any]
) -> dict[str, str | FieldMapping]:
    """A stream's fields with an event's own laid over them (raises pydantic's error when bad)."""
    extra = {c: v if isinstance(v, str) else FieldMapping.model_validate(v) for c, v in over.items()}
    return {**base, **extra}


class EventApplier:
    """One connector's events -> batches, through its streams' mappings (compiled once)."""

    def __init__(self, loaded: LoadedConnector, models: Mapping[str, ModelSpec] | None = None):
        spec = loaded.spec
        self.name = spec.name
        self.webhooks = spec.webhooks
        self.actions = spec.actions
        models = models if models is not None else load_models()
        self._mappers: dict[str, tuple[RowMapper, ModelSpec]] = {}
        self._mapped: dict[str, list[str]] = {}
        streams = spec.event_streams()
        for stream_name in streams:
            stream = spec.streams[stream_name]
            self._mapped[stream_name] = list(stream.mapped_fields())
            assert stream.into is not None  # the spec checks say so
            model = models[stream.into]
            self._mappers[stream_name] = (RowMapper(model, stream.mapped_fields(), spec.name), model)
        self._filters = {name: compile_filter(spec.streams[name].filter) for name in streams}
        self.route: ConnectionRoute | None = self.webhooks.route if self.webhooks is not None else None
        self._decode = self.webhooks.decode if self.webhooks is not None else {}
        # The connector's stored connections (for `route`); the drain sets it from the control store.
        self.connections: Callable[[], list[ConnectionRecord]] | None = None
        self._streams = spec.streams
        self._overridden: dict[tuple[str, bytes], tuple[RowMapper, ModelSpec]] = {}

    def _routed(self, body: Any) -> str | None:
        """The connection whose account matches the body's value, if any."""
        assert self.route is not None
        value = get_path(body, self.route.path)
        if value is None or self.connections is None:
            return None
        for record in self.connections():
            mine = record.account.get(self.route.account) if self.route.account else record.account_id
            if mine is not None and str(mine).lower() == str(value).lower() and record.connected:
                return record.id
        return None

    def _mapper(self, apply: ApplyRecord) -> tuple[RowMapper, ModelSpec]:
        """The stream's mapper, or (compiled once) one with the event's own `fields` laid over it."""
        if not apply.fields:
            return self._mappers[apply.stream]
        key = (apply.stream, orjson.dumps(apply.fields, option=orjson.OPT_SORT_KEYS))
        found = self._overridden.get(key)
        if found is None:
            model = self._mappers[apply.stream][1]
            fields = override_fields(self._streams[apply.stream].mapped_fields(), apply.fields)
            found = self._overridden[key] = (RowMapper(model, fields, self.name), model)
        return found

    def _effect(self, event_type: str | None) -> EventEffect | None:
        if event_type is not None and event_type.startswith(RESULT_EVENT_PREFIX):
            action = self.actions.get(event_type.removeprefix(RESULT_EVENT_PREFIX))
            stream = action.result.apply if action is not None else None
            at = action.result.at if action is not None else None
            return EventEffect(apply=ApplyRecord(stream=stream, at=at)) if stream else None
        return self.webhooks.effect(event_type) if self.webhooks is not None else None

    def plan(
        self,
        event: StoredEvent,
        now: datetime | None = None,
        *,
        accounts: Callable[[str], str | None] | None = None,
    ) -> EventPlan | None:
        """None when the event type does nothing here (it is marked ignored). `accounts` finds the
        connection of a provider account id (for `webhooks.account`)."""
        effect = self._effect(event.event_type)
        if effect is None:
            return None
        account_path = self.webhooks.account if self.webhooks is not None else None
        needs_account = event.connection_id is None and account_path is not None and accounts is not None
        connection_id = event.connection_id or DEFAULT_CONNECTION
        routed = self.route is not None and not event.connection_id
        if not effect.applies and not routed and not needs_account:
            return EventPlan([], effect.sync, connection_id)
        try:
            body = decode_body(orjson.loads(event.body) if event.body.strip() else {}, self._decode)
        except orjson.JSONDecodeError:
            raise ApplyError("the stored body is not JSON") from None
        except UndecodableField as exc:
            raise ApplyError(f"body field {exc}") from None
        if routed:
            found = self._routed(body)
            if found is None:
                return None  # a mailbox no connection holds: nothing to do here
            connection_id = found
        if needs_account:
            assert account_path is not None and accounts is not None
            account = get_path(body, account_path)
            found = accounts(str(account)) if account is not None else None
            if found is None:
                raise ApplyError(
                    f"no {self.name} connection has the account at '{account_path}' of this event"
                )
            connection_id = found
        if not effect.applies:
            return EventPlan([], effect.sync, connection_id)
        now = now or datetime.now(UTC)
        if effect.at:
            version_at = event_time(get_path(body, effect.at))
        else:
            version_at = datetime.fromisoformat(event.received_at)
        batches = []
        for apply in effect.applies:
            records = self._records(body, apply.record, apply.records)
            keep = self._filters[apply.stream]
            if keep is not None:
                records = [r for r in records if keep(r)]
            if not records:
                continue
            mapper, model = self._mapper(apply)
            rows = self._rows(mapper, records, apply.at, connection_id, now, version_at)
            columns = self._patch_columns(apply.stream, model) if apply.patch else None
            batches.append(Batch(model.name, rows, model.table_key, "merge", versioned=True, columns=columns))
        return EventPlan(batches, effect.sync, connection_id)

    @staticmethod
    def _rows(
        mapper: RowMapper,
        records: list[dict[str, Any]],
        at: str | None,
        connection_id: str,
        now: datetime,
        version_at: datetime,
    ) -> pa.Table:
        """Mapped rows; with a record `at`, each row's `_version` is its own record's time."""
        if at is None:
            return mapper.to_arrow(records, connection_id, now, version_at=version_at)
        tables = [
            mapper.to_arrow([r], connection_id, now, version_at=event_time(get_path(r, at))) for r in records
        ]
        return pa.concat_tables(tables)

    def _patch_columns(self, stream: str, model: ModelSpec) -> list[str]:
        """A patch writes the key, the stream's mapped columns and the row's bookkeeping (not `_raw`)."""
        mapped = [c for c in self._mapped[stream] if c in model.columns]
        system = [PROVIDER_COLUMN, CONNECTION_COLUMN, SYNCED_AT_COLUMN, VERSION_COLUMN]
        return list(dict.fromkeys([*model.table_key, *mapped, *system]))

    @staticmethod
    def _records(body: Any, record: str | None, records: str | None) -> list[dict[str, Any]]:
        if records is not None and "[]" in records:
            return [r for r in get_all(body, records) if isinstance(r, dict)]
        if records is not None:
            found = get_path(body, records)
            if found is None:
                return []
            if not isinstance(found, list):
                raise ApplyError(f"'{records}' is not a list in the event")
            return [r for r in found if isinstance(r, dict)]
        found = get_path(body, record) if record else body
        if found is None:
            return []
        if record is None and isinstance(found, list):  # a batch action's result list
            return [r for r in found if isinstance(r, dict)]
        if not isinstance(found, dict):
            raise ApplyError(f"'{record}' is not an object in the event")
        return [found]


def drain(
    inbox: Inbox,
    appliers: Mapping[str, EventApplier],
    destination: Destination,
    sync_requests: SyncRequests,
    *,
    limit: int = 500,
    policy: RetryPolicy = RetryPolicy(),
) -> DrainReport:
    """Apply the due events of the given connectors (others wait for a process that has them)."""
    report = DrainReport()
    for connector, applier in appliers.items():
        apply_events(
            inbox.due(connector, limit=limit), applier, inbox, destination, sync_requests, policy, report
        )
    return report


def apply_events(
    events: list[StoredEvent],
    applier: EventApplier,
    inbox: Inbox,
    destination: Destination,
    sync_requests: SyncRequests | None = None,
    policy: RetryPolicy = RetryPolicy(),
    report: DrainReport | None = None,
) -> DrainReport:
    """Apply these events of one connector (the drain, or an action's result at once)."""
    report = report if report is not None else DrainReport()
    for event in events:
        _apply_one(event, applier, inbox, destination, sync_requests, policy, report)
    return report


def _apply_one(
    event: StoredEvent,
    applier: EventApplier,
    inbox: Inbox,
    destination: Destination,
    sync_requests: SyncRequests | None,
    policy: RetryPolicy,
    report: DrainReport,
) -> None:
    try:
        if applier.route is not None and applier.connections is None:
            store = ConnectionStore(inbox.db, Vault())
            applier.connections = lambda: store.list(applier.name)
        plan = applier.plan(event, accounts=lambda account: _connection_of(inbox, event.connector, account))
        if plan is None:
            inbox.processed(event, "ignored")
            report.ignored += 1
            return
        for batch in plan.batches:
            destination.ensure_table(batch.table, batch.rows.schema)
        if plan.batches:
            key = StateKey(event.connector, WEBHOOK_STATE_STREAM, plan.connection_id)
            state = {"last_event_id": event.event_id, "last_event_type": event.event_type}
            counts = destination.commit(plan.batches, key, state)
            report.inserted += counts.inserted
            report.updated += counts.updated
            report.stale += counts.stale
        if plan.sync is not None:
            sync_requests = sync_requests or SyncRequests(inbox.db)
            sync_requests.queue(event.connector, plan.connection_id, plan.sync.streams, source="webhook")
            report.syncs_queued += 1
        inbox.processed(event)
        report.processed += 1
    except Exception as exc:  # one bad event must not stop the drain; it is retried, then parked
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ManifoldError) else str(exc)
        outcome = inbox.failed(event, message, policy)
        report.failed += 1
        report.parked += outcome == "parked"
        report.errors.append(f"{event.connector}/{event.event_id}: {message}")


def _connection_of(inbox: Inbox, connector: str, account_id: str) -> str | None:
    """The connected connection of this provider account, if any (the first by id)."""
    rows = inbox.db.query(
        "SELECT id FROM connections WHERE connector = ? AND account_id = ? AND connected = 1 ORDER BY id",
        [connector, account_id],
    )
    return str(rows[0]["id"]) if rows else None

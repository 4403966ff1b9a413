"""Applying stored events to the models, once each: the inbox drain (webhook events, and the
results of actions that land in a model).

    appliers = {c.spec.name: EventApplier(c) for c in connectors if c.spec.webhooks}
    report = drain(inbox, appliers, destination, sync_requests)

Each event's `webhooks.events` entry says what it does. Its records go through the named
stream's own mapping into that stream's model, in one warehouse transaction per event, with
`_version` = the event's time: the merge keeps whichever of a webhook and a poll is newer, so
re-applying an event (after a crash between the warehouse commit and marking it processed)
changes nothing. A failed event is retried with backoff and parked after a bound.

Rows land under the delivery's connection (`/webhooks/{connector}/{connection_id}`), else under
the connection whose account id the event names (`webhooks.account`, Notion's `workspace_id`),
else under the `default` connection, the one API-key connectors sync as.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..control.inbox import Inbox, RetryPolicy, StoredEvent
from ..control.sync_requests import SyncRequests
from ..destinations import Batch, Destination, StateKey
from ..errors import ManifoldError
from ..mapping import RowMapper, compile_filter
from ..models import ModelSpec, load_models
from ..paths import get_path
from ..spec.loader import LoadedConnector
from ..transforms import parse_timestamp
from .events import ApplyRecord, EventEffect, QueueSync

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


def _event_time(value: Any) -> datetime:
    if isinstance(value, bool) or value is None:
        raise ApplyError(f"event time {value!r} is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value  # milliseconds (WhatsApp, Meta)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str) and value.isdigit():
        return _event_time(int(value))
    try:
        parsed = parse_timestamp(value)
    except (ValueError, ManifoldError):
        parsed = None
    if parsed is None:
        raise ApplyError(f"event time {str(value)[:40]!r} is neither unix seconds nor ISO 8601")
    return parsed


class EventApplier:
    """One connector's events -> batches, through its streams' mappings (compiled once)."""

    def __init__(self, loaded: LoadedConnector, models: Mapping[str, ModelSpec] | None = None):
        spec = loaded.spec
        self.name = spec.name
        self.webhooks = spec.webhooks
        self.actions = spec.actions
        models = models if models is not None else load_models()
        self._mappers: dict[str, tuple[RowMapper, ModelSpec]] = {}
        streams = spec.event_streams()
        for stream_name in streams:
            stream = spec.streams[stream_name]
            assert stream.into is not None  # the spec checks say so
            model = models[stream.into]
            self._mappers[stream_name] = (RowMapper(model, stream.mapped_fields(), spec.name), model)
        self._filters = {name: compile_filter(spec.streams[name].filter) for name in streams}

    def _effect(self, event_type: str | None) -> EventEffect | None:
        if event_type is not None and event_type.startswith(RESULT_EVENT_PREFIX):
            action = self.actions.get(event_type.removeprefix(RESULT_EVENT_PREFIX))
            stream = action.result.apply if action is not None else None
            return EventEffect(apply=ApplyRecord(stream=stream)) if stream else None
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
        if not effect.applies and not needs_account:
            return EventPlan([], effect.sync, connection_id)
        try:
            body = orjson.loads(event.body) if event.body.strip() else {}
        except orjson.JSONDecodeError:
            raise ApplyError("the stored body is not JSON") from None
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
            version_at = _event_time(get_path(body, effect.at))
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
            mapper, model = self._mappers[apply.stream]
            rows = mapper.to_arrow(records, connection_id, now, version_at=version_at)
            batches.append(Batch(model.name, rows, model.table_key, "merge", versioned=True))
        return EventPlan(batches, effect.sync, connection_id)

    @staticmethod
    def _records(body: Any, record: str | None, records: str | None) -> list[dict[str, Any]]:
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

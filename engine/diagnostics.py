"""Diagnostics of the integrations: each connector's health and its connections', with no secrets.

Built from what the web service holds (connectors, env, control store, inbox), with no HTTP, so
the admin page, its JSON endpoint and tests all read the same thing:

    report = integrations(service, now=datetime.now(UTC))
    report.model_dump(mode="json")
    # {"generated_at": "2025-11-03T10:00:00+00:00", "integrations": [
    #   {"name": "stripe", "title": "Stripe", "status": "missing env", "enabled": true, "flag": null,
    #    "missing_env": [], "missing_webhook_env": ["STRIPE_WEBHOOK_SECRET"], "auth_type": "bearer",
    #    "webhooks": {"declared": true, "accepted": 3, "rejected": 1, "parked": 0, ...},
    #    "connections": [{"id": "maya", "status": "connected", "token_status": "expiring soon", ...}],
    #    ...}]}

Never shown: credentials, tokens, config values (a connection's config may carry a token, so only
its keys are listed), env values (only the names of missing ones). Error messages are shown with
the connector's env values and its connections' credential values masked, in case a provider
echoed one back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict

from .control.connections import ConnectionRecord, ConnectionStore
from .control.inbox import Inbox, InboxStats
from .control.push_marks import push_summary
from .control.rule_firings import RuleFirings
from .control.sync_requests import SyncRequest, SyncRequests, SyncState
from .oauth.spec import OAuth2AuthCode, OAuth2ClientCredentials
from .redact import Redactor
from .spec.loader import LoadedConnector, is_enabled, missing_env
from .spec.models import ConnectorSpec
from .webhooks.receiver import Receiver

DEFAULT_SOON_SECONDS = 300
RECENT_SYNC_REQUESTS = 5

IntegrationStatus = Literal["enabled", "disabled", "missing env"]
ConnectionStatus = Literal["connected", "disconnected", "error"]
# "unknown": a stored expiry time that is not an ISO 8601 time with an offset.
TokenStatus = Literal["valid", "expiring soon", "expired", "not applicable", "unknown"]


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True)


class ConnectionDiagnostics(_Report):
    """One stored connection's health. `status` is "error" when it is connected but its last
    sync or refresh failed, "disconnected" when it must be connected again."""

    id: str
    owner_id: str | None
    account_id: str | None
    status: ConnectionStatus
    connected: bool
    last_sync_at: str | None
    last_error: str | None
    last_error_at: str | None
    token_status: TokenStatus
    token_expires_at: str | None
    scopes: list[str]
    config_keys: list[str]


class WebhookDiagnostics(_Report):
    """Deliveries to `/webhooks/{connector}` (all zero when the connector declares no webhooks)."""

    declared: bool
    per_connection: bool = False
    last_received_at: str | None = None
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    pending: int = 0
    oldest_unprocessed_at: str | None = None
    parked: int = 0


class SyncRequestSummary(_Report):
    id: str
    connection_id: str | None
    streams: list[str]
    source: str
    state: SyncState
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None


class IntegrationDiagnostics(_Report):
    """One connector. `status`: "disabled" when its flag is not set (whatever else is missing),
    "missing env" when enabled but a sync or webhook env var is unset, else "enabled"."""

    name: str
    title: str
    status: IntegrationStatus
    enabled: bool
    flag: str | None
    missing_env: list[str]
    missing_webhook_env: list[str]
    auth_type: str
    connects_with_oauth: bool
    token_soon_seconds: int
    schedule: str | None
    streams: list[str]
    webhooks: WebhookDiagnostics
    connections: list[ConnectionDiagnostics]
    recent_sync_requests: list[SyncRequestSummary]


class RuleDiagnostics(_Report):
    """A notification rule's firings: pending sends are retried, parked ones wait for a person."""

    rule: str
    baseline: int
    pending: int
    sent: int
    parked: int
    last_fired_at: str | None
    last_error: str | None


class PushDiagnostics(_Report):
    """A push towards one connection: rows the provider holds, rows failing (retried each run)."""

    connector: str
    push: str
    connection_id: str
    pushed: int
    failed: int
    last_pushed_at: str | None
    last_error: str | None


class IntegrationsDiagnostics(_Report):
    generated_at: str
    integrations: list[IntegrationDiagnostics]
    rules: list[RuleDiagnostics] = []
    pushes: list[PushDiagnostics] = []


class DiagnosticsSource(Protocol):
    """What diagnostics read; `engine.web.Service` is one."""

    @property
    def connectors(self) -> Mapping[str, LoadedConnector]: ...

    @property
    def receivers(self) -> Mapping[str, Receiver]: ...

    @property
    def connections(self) -> ConnectionStore: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def sync_requests(self) -> SyncRequests: ...

    def env(self, name: str) -> dict[str, str]: ...


def integrations(source: DiagnosticsSource, *, now: datetime) -> IntegrationsDiagnostics:
    """Every loaded connector, by name, with its connections (`now`: an aware time, for token expiry)."""
    connections = source.connections
    inbox = source.inbox
    requests = source.sync_requests
    report = []
    for name in sorted(source.connectors):
        spec = source.connectors[name].spec
        receiver = source.receivers.get(name)
        report.append(
            integration(
                spec,
                source.env(name),
                connections=connections.list(name),
                webhook_stats=inbox.stats(name) if spec.webhooks is not None else None,
                missing_webhook_env=receiver.missing_env if receiver is not None else [],
                sync_requests=requests.recent(name, limit=RECENT_SYNC_REQUESTS),
                now=now,
            )
        )
    rules = [RuleDiagnostics(**entry) for entry in RuleFirings(connections.db).summary()]
    pushes = [PushDiagnostics(**entry) for entry in push_summary(connections.db)]
    return IntegrationsDiagnostics(
        generated_at=now.isoformat(), integrations=report, rules=rules, pushes=pushes
    )


def integration(
    spec: ConnectorSpec,
    env: Mapping[str, str],
    *,
    connections: Sequence[ConnectionRecord],
    webhook_stats: InboxStats | None,
    missing_webhook_env: Sequence[str],
    sync_requests: Sequence[SyncRequest],
    now: datetime,
) -> IntegrationDiagnostics:
    enabled = is_enabled(spec, env)
    missing = missing_env(spec, env)
    status: IntegrationStatus = (
        "disabled" if not enabled else "missing env" if missing or missing_webhook_env else "enabled"
    )
    soon = token_soon_seconds(spec)
    redact = secrets_redactor(spec, env, connections)
    return IntegrationDiagnostics(
        name=spec.name,
        title=spec.title,
        status=status,
        enabled=enabled,
        flag=spec.flag,
        missing_env=missing,
        missing_webhook_env=list(missing_webhook_env),
        auth_type=spec.auth.type,
        connects_with_oauth=isinstance(spec.auth, OAuth2AuthCode),
        token_soon_seconds=soon,
        schedule=spec.schedule,
        streams=sorted(spec.streams),
        webhooks=webhooks(spec, webhook_stats),
        connections=[connection(record, now=now, soon_seconds=soon, redact=redact) for record in connections],
        recent_sync_requests=[sync_request(request, redact=redact) for request in sync_requests],
    )


def token_soon_seconds(spec: ConnectorSpec) -> int:
    """How close to expiry a token counts as "expiring soon": the refresh buffer the connector's
    OAuth auth declares, else 300 s (the auth's default buffer is a refresh policy, not a warning)."""
    auth = spec.auth
    if isinstance(auth, OAuth2AuthCode | OAuth2ClientCredentials) and (
        "refresh_buffer_seconds" in auth.model_fields_set
    ):
        return auth.refresh_buffer_seconds
    return DEFAULT_SOON_SECONDS


def secrets_redactor(
    spec: ConnectorSpec, env: Mapping[str, str], connections: Sequence[ConnectionRecord]
) -> Redactor:
    """Masks the connector's env values and every credential value of its connections."""
    names = [*spec.env, *(spec.webhooks.env if spec.webhooks is not None else [])]
    values = [env[name] for name in names if env.get(name)]
    for record in connections:
        values += _strings(record.credentials)
    return Redactor(values)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _masked(text: str | None, redact: Redactor | None) -> str | None:
    return redact(text) if text is not None and redact is not None else text


def connection(
    record: ConnectionRecord, *, now: datetime, soon_seconds: float, redact: Redactor | None = None
) -> ConnectionDiagnostics:
    status: ConnectionStatus = (
        "disconnected" if not record.connected else "error" if record.last_error else "connected"
    )
    return ConnectionDiagnostics(
        id=record.id,
        owner_id=record.owner_id,
        account_id=record.account_id,
        status=status,
        connected=record.connected,
        last_sync_at=record.last_sync_at,
        last_error=_masked(record.last_error, redact),
        last_error_at=record.last_error_at,
        token_status=token_status(record, now, soon_seconds),
        token_expires_at=record.token_expires_at,
        scopes=list(record.scopes),
        config_keys=sorted(record.config),
    )


def token_status(record: ConnectionRecord, now: datetime, soon_seconds: float) -> TokenStatus:
    try:
        found = record.token_status(now, soon_seconds)
    except (ValueError, TypeError):  # not ISO 8601, or without an offset
        return "unknown"
    if found in ("valid", "expiring soon", "expired", "not applicable"):
        return cast(TokenStatus, found)
    return "unknown"


def webhooks(spec: ConnectorSpec, stats: InboxStats | None) -> WebhookDiagnostics:
    if spec.webhooks is None:
        return WebhookDiagnostics(declared=False)
    if stats is None:
        return WebhookDiagnostics(declared=True, per_connection=spec.webhooks.per_connection)
    return WebhookDiagnostics(
        declared=True,
        per_connection=spec.webhooks.per_connection,
        last_received_at=stats.last_received_at,
        accepted=stats.accepted,
        duplicate=stats.duplicate,
        rejected=stats.rejected,
        pending=stats.pending,
        oldest_unprocessed_at=stats.oldest_unprocessed_at,
        parked=stats.parked,
    )


def sync_request(request: SyncRequest, *, redact: Redactor | None = None) -> SyncRequestSummary:
    return SyncRequestSummary(
        id=request.id,
        connection_id=request.connection_id,
        streams=list(request.streams),
        source=request.source,
        state=request.state,
        created_at=request.created_at,
        started_at=request.started_at,
        finished_at=request.finished_at,
        error=_masked(request.error, redact),
    )

"""One connector's webhook receiver: from a raw HTTP request to what to answer and what to store.

    receiver = Receiver(loaded, env)
    decision = receiver.decide(Incoming("stripe", None, "POST", headers, {}, body, time.time()))
    if decision.delivery:   # verified and identified: store it, then answer 200 (503 if unstored)
        ...
    else:                   # a handshake, an acknowledgement or a rejection: answer decision.reply

The order is fixed: handshakes the provider cannot sign (Meta's GET, Notion's token) ->
verification -> handshakes that are signed (Slack, Xero) -> acknowledgements (Google `sync`) ->
a JSON body -> the event's id and type. No I/O happens here except the key fetches of the
`jwt` and `rsa_cert` schemes (`needs_thread` says so); storing is the caller's job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from ..control.connections import ConnectionRecord
from ..control.inbox import AuditEntry, Delivery
from ..errors import REFERENCE, TemplateError
from ..paths import compile_path
from ..templating import CompiledTemplate, compile_template
from .decoding import UndecodableField, decode_body
from .errors import WebhookConfigError, WebhookRejected
from .handshakes import Reply, answer_handshake, notion_verification_token
from .identity import EventIdentifier
from .keys import DEFAULT_KEYS, KeyStore
from .schemes import lower_headers, verify
from .spec import (
    AnyVerify,
    MetaSubscribe,
    NotionVerificationToken,
    WebhooksSpec,
    render_verify,
    secret_templates,
)

if TYPE_CHECKING:  # engine.spec imports this package's spec models
    from ..spec.loader import LoadedConnector

#: Headers kept with a stored delivery: what an event handler may need, never a credential.
SAFE_HEADERS = frozenset(
    {
        "content-type",
        "user-agent",
        "webhook-id",
        "webhook-timestamp",
        "x-goog-channel-id",
        "x-goog-channel-expiration",
        "x-goog-message-number",
        "x-goog-resource-id",
        "x-goog-resource-state",
        "x-goog-resource-uri",
        "x-goog-changed",
        "x-slack-request-timestamp",
        "x-slack-retry-num",
        "x-slack-retry-reason",
        "paypal-transmission-id",
        "paypal-transmission-time",
        "tiktok-signature-timestamp",
    }
)
MAX_HEADER_VALUE = 1024
ConnectionLookup = Callable[[str, str], ConnectionRecord | None]
# (connector, provider account id) -> the stored connection of that account
AccountLookup = Callable[[str, str], ConnectionRecord | None]


@dataclass(frozen=True)
class Incoming:
    """A request to /webhooks/{connector}[/{connection_id}], as the web layer read it."""

    connector: str
    connection_id: str | None
    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    received_at: float


@dataclass(frozen=True)
class Decision:
    """Answer `reply`; when `delivery` is set, only after storing it (it carries its own audit)."""

    reply: Reply
    delivery: Delivery | None = None
    audit: AuditEntry | None = None
    verification_token: str | None = None  # Notion's: to keep encrypted and show to an admin


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _text(status: int, message: str) -> Reply:
    return Reply(status, message.encode(), "text/plain; charset=utf-8")


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v[:MAX_HEADER_VALUE] for k, v in lower_headers(headers).items() if k in SAFE_HEADERS}


class Receiver:
    """Built once per connector (per process); `decide` is called per delivery, from any thread."""

    def __init__(
        self,
        loaded: LoadedConnector,
        env: Mapping[str, str],
        *,
        connections: ConnectionLookup | None = None,
        accounts: AccountLookup | None = None,
        keys: KeyStore | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if loaded.spec.webhooks is None:
            raise WebhookConfigError(f"{loaded.spec.name} declares no webhooks")
        self.name = loaded.spec.name
        self.spec: WebhooksSpec = loaded.spec.webhooks
        self._identifier = EventIdentifier(self.spec)
        self.keys = keys or DEFAULT_KEYS
        self.clock = clock
        self._connections = connections
        self._accounts = accounts
        self._account = compile_path(self.spec.account) if self.spec.account else None
        declared = [*loaded.spec.env, *self.spec.env]
        # An unset receiver variable renders empty and that secret is skipped (a retired DocuSign
        # key); with no secret at all, deliveries are answered 503 naming what to set.
        self._env = {name: env.get(name, "") for name in declared}
        self.missing_env = [name for name in self.spec.env if not env.get(name)]
        self._templates: dict[str, CompiledTemplate] = {}
        self._shared: tuple[AnyVerify, list[str], str] | None = None
        self._broken: str | None = None
        if not self.spec.per_connection:
            try:
                self._shared = self._render(None)
            except TemplateError as exc:  # a secret's env var is not set: answer 503 until it is
                self._broken = str(exc)

    @property
    def per_connection(self) -> bool:
        return self.spec.per_connection

    @property
    def needs_thread(self) -> bool:
        """True when deciding may block: keys fetched over HTTP, or a connection read from the
        control store (run it off the event loop)."""
        return (
            self.spec.per_connection
            or self._account is not None
            or self.spec.verify.scheme in ("jwt", "rsa_cert")
        )

    def _render(self, record: ConnectionRecord | None) -> tuple[AnyVerify, list[str], str]:
        context: dict[str, Any] = {
            "env": self._env,
            "secrets": self._env,
            "config": record.config if record else {},
            "connection": {
                "id": record.id if record else None,
                "account_id": record.account_id if record else None,
                "account": record.account if record else {},
            },
        }

        def render(source: str) -> str:
            template = self._templates.get(source)
            if template is None:
                template = self._templates.setdefault(source, compile_template(source))
            return template.render(context)

        verify_spec, secrets = render_verify(self.spec.verify, render)
        handshake = self.spec.handshake
        verify_token = render(handshake.verify_token) if isinstance(handshake, MetaSubscribe) else ""
        return verify_spec, secrets, verify_token

    def _settings(self, connection_id: str | None) -> tuple[AnyVerify, list[str], str]:
        if self._broken is not None:
            missing = f"set {', '.join(self.missing_env)}" if self.missing_env else self._broken
            raise WebhookConfigError(missing)
        if self._shared is not None:
            return self._shared
        if not connection_id or self._connections is None:
            raise WebhookRejected("deliveries go to /webhooks/{connector}/{connection_id}", 404)
        record = self._connections(self.name, connection_id)
        if record is None:
            raise WebhookRejected("unknown connection", 404)
        try:
            return self._render(record)
        except TemplateError as exc:
            raise WebhookConfigError(str(exc)) from None

    def decide(self, incoming: Incoming) -> Decision:
        try:
            return self._decide(incoming)
        except WebhookRejected as exc:
            return self._rejected(incoming, exc.status, exc.reason)
        except WebhookConfigError as exc:
            # The platform's fault (no secret set): the provider should retry once it is fixed.
            return self._rejected(
                incoming, 503, f"receiver not configured: {exc} (see {REFERENCE}#webhooksspec)"
            )

    def _decide(self, incoming: Incoming) -> Decision:
        method = incoming.method.upper()
        handshake = self.spec.handshake
        if method not in ("POST", "GET") or (method == "GET" and not isinstance(handshake, MetaSubscribe)):
            raise WebhookRejected("method not allowed", 405)
        try:
            verify_spec, secrets, verify_token = self._settings(incoming.connection_id)
        except WebhookConfigError:
            # Notion's verification_token *is* the secret: it must be recorded before one is set.
            if isinstance(handshake, NotionVerificationToken) and method == "POST":
                first = notion_verification_token(incoming.body)
                if first is not None:
                    return self._handshake(incoming, first)
            raise
        reply = answer_handshake(
            handshake, method=method, query=incoming.query, body=incoming.body, verified=False,
            verify_token=verify_token,
        )  # fmt: skip
        if reply is not None:
            return self._handshake(incoming, reply)
        if method == "GET":
            raise WebhookRejected("method not allowed", 405)
        if not secrets and secret_templates(verify_spec):
            raise WebhookConfigError(
                f"set {', '.join(self.missing_env)}" if self.missing_env else "its secret renders empty"
            )
        verified = verify(
            verify_spec, secrets, incoming.headers, incoming.body, incoming.received_at, keys=self.keys
        )
        reply = answer_handshake(
            handshake, method=method, query=incoming.query, body=incoming.body, verified=True
        )
        if reply is not None:
            return self._handshake(incoming, reply)
        if verified.acknowledge_only:
            audit = self._audit(incoming, "acknowledged", 200, verified.event_type)
            return Decision(Reply(200), audit=audit)
        parsed = None
        if incoming.body.strip():
            try:
                parsed = orjson.loads(incoming.body)
            except orjson.JSONDecodeError:
                raise WebhookRejected("body is not JSON", 400) from None
            try:
                parsed = decode_body(parsed, self.spec.decode)
            except UndecodableField as exc:
                raise WebhookRejected(f"body field {exc}", 400) from None
        identity = self._identifier.identify(verified, incoming.headers, incoming.body, parsed)
        delivery = Delivery(
            connector=self.name,
            event_id=identity.id,
            connection_id=incoming.connection_id or self._account_connection(parsed),
            event_type=identity.type,
            headers=safe_headers(incoming.headers),
            body=incoming.body,
            received_at=iso_time(incoming.received_at),
        )
        return Decision(Reply(200, b'{"received":true}', "application/json"), delivery=delivery)

    def _account_connection(self, parsed: Any) -> str | None:
        """The stored connection of the account the body names (`webhooks.account`), if any."""
        if self._account is None or self._accounts is None:
            return None
        account = self._account(parsed)
        if account is None or isinstance(account, dict | list) or account == "":
            return None
        record = self._accounts(self.name, str(account))
        return record.id if record is not None else None

    def _handshake(self, incoming: Incoming, reply: Reply) -> Decision:
        outcome = "handshake" if reply.status < 400 else "rejected"
        reason = None if reply.status < 400 else "handshake failed"
        audit = self._audit(incoming, outcome, reply.status, None, reason)
        return Decision(reply, audit=audit, verification_token=reply.verification_token)

    def _rejected(self, incoming: Incoming, status: int, reason: str) -> Decision:
        return Decision(_text(status, reason), audit=self._audit(incoming, "rejected", status, None, reason))

    def _audit(
        self, incoming: Incoming, outcome: Any, status: int, event_type: str | None, reason: str | None = None
    ) -> AuditEntry:
        return AuditEntry(
            connector=self.name,
            outcome=outcome,
            status=status,
            received_at=iso_time(incoming.received_at),
            connection_id=incoming.connection_id,
            event_type=event_type,
            reason=reason,
        )

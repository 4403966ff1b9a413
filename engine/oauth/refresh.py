"""The sync path's authenticator for a stored OAuth connection, kept fresh.

`OAuth2Authenticator` follows the engine's Authenticator protocol (`engine/auth.py`):
`headers()` gives `Authorization: Bearer <token>`, refreshing first when the token is within
`refresh_buffer_seconds` of expiry; `refresh()` (the HTTP client calls it once on a 401)
gets a new one.

Refreshes are serialised per connection across threads and processes: the control store's
row is locked (SQLite: `BEGIN IMMEDIATE`; Postgres: `SELECT ... FOR UPDATE`), re-read, and
the refresh is skipped when another process already stored a newer token. The rotated
refresh token is written in that same transaction, so it is never lost.

A refused refresh (`invalid_grant`: revoked, expired, spent) sets `connected=false` with
`last_error` and raises ConnectionDisconnected; so does a 401 on a long-lived token. From
then on every call raises at once, without touching the provider (no retry storm).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx
import orjson

from ..control import ConnectionRecord, ConnectionStore
from ..control.db import now_utc
from ..errors import AuthError
from .client import OAuthClient, UrlRewrite
from .errors import ConnectionDisconnected, TokenRequestError
from .refresh_request import refresh_by_request
from .spec import OAuth2AuthCode
from .tokens import TokenSet

log = logging.getLogger("engine.oauth")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OAuth2Authenticator:
    """Bearer auth for one stored connection. Thread-safe; safe across processes."""

    def __init__(
        self,
        store: ConnectionStore,
        record: ConnectionRecord,
        spec: OAuth2AuthCode,
        *,
        env: Mapping[str, str],
        rewrite: UrlRewrite | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ):
        self.store = store
        self.spec = spec
        self.connector = record.connector
        self.connection_id = record.id
        self.clock = clock
        self._env = dict(env)
        self._rewrite = rewrite
        self._transport = transport
        self._config = dict(record.config)
        self._tokens = TokenSet.from_credentials(record.credentials, record.token_expires_at, record.scopes)
        self._seen: list[str] = self._tokens.secrets()
        self._lock = threading.RLock()
        self._handed_out = threading.local()  # the token this thread's last request carried
        self._failure: AuthError | None = None
        if not record.connected:
            self._failure = self._disconnected(record.last_error or "it was disconnected")
        elif not self._tokens.access_token:
            self._failure = self._disconnected("it has no stored access token")

    def __repr__(self) -> str:
        return f"OAuth2Authenticator({self.connector!r}, {self.connection_id!r}, tokens=***)"

    # ------------------------------------------------------------ Authenticator protocol

    def headers(self) -> dict[str, str]:
        with self._lock:
            self._raise_if_failed()
            if self._can_refresh() and self._tokens.expiring(self.clock(), self.spec.refresh_buffer_seconds):
                self._locked_refresh(after_401=False)
            self._handed_out.token = self._tokens.access_token
            return {"Authorization": f"Bearer {self._tokens.access_token}"}

    def params(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        """Every token value this authenticator has held (to redact)."""
        with self._lock:
            return list(self._seen)

    def refresh(self) -> bool:
        """The provider answered 401: get a new token (once), or disconnect."""
        with self._lock:
            self._raise_if_failed()
            used = getattr(self._handed_out, "token", None)
            if used is not None and used != self._tokens.access_token:
                return True  # another thread refreshed since this request was sent
            return self._locked_refresh(after_401=True)

    # ------------------------------------------------------------ the locked refresh

    def _can_refresh(self) -> bool:
        return not self.spec.long_lived and (
            bool(self._tokens.refresh_token) or self.spec.refresh is not None
        )

    def _locked_refresh(self, *, after_401: bool) -> bool:
        failure: AuthError | None = None
        db = self.store.db
        with db.transaction():
            if db.dialect == "postgres":
                db.query(
                    "SELECT id FROM connections WHERE connector = ? AND id = ? FOR UPDATE",
                    [self.connector, self.connection_id],
                )
            current = self.store.get(self.connector, self.connection_id)
            if current is None or not current.connected:
                why = (current.last_error if current else None) or "it was disconnected or deleted"
                failure = self._disconnected(why)
            else:
                stored = TokenSet.from_credentials(
                    current.credentials, current.token_expires_at, current.scopes
                )
                if stored.access_token != self._tokens.access_token:
                    self._adopt(stored)  # another process refreshed (or the user reconnected)
                    if after_401 or not stored.expiring(self.clock(), self.spec.refresh_buffer_seconds):
                        return True
                failure = self._refresh_stored(stored, after_401=after_401)
        if failure is not None:
            self._failure = failure
            log.warning("%s", failure)
            raise failure
        return True

    def _refresh_stored(self, stored: TokenSet, *, after_401: bool) -> AuthError | None:
        """Inside the lock: call the token endpoint and store the answer, or record the failure."""
        if self.spec.long_lived or not (stored.refresh_token or self.spec.refresh):
            why = "the provider refused its token (401)" if after_401 else "its token expired"
            message = f"{why} and it cannot be refreshed"
            self.store.mark_error(self.connector, self.connection_id, message, disconnect=True)
            return self._disconnected(message)
        try:
            with OAuthClient(
                self.spec,
                self.connector,
                env=self._env,
                config=self._config,
                connection_id=self.connection_id,
                rewrite=self._rewrite,
                transport=self._transport,
                clock=self.clock,
            ) as client:
                if self.spec.refresh is not None:
                    fresh = refresh_by_request(client, self.spec.refresh, stored)
                else:
                    assert stored.refresh_token is not None
                    fresh = client.token_endpoint.refresh(stored.refresh_token, stored.scopes)
        except TokenRequestError as exc:
            # An outage or our own client misconfiguration: the grant may be fine; record, stop this run.
            keep = exc.transient or exc.error == "invalid_client"
            self.store.mark_error(self.connector, self.connection_id, str(exc), disconnect=not keep)
            if keep:
                return AuthError(f"{self._label()}: refreshing the token failed: {exc}")
            return self._disconnected(f"refreshing the token failed: {exc}")
        fresh = fresh.keeping(stored)
        self._save(fresh)
        self._adopt(fresh)
        log.info("%s: token refreshed, expires %s", self._label(), fresh.expires_at)
        return None

    def _save(self, tokens: TokenSet) -> None:
        now = now_utc()
        self.store.db.execute(
            "UPDATE connections SET credentials = ?, token_expires_at = ?, scopes = ?, updated_at = ?"
            " WHERE connector = ? AND id = ?",
            [
                self.store.vault.encrypt(tokens.credentials()),
                tokens.expires_at.isoformat() if tokens.expires_at else None,
                orjson.dumps(list(tokens.scopes)).decode(),
                now,
                self.connector,
                self.connection_id,
            ],
        )

    def _adopt(self, tokens: TokenSet) -> None:
        self._tokens = tokens
        self._seen.extend(s for s in tokens.secrets() if s not in self._seen)

    # ------------------------------------------------------------ failures

    def _label(self) -> str:
        return f"{self.connector} connection {self.connection_id!r}"

    def _disconnected(self, why: str) -> ConnectionDisconnected:
        return ConnectionDisconnected(
            f"{self._label()} is disconnected: {why}. Reconnect it (manifold connect {self.connector} "
            f"--connection {self.connection_id})."
        )

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

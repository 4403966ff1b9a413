"""The OAuth `state` parameter: signed, single use, expiring, bound to the connection being made.

    state = "<nonce>.<expires, unix seconds>.<signature>"
    signature = base64url(HMAC-SHA256(key, "v1|nonce|expires|connector|connection id|redirect URI"))

The nonce names a row of `oauth_states` holding what the state is bound to (connector,
connection id, owner, redirect URI) and the PKCE verifier, encrypted. `consume` checks the
signature against that row, the expiry, and marks the row used in one conditional UPDATE,
so a replay loses even when two callbacks race. The signing key is random, kept encrypted
by the vault in `oauth_keys`, and shared by every process on the same control store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..control import ControlDB, Vault
from ..errors import ConfigError
from .errors import OAuthStateError

STATE_TTL = timedelta(minutes=10)
KEEP_USED = timedelta(days=1)  # rows older than this are purged when new states are issued
_KEY_NAME = "state"
_SHAPE = re.compile(r"^([A-Za-z0-9_-]{16,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PendingConnect:
    """What a valid state was bound to. The verifier never shows in a repr."""

    connector: str
    connection_id: str
    redirect_uri: str
    owner_id: str | None = None
    code_verifier: str | None = field(default=None, repr=False)


class OAuthStates:
    """Issues and consumes `state` values, recorded in the control store."""

    def __init__(
        self,
        db: ControlDB,
        vault: Vault,
        *,
        ttl: timedelta = STATE_TTL,
        clock: Callable[[], datetime] = _utc_now,
    ):
        self.db = db
        self.vault = vault
        self.ttl = ttl
        self.clock = clock
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return f"OAuthStates({self.db!r}, ttl={self.ttl})"

    # ------------------------------------------------------------ issue

    def issue(
        self,
        connector: str,
        connection_id: str,
        redirect_uri: str,
        *,
        owner_id: str | None = None,
        code_verifier: str | None = None,
    ) -> str:
        """A new state for one authorize redirect."""
        now = self.clock()
        nonce = secrets.token_urlsafe(24)
        expires = int((now + self.ttl).timestamp())
        verifier = self.vault.encrypt({"code_verifier": code_verifier}) if code_verifier else None
        with self.db.transaction():
            self.db.execute("DELETE FROM oauth_states WHERE created_at < ?", [(now - KEEP_USED).isoformat()])
            self.db.execute(
                "INSERT INTO oauth_states (nonce, connector, connection_id, owner_id, redirect_uri,"
                " code_verifier, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    nonce,
                    connector,
                    connection_id,
                    owner_id,
                    redirect_uri,
                    verifier,
                    now.isoformat(),
                    datetime.fromtimestamp(expires, UTC).isoformat(),
                ],
            )
        signature = self._sign(nonce, expires, connector, connection_id, redirect_uri)
        return f"{nonce}.{expires}.{signature}"

    # ------------------------------------------------------------ consume

    def consume(self, state: str, *, connector: str, redirect_uri: str | None = None) -> PendingConnect:
        """Check a callback's state and use it up; raises OAuthStateError (nothing changes then,
        except that a replayed or expired state stays dead)."""
        shape = _SHAPE.match(state or "")
        if shape is None:
            raise OAuthStateError("the state parameter is missing or malformed; start the connect again")
        nonce, expires_text, signature = shape.groups()
        rows = self.db.query(
            "SELECT connector, connection_id, owner_id, redirect_uri, code_verifier, used_at"
            " FROM oauth_states WHERE nonce = ?",
            [nonce],
        )
        if not rows:
            raise OAuthStateError("the state parameter was not issued here (or was altered); start again")
        row = rows[0]
        expected = self._sign(nonce, int(expires_text), connector, row["connection_id"], row["redirect_uri"])
        if not hmac.compare_digest(expected, signature):
            raise OAuthStateError(
                "the state parameter's signature does not match: it was altered, or it belongs to "
                "another connector; start the connect again"
            )
        if redirect_uri is not None and redirect_uri != row["redirect_uri"]:
            raise OAuthStateError("the callback's redirect URI is not the one this state was issued for")
        if row["used_at"] is not None:
            raise OAuthStateError("the state parameter was used already (a replayed callback); start again")
        now = self.clock()
        if now.timestamp() > int(expires_text):
            raise OAuthStateError(
                f"the state parameter expired (connects must finish within {int(self.ttl.total_seconds())}"
                " s); start the connect again"
            )
        used = self.db.execute(
            "UPDATE oauth_states SET used_at = ? WHERE nonce = ? AND used_at IS NULL",
            [now.isoformat(), nonce],
        )
        if used != 1:
            raise OAuthStateError("the state parameter was used already (a replayed callback); start again")
        verifier = self.vault.decrypt(row["code_verifier"])["code_verifier"] if row["code_verifier"] else None
        return PendingConnect(
            row["connector"], row["connection_id"], row["redirect_uri"], row["owner_id"], verifier
        )

    # ------------------------------------------------------------ signing key

    def _sign(self, nonce: str, expires: int, connector: str, connection_id: str, redirect_uri: str) -> str:
        message = "|".join(["v1", nonce, str(expires), connector, connection_id, redirect_uri]).encode()
        digest = hmac.new(self._signing_key(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _signing_key(self) -> bytes:
        if self._key is None:
            self._key = self._load_key()
        return self._key

    def _load_key(self) -> bytes:
        fresh = self.vault.encrypt({"key": secrets.token_hex(32)})
        with self.db.transaction():
            rows = self.db.query("SELECT secret FROM oauth_keys WHERE name = ?", [_KEY_NAME])
            if not rows:
                self.db.execute(
                    "INSERT INTO oauth_keys (name, secret, created_at) VALUES (?, ?, ?)",
                    [_KEY_NAME, fresh, self.clock().isoformat()],
                )
                stored = fresh
            else:
                stored = rows[0]["secret"]
                try:
                    self.vault.decrypt(stored)
                except ConfigError:
                    # Encrypted with a key rotated away: only states in flight are lost.
                    self.db.execute("UPDATE oauth_keys SET secret = ? WHERE name = ?", [fresh, _KEY_NAME])
                    stored = fresh
        return bytes.fromhex(self.vault.decrypt(stored)["key"])

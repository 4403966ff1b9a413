"""Provider handshakes: requests that check the receiver rather than carry an event.

Each function returns a `Reply` when the request is that handshake, else None (carry on).
Two run before verification, because the provider cannot sign them yet:

- `meta_subscribe` (GET): Meta's `?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`.
- `notion_verification_token`: Notion's first POST `{"verification_token": "secret_..."}`.

Two run after verification, on a signed POST (an unsigned one was already answered 401):

- `slack_url_verification`: `{"type": "url_verification", "challenge": "3eZbrw1a..."}`.
- `xero_intent_to_receive`: `{"events": [], "firstEventSequence": 0, ...}` -> 200, empty body.

`answer_handshake` runs the one a connector declares at the right stage.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .spec import MetaSubscribe, NotionVerificationToken, SlackUrlVerification, XeroIntentToReceive

BEFORE_VERIFY = frozenset({"meta_subscribe", "notion_verification_token"})
MAX_CHALLENGE = 2048
MAX_TOKEN = 512


@dataclass(frozen=True)
class Reply:
    """What to answer. `verification_token` (Notion) is to be recorded for an admin, never logged
    in the clear: it becomes the subscription's signing secret."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    verification_token: str | None = None

    def __repr__(self) -> str:
        token = ", verification_token=***" if self.verification_token else ""
        return f"Reply(status={self.status}, {len(self.body)} bytes{token})"


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def meta_subscribe(method: str, query: Mapping[str, str], verify_token: str) -> Reply | None:
    """Echo `hub.challenge` when `hub.mode=subscribe` and `hub.verify_token` matches; else 403."""
    if method.upper() != "GET" or "hub.mode" not in query:
        return None
    sent = query.get("hub.verify_token", "").encode("utf-8", "replace")
    token_ok = bool(verify_token) and hmac.compare_digest(sent, verify_token.encode())
    if query.get("hub.mode") != "subscribe" or not token_ok:
        return Reply(403, b"verification failed", "text/plain")
    challenge = query.get("hub.challenge", "")
    if not challenge or len(challenge) > MAX_CHALLENGE:
        return Reply(400, b"missing hub.challenge", "text/plain")
    return Reply(200, challenge.encode("utf-8", "replace"), "text/plain")


def notion_verification_token(body: bytes) -> Reply | None:
    """Notion's one-off `{"verification_token": ...}`: 200, and the token handed back to record."""
    message = _json_object(body)
    if message is None or set(message) != {"verification_token"}:
        return None
    token = message["verification_token"]
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN or not token.isprintable():
        return Reply(400, b"malformed verification_token", "text/plain")
    return Reply(200, verification_token=token)


def slack_url_verification(body: bytes) -> Reply | None:
    """Answer a (verified) `url_verification` event with its challenge, as JSON."""
    message = _json_object(body)
    if message is None or message.get("type") != "url_verification":
        return None
    challenge = message.get("challenge")
    if not isinstance(challenge, str) or not challenge or len(challenge) > MAX_CHALLENGE:
        return Reply(400, b"missing challenge", "text/plain")
    return Reply(200, orjson.dumps({"challenge": challenge}), "application/json")


def xero_intent_to_receive(body: bytes) -> Reply | None:
    """A (verified) intent-to-receive has no events: 200 with an empty body, nothing stored."""
    message = _json_object(body)
    if message is None or message.get("events") != []:
        return None
    return Reply(200)


Handshake = MetaSubscribe | SlackUrlVerification | NotionVerificationToken | XeroIntentToReceive


def answer_handshake(
    spec: Handshake | None,
    *,
    method: str,
    query: Mapping[str, str],
    body: bytes,
    verified: bool,
    verify_token: str = "",
) -> Reply | None:
    """Run the connector's handshake if this is its stage: `verified=False` before verification,
    True after. `verify_token` is Meta's, rendered."""
    if spec is None or (spec.type in BEFORE_VERIFY) == verified:
        return None
    if isinstance(spec, MetaSubscribe):
        return meta_subscribe(method, query, verify_token)
    if method.upper() != "POST":
        return None
    if isinstance(spec, NotionVerificationToken):
        return notion_verification_token(body)
    if isinstance(spec, SlackUrlVerification):
        return slack_url_verification(body)
    return xero_intent_to_receive(body)

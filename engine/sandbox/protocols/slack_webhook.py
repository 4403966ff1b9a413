"""Slack incoming webhooks: a message POSTed to a secret URL, answered in plain text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from engine.sandbox.messages import Call, Reply
from engine.sandbox.protocols.base import BadRequest, Protocol
from engine.sandbox.store import Snapshot

# The documented replies (https://api.slack.com/messaging/webhooks#handling_errors)
_ERRORS = frozenset(
    {
        "invalid_payload",
        "no_text",
        "too_many_attachments",
        "user_not_found",
        "invalid_token",
        "action_prohibited",
        "channel_not_found",
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "channel_is_archived",
        "posting_to_general_channel_denied",
        "rate_limited",
        "rollup_error",
    }
)
_BY_STATUS = {400: "invalid_payload", 403: "invalid_token", 404: "no_service", 410: "channel_is_archived"}
_MAX_ATTACHMENTS = 100


class SlackWebhook(Protocol):
    """Slack incoming webhooks: no auth header, the URL is the credential.

    POST /services/T000/B000/XXXX  {"text": "Deal won", "blocks": [...]}   -> 200 text/plain "ok"

    The fixture is a list of the hooks that exist: paths ('/services/T000/B000/XXXX'),
    'T000/B000/XXXX', tokens ('XXXX') or whole hook URLs. Errors are plain text too:
    400 `invalid_payload` (not a JSON object, or blocks/attachments not lists), 400 `no_text`
    (no text, blocks or attachments), 400 `too_many_attachments` (over 100), 404 `no_service`
    (a hook not in the fixture), 410 `channel_is_archived` (a hook listed in `archived`).
    A form body's `payload` field (the legacy way) is read as the JSON message.
    Options: `archived` (hooks, written as in the fixture, whose channel is archived).
    """

    name = "slack_webhook"
    keyed_fixture = False
    public = True
    defaults: ClassVar[dict[str, Any]] = {"archived": []}

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        archived = self.options["archived"]
        if not isinstance(archived, list) or not all(isinstance(hook, str) for hook in archived):
            raise ValueError("option archived must be a list of hooks")

    def handle(self, call: Call, data: Snapshot) -> Reply:
        if not any(_names(entry.record, call.api_path) for entry in data.live):
            raise BadRequest("no_service", status=404, code="no_service")
        if any(_names(hook, call.api_path) for hook in self.options["archived"]):
            raise BadRequest("channel_is_archived", status=410, code="channel_is_archived")
        message = _message(call)
        if not isinstance(message, dict):
            raise BadRequest("invalid_payload", code="invalid_payload")
        blocks, attachments = message.get("blocks"), message.get("attachments")
        if not all(part is None or isinstance(part, list) for part in (blocks, attachments)):
            raise BadRequest("invalid_payload", code="invalid_payload")
        if not (message.get("text") or blocks or attachments):
            raise BadRequest("no_text", code="no_text")
        if attachments and len(attachments) > _MAX_ATTACHMENTS:
            raise BadRequest("too_many_attachments", code="too_many_attachments")
        return _text(200, "ok")

    def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        if code not in _ERRORS:
            code = _BY_STATUS.get(status) or _fallback(status)
        return _text(status, code, headers)


def _fallback(status: int) -> str:
    if status == 429:
        return "rate_limited"
    return "rollup_error" if status >= 500 else "invalid_payload"


def _names(hook: Any, api_path: str) -> bool:
    """Whether a fixture entry names the hook at this path."""
    if not isinstance(hook, str) or not hook.strip("/"):
        return False
    if "://" in hook:
        hook = urlsplit(hook).path
    return api_path == hook or api_path.endswith("/" + hook.strip("/"))


def _message(call: Call) -> Any:
    if call.form is None:
        return call.body
    payload = dict(call.form).get("payload")
    try:
        return orjson.loads(payload) if payload is not None else None
    except orjson.JSONDecodeError:
        return None


def _text(status: int, text: str, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, text.encode(), dict(headers or {}), content_type="text/plain")

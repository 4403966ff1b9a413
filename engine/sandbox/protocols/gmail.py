"""Gmail: users.history.list (the change feed after a history id) and users.messages.send."""

from __future__ import annotations

import base64
import binascii
import secrets
from email import policy
from email.parser import BytesParser
from typing import Any, ClassVar

import orjson

from engine.sandbox.messages import Call, Reply, json_reply, splice
from engine.sandbox.protocols.base import BadRequest, Protocol, b64decode, b64encode, int_param
from engine.sandbox.protocols.writes import WRITE_OPTIONS, Collection, WriteProtocol
from engine.sandbox.store import Snapshot

HISTORY_TYPES = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}
NOT_FOUND = "Requested entity was not found."


def _history_id(value: Any) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


class GmailHistory(Protocol):
    """users.history.list: the mailbox's history records after `startHistoryId`, oldest first.

    GET /gmail/v1/users/me/history?startHistoryId=9000&historyTypes=messageAdded&maxResults=2
    -> {"history": [{"id": "9012", "messages": [...], "messagesAdded": [{"message": {...}}]}, ...],
        "nextPageToken": "eyJvIjoyfQ", "historyId": "9040"}

    The fixture leaf is the list of history records (`id` a uint64 string). `historyId` is the
    mailbox's current history id: option `history_id`, else the largest record id. A
    `startHistoryId` below option `oldest_history_id` (default: the smallest record id minus
    one) is too old: 404 notFound, after which Gmail says to run a full sync. `historyTypes`
    (repeatable) keeps the records holding one of those changes, and only those changes;
    `labelId` keeps those touching messages with that label. `maxResults` default 100, at most
    500; no `startHistoryId` is a 400.
    """

    name = "gmail_history"
    error_style = "google"
    defaults: ClassVar[dict[str, Any]] = {"history_id": None, "oldest_history_id": None}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        start = _history_id(query.get("startHistoryId"))
        if start is None:
            raise BadRequest("Invalid startHistoryId", code="invalidArgument", param="startHistoryId")
        records = [e.record for e in data.live if isinstance(e.record, dict)]
        ids = [i for i in (_history_id(r.get("id")) for r in records) if i is not None]
        oldest = _history_id(self.options["oldest_history_id"])
        if oldest is None:
            oldest = min(ids) - 1 if ids else 0
        if start < oldest:
            raise BadRequest(NOT_FOUND, status=404, code="notFound")
        size = int_param(query, "maxResults", 100, high=500, clamp=True)
        wanted = [v for k, v in call.params if k == "historyTypes"]
        unknown = [t for t in wanted if t not in HISTORY_TYPES]
        if unknown:
            raise BadRequest(f"Invalid value at 'history_types': {unknown[0]}", param="historyTypes")
        keys = [HISTORY_TYPES[t] for t in wanted] or list(HISTORY_TYPES.values())
        label = query.get("labelId")
        changes = []
        for record in sorted(records, key=lambda r: _history_id(r.get("id")) or 0):
            if (_history_id(record.get("id")) or 0) <= start:
                continue
            kept = {k: v for k, v in record.items() if k not in HISTORY_TYPES.values() or k in keys}
            if not any(kept.get(k) for k in keys):
                continue
            if label and not _touches_label(kept, keys, label):
                continue
            changes.append(kept)
        offset = 0
        token = query.get("pageToken")
        if token:
            state = b64decode(token)
            try:
                offset = int(orjson.loads(state)["o"]) if state else -1
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                offset = -1
            if offset < 0:
                raise BadRequest("Invalid pageToken", param="pageToken")
        page = changes[offset : offset + size]
        current = _history_id(self.options["history_id"]) or max([*ids, start])
        fields: dict[str, Any] = {"historyId": str(current)}
        if offset + size < len(changes):
            fields["nextPageToken"] = b64encode(orjson.dumps({"o": offset + size}).decode())
        if not page:
            return json_reply(fields)
        return Reply(200, splice(fields, "history", [orjson.dumps(r) for r in page]))


def _touches_label(record: dict[str, Any], keys: list[str], label: str) -> bool:
    for key in keys:
        for change in record.get(key) or []:
            message = change.get("message") if isinstance(change, dict) else None
            if isinstance(message, dict) and label in (message.get("labelIds") or []):
                return True
    return False


class GmailSend(WriteProtocol):
    """users.messages.send: `{"raw": base64url(RFC 2822 message), "threadId"?}` -> a Message.

    POST /gmail/v1/users/me/messages/send  {"raw": "VG86IGFkYUBleGFtcGxlLmNvbQ0KU3ViamVjdDog..."}
    -> 200 {"id": "18c4a1f0b2d3e4f5", "threadId": "18c4a1f0b2d3e4f5", "labelIds": ["SENT"]}

    `raw` must be base64url and decode to a message whose header lines end in CRLF, whose
    header bytes are ASCII (non-ASCII text RFC 2047-encoded) and which names a recipient
    (To, Cc or Bcc: else 400 'Recipient address required', Gmail's words) and every header in
    option `required_headers` (default [To, Subject]). The sent message (id, threadId,
    labelIds, and the parsed headers under `headers`) is kept in the route's own fixture.
    """

    name = "gmail_send"
    error_style = "google"
    defaults: ClassVar[dict[str, Any]] = {**WRITE_OPTIONS, "required_headers": ["To", "Subject"]}

    def write(self, call: Call, collection: Collection) -> Reply:
        body = self.received(call)
        raw = body.get("raw")
        if not isinstance(raw, str) or not raw:
            raise BadRequest("'raw' RFC822 payload message string or uploading message via /upload/* URL "
                             "required", code="invalidArgument", param="raw")  # fmt: skip
        data = _b64url_bytes(raw)
        head, separator, _ = data.partition(b"\r\n\r\n")
        if not separator or b"\n" in head.replace(b"\r\n", b""):
            raise BadRequest("Invalid RFC 2822 message: header lines must end in CRLF", param="raw")
        if not head.isascii():
            raise BadRequest("Invalid RFC 2822 message: non-ASCII header bytes (use RFC 2047)", param="raw")
        message = BytesParser(policy=policy.default).parsebytes(data)
        if not any(message.get(h) for h in ("To", "Cc", "Bcc")):
            raise BadRequest("Recipient address required", code="invalidArgument")
        for name in self.options["required_headers"]:
            if not message.get(name):
                raise BadRequest(f"Invalid RFC 2822 message: no {name} header", param="raw")
        message_id = secrets.token_hex(8)
        thread_id = body.get("threadId") or message_id
        record = {"id": message_id, "threadId": thread_id, "labelIds": ["SENT"]}
        headers = {k: str(v) for k, v in message.items()}
        collection.save({**record, "headers": headers})
        return json_reply(record)


def _b64url_bytes(raw: str) -> bytes:
    if "+" in raw or "/" in raw:
        raise BadRequest("Invalid value for ByteString: raw must be base64url", param="raw")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise BadRequest("Invalid value for ByteString", param="raw") from None

"""WhatsApp Business Cloud API: sending a message."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any, ClassVar

from engine.sandbox.messages import Call, Reply, json_reply
from engine.sandbox.protocols.writes import WRITE_OPTIONS, Collection, WriteProtocol

# Message types of the Message schema (business-messaging-api_v23.0.yaml, operationId sendMessage).
MESSAGE_TYPES = frozenset(
    {
        "text",
        "template",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "reaction",
    }
)


class WhatsAppSend(WriteProtocol):
    """`POST /{Version}/{Phone-Number-ID}/messages`, as the Cloud API answers it.

    POST /v23.0/106540352242922/messages
         {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234",
          "type": "text", "text": {"body": "Hi", "preview_url": false}}
    -> 200 {"messaging_product": "whatsapp",
            "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.HBgL...", "message_status": "accepted"}]}

    The sent message (the body, its wamid and `timestamp`) is kept in the route's own fixture,
    for tests to read. Refusals are Graph errors with `error_data`:
    {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100,
               "error_data": {"messaging_product": "whatsapp", "details": "..."}, "fbtrace_id": "..."}}
    Options: `unreachable` (recipients refused with #131030 "Recipient phone number not in allowed
    list", as a test number answers numbers not on its list).
    """

    name = "whatsapp_send"
    error_style = "graph"
    defaults: ClassVar[dict[str, Any]] = {**WRITE_OPTIONS, "unreachable": []}

    def write(self, call: Call, collection: Collection) -> Reply:
        body = call.body if isinstance(call.body, dict) else {}
        problem = _problem(body)
        if problem is not None:
            return _graph_error(400, 100, "(#100) Invalid parameter", problem)
        to = str(body["to"])
        wa_id = "".join(ch for ch in to if ch.isdigit())
        if wa_id in {"".join(c for c in str(n) if c.isdigit()) for n in self.options["unreachable"]}:
            return _graph_error(
                400,
                131030,
                "(#131030) Recipient phone number not in allowed list",
                "Recipient phone number not in allowed list: Add recipient phone number to recipient "
                "list and try again.",
                subcode=2655007,
            )
        wamid = "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(18)).decode()
        collection.save({**body, "id": wamid, "timestamp": str(int(time.time()))})
        return json_reply(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            }
        )


def _problem(body: dict[str, Any]) -> str | None:
    if body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required and must be 'whatsapp'."
    if not body.get("to"):
        return "The parameter to is required."
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        return f"Unsupported message type: {kind}."
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, dict) or not str(text.get("body") or "").strip():
            return "The parameter text['body'] is required."
        if len(str(text["body"])) > 4096:
            return "Param text['body'] must be at most 4096 characters long."
    elif not isinstance(body.get(kind), dict | list):
        return f"The parameter {kind} is required."
    return None


def _graph_error(status: int, code: int, message: str, details: str, *, subcode: int | None = None) -> Reply:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
    return json_reply({"error": error}, status)

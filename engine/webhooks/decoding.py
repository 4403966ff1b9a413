"""Body fields that carry encoded JSON, decoded before an event's id, type, route and records are read.

Cloud Pub/Sub push (Gmail) wraps the notification in base64:

>>> body = {"message": {"data": "eyJlbWFpbEFkZHJlc3MiOiAidXNlckBleGFtcGxlLmNvbSIsICJoaXN0b3J5SWQiOiAiMTIzNDU2Nzg5MCJ9",
...                     "messageId": "2070443601311540"}}
>>> decode_body(body, {"message.data": "b64json"})["message"]["data"]
{'emailAddress': 'user@example.com', 'historyId': '1234567890'}
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable, Mapping
from typing import Any, Literal

import orjson

from ..paths import split_path

Encoding = Literal["b64json"]


class UndecodableField(ValueError):
    """A field the spec says is encoded does not decode."""


def _b64json(value: Any) -> Any:
    if not isinstance(value, str):
        raise UndecodableField("is not a string")
    text = value.strip()
    try:  # Pub/Sub uses standard base64; accept the URL-safe alphabet and missing padding too
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
        return orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise UndecodableField("is not base64-encoded JSON") from None


DECODERS: dict[str, Callable[[Any], Any]] = {"b64json": _b64json}


def decode_body(body: Any, decode: Mapping[str, str]) -> Any:
    """A copy of the body with each named field decoded in place (absent fields are left alone).
    Raises UndecodableField naming the field."""
    if not decode or not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    for path, encoding in decode.items():
        *parents, last = split_path(path)
        node: Any = body
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict) or node.get(last) is None:
            continue
        try:
            node[last] = DECODERS[encoding](node[last])
        except UndecodableField as exc:
            raise UndecodableField(f"'{path}' {exc}") from None
    return body

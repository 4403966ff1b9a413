"""The moving parts of the `hmac` scheme: signature header formats, signed messages, digests.

A `format` is compiled once (cached by its text) into a parser:

>>> parse = header_parser("t={timestamp},v1={signature}", None)
>>> parse("t=1700000000,v1=abc,v1=def,v0=old")
Parsed(signatures=['abc', 'def'], timestamp='1700000000')
>>> header_parser("v1,{signature}", " ")("v1,K5o= v1a,ignored v1,3rt=")
Parsed(signatures=['K5o=', '3rt='], timestamp=None)
>>> signed_message("v0:{timestamp}:{body}", b'{"a":1}', timestamp="1531420618")
b'v0:1531420618:{"a":1}'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple

from .errors import WebhookConfigError, WebhookRejected

MAX_SIGNATURES = 100
_KV_PART = re.compile(r"^([^=,{}\s]+)=\{(signature|timestamp)\}$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class Parsed(NamedTuple):
    signatures: list[str]
    timestamp: str | None


Parser = Callable[[str], Parsed]


def _kv_parser(keys: dict[str, str]) -> Parser:
    """`t={timestamp},v1={signature}`: key=value pairs in any order; unknown keys are ignored."""
    signature_key = next(k for k, v in keys.items() if v == "signature")
    timestamp_key = next((k for k, v in keys.items() if v == "timestamp"), None)

    def parse(value: str) -> Parsed:
        signatures: list[str] = []
        timestamps: list[str] = []
        for item in value.split(","):
            key, sep, item_value = item.strip().partition("=")
            if not sep or not item_value:
                continue
            if key == signature_key:
                signatures.append(item_value)
            elif key == timestamp_key:
                timestamps.append(item_value)
        if not signatures:
            raise WebhookRejected(f"no '{signature_key}=' signature in the signature header")
        if timestamp_key is not None and len(timestamps) != 1:
            raise WebhookRejected(f"the signature header needs exactly one '{timestamp_key}='")
        return Parsed(signatures, timestamps[0] if timestamps else None)

    return parse


def _literal_parser(fmt: str) -> Callable[[str], Parsed | None]:
    """`sha256={signature}`, `v1,{signature}`, `{signature}`: a fixed text around the values."""
    pattern = ""
    for i, piece in enumerate(_PLACEHOLDER.split(fmt)):
        pattern += re.escape(piece) if i % 2 == 0 else rf"(?P<{piece}>.+?)"
    compiled = re.compile(pattern, re.DOTALL)

    def parse(value: str) -> Parsed | None:
        match = compiled.fullmatch(value.strip())
        if match is None or not match["signature"]:
            return None
        return Parsed([match["signature"]], match.groupdict().get("timestamp"))

    return parse


@lru_cache(maxsize=256)
def header_parser(fmt: str, separator: str | None) -> Parser:
    """Compile a signature header `format` (see `HmacVerify.format`) into a parser."""
    parts = fmt.split(",")
    kv = [_KV_PART.match(p.strip()) for p in parts]
    if len(parts) > 1 and all(kv):
        keys = {m[1]: m[2] for m in kv if m}
        kv_parse = _kv_parser(keys)
        if separator is None:
            return kv_parse
        item_parse: Callable[[str], Parsed | None] = kv_parse
    else:
        item_parse = _literal_parser(fmt)

    def parse(value: str) -> Parsed:
        items = [value] if separator is None else [i for i in value.split(separator) if i.strip()]
        signatures: list[str] = []
        timestamp: str | None = None
        for item in items:
            try:
                parsed = item_parse(item)
            except WebhookRejected:
                parsed = None
            if parsed is not None:
                signatures += parsed.signatures
                timestamp = parsed.timestamp
        if not signatures:
            raise WebhookRejected("malformed signature header")
        return Parsed(signatures[:MAX_SIGNATURES], timestamp)

    return parse


@lru_cache(maxsize=256)
def _signed_pieces(template: str) -> tuple[str, ...]:
    return tuple(_PLACEHOLDER.split(template))


def signed_message(
    template: str, body: bytes, *, timestamp: str | None = None, message_id: str | None = None
) -> bytes:
    """The bytes an HMAC is computed over: `template` with {body}, {timestamp}, {id} filled in."""
    values = {"body": body, "timestamp": _text(timestamp), "id": _text(message_id)}
    out = bytearray()
    for i, piece in enumerate(_signed_pieces(template)):
        out += piece.encode() if i % 2 == 0 else values[piece]
    return bytes(out)


def _text(value: str | None) -> bytes:
    return (value or "").encode("utf-8", "replace")


def signing_keys(secrets: Sequence[str], secret_format: str) -> list[bytes]:
    """Secrets as HMAC keys. `whsec_base64` is Standard Webhooks': base64 after the `whsec_` prefix."""
    keys: list[bytes] = []
    for secret in secrets:
        if not secret:
            continue
        if secret_format == "whsec_base64":
            try:
                keys.append(base64.b64decode(secret.removeprefix("whsec_"), validate=True))
            except ValueError:
                raise WebhookConfigError("a webhook secret is not 'whsec_' followed by base64") from None
        else:
            keys.append(secret.encode())
    if not keys:
        raise WebhookConfigError("no webhook secret is configured (every secret rendered empty)")
    return keys


def expected_signature(key: bytes, message: bytes, digest: str, encoding: str) -> bytes:
    """The HMAC as it is written in the header (hex or base64 text), as ASCII bytes."""
    mac = hmac.new(key, message, getattr(hashlib, digest)).digest()
    return mac.hex().encode() if encoding == "hex" else base64.b64encode(mac)


def matches(expected: bytes, candidates: Sequence[str]) -> bool:
    """Constant-time: does any candidate equal the expected signature?"""
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return found

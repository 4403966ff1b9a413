"""Verification schemes: one small class per `verify.scheme`, one registry, one entry point.

>>> verified = verify(spec.verify, secrets, request.headers, body, time.time())  # doctest: +SKIP

`verify` returns a `Verified` or raises `WebhookRejected(reason, status)`: 401 for a missing,
malformed or wrong signature or a stale timestamp, 400 for a signed but malformed delivery, 503
when keys cannot be fetched. Secrets are passed rendered (`spec.render_verify`), never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc import jwt
from joserfc.errors import JoseError

from ..templating import is_template
from .errors import WebhookConfigError, WebhookRejected
from .keys import DEFAULT_KEYS, KeyStore, check_cert_url
from .signatures import (
    MAX_SIGNATURES,
    expected_signature,
    header_parser,
    matches,
    signed_message,
    signing_keys,
)
from .spec import (
    NUMBERED,
    AnyVerify,
    ChannelTokenVerify,
    HmacVerify,
    JwtVerify,
    NoVerify,
    RsaCertVerify,
    WebhooksSpec,
)

Headers = Mapping[str, str]
SpecT = TypeVar("SpecT", bound=AnyVerify)
_DIGITS = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Verified:
    """An authentic delivery.

    `acknowledge_only`: answer 2xx and store nothing (a Google `sync` message). `event_id` and
    `event_type` are set when the scheme itself defines them (channel_token); otherwise they come
    from the spec's `event_id`/`event_type` (`identify`). `secret_index` says which secret matched.
    """

    scheme: str
    acknowledge_only: bool = False
    event_id: str | None = None
    event_type: str | None = None
    timestamp: int | None = None
    secret_index: int | None = None
    subject: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


def lower_headers(headers: Headers) -> dict[str, str]:
    """Header names are case-insensitive; every lookup here uses lower case."""
    return {str(k).lower(): v for k, v in headers.items()}


def check_timestamp(timestamp: int, now: float, tolerance: float) -> None:
    """Reject timestamps further than `tolerance` seconds from now, in the past or the future."""
    if abs(now - timestamp) > tolerance:
        raise WebhookRejected("stale timestamp")


class Scheme(ABC, Generic[SpecT]):
    """A verification scheme: built from its spec (rendered) and the key store."""

    name: ClassVar[str]

    def __init__(self, spec: SpecT, keys: KeyStore):
        self.spec = spec
        self.keys = keys

    @abstractmethod
    def verify(self, secrets: Sequence[str], headers: dict[str, str], body: bytes, now: float) -> Verified:
        """Return `Verified` or raise `WebhookRejected`. Header names are lower case."""


class HmacScheme(Scheme[HmacVerify]):
    """HMAC over the raw body, parameterised by the spec. As the providers document it:

    - Stripe: `Stripe-Signature: t=1492774577,v1=5257a869...,v1=<during rotation>`,
      HMAC-SHA256 hex of `{t}.{body}`; tolerance 300 s.
    - Slack: `X-Slack-Request-Timestamp: 1531420618`, `X-Slack-Signature: v0=a2114d57...`,
      HMAC-SHA256 hex of `v0:{timestamp}:{body}`.
    - Xero: `x-xero-signature: <base64>`, HMAC-SHA256 base64 of the body.
    - DocuSign Connect: `X-DocuSign-Signature-1: <base64>` (and -2, -3 ... one per key).
    - Notion: `X-Notion-Signature: sha256=<hex>`, key = the subscription's verification_token.
    - Meta (Instagram, WhatsApp): `X-Hub-Signature-256: sha256=<hex>` with the app secret.
    - TikTok: `TikTok-Signature: t=1633174587,s=<hex>` over `{t}.{body}`, key = client secret.
    - Standard Webhooks: `webhook-id: msg_2Kx...`, `webhook-timestamp: 1674087231`,
      `webhook-signature: v1,K5oZ... v1,3rtX...` base64 of `{id}.{timestamp}.{body}` with the
      base64 key of `whsec_<base64>`.
    """

    name = "hmac"

    def verify(self, secrets: Sequence[str], headers: dict[str, str], body: bytes, now: float) -> Verified:
        spec = self.spec
        keys = signing_keys(secrets, spec.secret_format)
        parse = header_parser(spec.format, spec.separator)
        candidates: list[str] = []
        timestamp: str | None = None
        for value in self._header_values(headers):
            parsed = parse(value)
            candidates += parsed.signatures
            timestamp = parsed.timestamp
        candidates = candidates[:MAX_SIGNATURES]
        if spec.encoding == "hex":
            candidates = [c.lower() for c in candidates]
        if spec.timestamp_header:
            timestamp = headers.get(spec.timestamp_header.lower())
        seconds: int | None = None
        if spec.has_timestamp:
            seconds = self._timestamp(timestamp)
            check_timestamp(seconds, now, spec.tolerance)
        message_id: str | None = None
        if spec.id_header:
            message_id = headers.get(spec.id_header.lower())
            if not message_id:
                raise WebhookRejected(f"missing {spec.id_header} header")
        message = signed_message(spec.signed, body, timestamp=timestamp, message_id=message_id)
        for index, key in enumerate(keys):
            if matches(expected_signature(key, message, spec.digest, spec.encoding), candidates):
                return Verified(self.name, timestamp=seconds, secret_index=index)
        raise WebhookRejected("signature does not match")

    def _header_values(self, headers: dict[str, str]) -> list[str]:
        name = self.spec.header.lower()
        if NUMBERED not in name:
            value = headers.get(name)
            if value is None:
                raise WebhookRejected(f"missing {self.spec.header} header")
            return [value]
        prefix, _, suffix = name.partition(NUMBERED)
        pattern = re.compile(re.escape(prefix) + r"([0-9]{1,3})" + re.escape(suffix))
        numbered = sorted((int(m[1]), v) for k, v in headers.items() if (m := pattern.fullmatch(k)))
        if not numbered:
            raise WebhookRejected(f"missing {self.spec.header.replace(NUMBERED, '1')} header")
        return [v for _, v in numbered]

    @staticmethod
    def _timestamp(value: str | None) -> int:
        if value is None:
            raise WebhookRejected("missing signature timestamp")
        if not _DIGITS.fullmatch(value.strip()):
            raise WebhookRejected("malformed signature timestamp")
        return int(value)


class JwtScheme(Scheme[JwtVerify]):
    """Google Cloud Pub/Sub push (Gmail): `Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6...`.

    An RS256 OIDC token: header `{"alg": "RS256", "kid": "...", "typ": "JWT"}`, claims
    `{"aud": "<audience>", "azp": "...", "email": "<service account>", "email_verified": true,
    "exp": ..., "iat": ..., "iss": "https://accounts.google.com", "sub": "..."}`.
    """

    name = "jwt"

    def verify(self, secrets: Sequence[str], headers: dict[str, str], body: bytes, now: float) -> Verified:
        spec = self.spec
        if not spec.audience or not spec.service_account:
            raise WebhookConfigError("jwt verification needs a rendered audience and service_account")
        token = self._bearer(headers.get("authorization"))
        kid = self._kid(token)
        key = self.keys.jwt_key(spec.certs_url, kid, ttl=spec.cache_ttl, now=now)
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"]).claims
        except (JoseError, ValueError, TypeError, KeyError, IndexError):
            raise WebhookRejected("token signature does not verify") from None
        if not isinstance(claims, dict):
            raise WebhookRejected("token claims are not an object")
        self._check_claims(claims, now)
        return Verified(
            self.name, subject=str(claims["email"]), attributes={"sub": str(claims.get("sub", ""))}
        )

    @staticmethod
    def _bearer(value: str | None) -> str:
        if value is None:
            raise WebhookRejected("missing Authorization header")
        kind, _, token = value.strip().partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or token.count(".") != 2 or len(token) > 16_384:
            raise WebhookRejected("Authorization is not a Bearer JWT")
        return token

    @staticmethod
    def _kid(token: str) -> str:
        segment = token.split(".", 1)[0]
        try:
            header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, binascii.Error):
            raise WebhookRejected("malformed token header") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            raise WebhookRejected("token is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise WebhookRejected("token header has no kid")
        return kid

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        spec, leeway = self.spec, self.spec.leeway
        if claims.get("iss") not in spec.issuers:
            raise WebhookRejected("token issuer is not accepted")
        aud = claims.get("aud")
        if not (aud == spec.audience or (isinstance(aud, list) and spec.audience in aud)):
            raise WebhookRejected("token audience does not match")
        email = claims.get("email")
        if not isinstance(email, str) or email.lower() != spec.service_account.lower():
            raise WebhookRejected("token is not from the configured service account")
        if claims.get("email_verified") not in (True, "true"):
            raise WebhookRejected("token email is not verified")
        exp, iat, nbf = (_number(claims.get(k)) for k in ("exp", "iat", "nbf"))
        if exp is None or iat is None:
            raise WebhookRejected("token lacks exp or iat")
        if exp <= now - leeway:
            raise WebhookRejected("token expired")
        if iat > now + leeway or (nbf is not None and nbf > now + leeway):
            raise WebhookRejected("token is not valid yet")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class RsaCertScheme(Scheme[RsaCertVerify]):
    """PayPal: SHA256withRSA, verified with the certificate at `PAYPAL-CERT-URL`.

    ```
    PAYPAL-TRANSMISSION-ID: 69cd13f0-d67a-11e5-baa3-778b53f4ae55
    PAYPAL-TRANSMISSION-TIME: 2016-02-18T20:01:35Z
    PAYPAL-TRANSMISSION-SIG: <base64>
    PAYPAL-CERT-URL: https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270
    PAYPAL-AUTH-ALGO: SHA256withRSA
    signed: {transmission_id}|{transmission_time}|{webhook_id}|{crc32(body) as unsigned decimal}
    ```
    """

    name = "rsa_cert"
    HEADERS: ClassVar[tuple[str, ...]] = (
        "paypal-transmission-id",
        "paypal-transmission-time",
        "paypal-transmission-sig",
        "paypal-cert-url",
        "paypal-auth-algo",
    )

    def verify(self, secrets: Sequence[str], headers: dict[str, str], body: bytes, now: float) -> Verified:
        spec = self.spec
        if not spec.webhook_id:
            raise WebhookConfigError("rsa_cert verification needs a rendered webhook_id")
        missing = [h.upper() for h in self.HEADERS if not headers.get(h)]
        if missing:
            raise WebhookRejected(f"missing {', '.join(missing)} header(s)")
        transmission_id, transmission_time, signature_b64, cert_url, algo = (headers[h] for h in self.HEADERS)
        if algo.strip() != "SHA256withRSA":
            raise WebhookRejected("PAYPAL-AUTH-ALGO is not SHA256withRSA")
        try:
            signature = base64.b64decode(signature_b64.strip(), validate=True)
        except (ValueError, binascii.Error):
            raise WebhookRejected("PAYPAL-TRANSMISSION-SIG is not base64") from None
        if spec.tolerance is not None:
            check_timestamp(self._seconds(transmission_time), now, spec.tolerance)
        check_cert_url(cert_url, spec.cert_hosts, allow_http_loopback=self.keys.allow_http_loopback)
        certificate = self.keys.certificate(cert_url, ttl=spec.cache_ttl, now=now)
        valid_from = certificate.not_valid_before_utc.timestamp()
        valid_to = certificate.not_valid_after_utc.timestamp()
        if not valid_from <= now <= valid_to:
            raise WebhookRejected("PayPal certificate is not currently valid")
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise WebhookRejected("PayPal certificate has no RSA key")
        crc = zlib.crc32(body) & 0xFFFFFFFF
        message = f"{transmission_id}|{transmission_time}|{spec.webhook_id}|{crc}".encode("utf-8", "replace")
        try:
            public_key.verify(signature, message, padding.PKCS1v15(), SHA256())
        except InvalidSignature:
            raise WebhookRejected("signature does not match") from None
        return Verified(self.name, attributes={"transmission_id": transmission_id})

    @staticmethod
    def _seconds(value: str) -> int:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise WebhookRejected("malformed PAYPAL-TRANSMISSION-TIME") from None
        if moment.tzinfo is None:
            raise WebhookRejected("PAYPAL-TRANSMISSION-TIME has no time zone")
        return int(moment.timestamp())


class ChannelTokenScheme(Scheme[ChannelTokenVerify]):
    """Google Calendar and Drive push notifications (the body is empty):

    ```
    X-Goog-Channel-ID: 01234567-89ab-cdef-0123456789ab
    X-Goog-Channel-Token: <the token given to watch>
    X-Goog-Channel-Expiration: Tue, 19 Nov 2013 01:13:52 GMT
    X-Goog-Resource-ID: ret08u3rv24htgh289g
    X-Goog-Resource-URI: https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json
    X-Goog-Resource-State: sync | exists | not_exists | add | update | remove | trash | change ...
    X-Goog-Message-Number: 10
    ```
    """

    name = "channel_token"
    ATTRIBUTES: ClassVar[dict[str, str]] = {
        "x-goog-channel-id": "channel_id",
        "x-goog-resource-id": "resource_id",
        "x-goog-resource-uri": "resource_uri",
        "x-goog-resource-state": "resource_state",
        "x-goog-message-number": "message_number",
        "x-goog-channel-expiration": "channel_expiration",
        "x-goog-changed": "changed",
    }

    def verify(self, secrets: Sequence[str], headers: dict[str, str], body: bytes, now: float) -> Verified:
        tokens = [s.encode() for s in secrets if s]
        if not tokens:
            raise WebhookConfigError("no channel token is configured (every token rendered empty)")
        sent = headers.get("x-goog-channel-token")
        if sent is None:
            raise WebhookRejected("missing X-Goog-Channel-Token header")
        sent_bytes = sent.encode("utf-8", "replace")
        index = next((i for i, t in enumerate(tokens) if hmac.compare_digest(t, sent_bytes)), None)
        if index is None:
            raise WebhookRejected("channel token does not match")
        attributes = {name: headers[h] for h, name in self.ATTRIBUTES.items() if h in headers}
        channel, state = attributes.get("channel_id"), attributes.get("resource_state")
        if not channel or not state:
            raise WebhookRejected("missing X-Goog-Channel-ID or X-Goog-Resource-State header", 400)
        if state in self.spec.acknowledge_states:
            return Verified(self.name, acknowledge_only=True, secret_index=index, attributes=attributes)
        number = attributes.get("message_number", "")
        if not _DIGITS.fullmatch(number):
            raise WebhookRejected("missing or malformed X-Goog-Message-Number header", 400)
        return Verified(
            self.name,
            event_id=f"{channel}:{number}",
            event_type=state,
            secret_index=index,
            attributes=attributes,
        )


class NoScheme(Scheme[NoVerify]):
    """No verification: every delivery is accepted as is."""

    name = "none"

    def verify(self, secrets: Sequence[str], headers: dict[str, str], body: bytes, now: float) -> Verified:
        return Verified(self.name)


SCHEMES: dict[str, type[Scheme[Any]]] = {
    cls.name: cls for cls in (HmacScheme, JwtScheme, RsaCertScheme, ChannelTokenScheme, NoScheme)
}


def verify(
    spec: WebhooksSpec | AnyVerify,
    secrets: Sequence[str],
    headers: Headers,
    body: bytes,
    now: float,
    *,
    keys: KeyStore | None = None,
) -> Verified:
    """Verify one delivery against a rendered spec (`render_verify`) and its rendered secrets.

    Raises `WebhookRejected` for a bad delivery and `WebhookConfigError` when the receiver has no
    usable secret or setting.
    """
    verify_spec = spec.verify if isinstance(spec, WebhooksSpec) else spec
    for name in verify_spec.settings:
        if is_template(getattr(verify_spec, name)):
            raise WebhookConfigError(
                f"verify.{name} is still a template: pass the spec through render_verify"
            )
    scheme = SCHEMES[verify_spec.scheme](verify_spec, keys or DEFAULT_KEYS)
    return scheme.verify(secrets, lower_headers(headers), body, now)

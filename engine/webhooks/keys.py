"""Public keys and certificates fetched for verification, cached per URL with a time to live.

One `KeyStore` per process (`DEFAULT_KEYS`); tests build their own with a `fetch` function or
point the URLs at a local server. Times are the caller's `now` (unix seconds), so caches are
testable without sleeping.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .errors import WebhookRejected

Fetch = Callable[[str], bytes]
MAX_DOCUMENT_BYTES = 1_000_000
MAX_URL = 2048
LOOPBACK_NAMES = frozenset({"localhost"})


class FetchError(Exception):
    """A key document could not be fetched (network, status, size)."""


def http_fetch(url: str, timeout: float = 5.0) -> bytes:
    """GET a small document; redirects are not followed (they could leave the allow-list)."""
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise FetchError(f"status {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_DOCUMENT_BYTES:
                    raise FetchError("document too large")
            return bytes(data)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(type(exc).__name__) from None


def parse_keys(document: bytes) -> dict[str, RSAKey]:
    """RSA keys by kid, from Google's v1 certs `{kid: PEM certificate}` or a JWKS `{"keys": [...]}`.

    Entries that are not RSA keys, or do not parse, are skipped.
    """
    try:
        doc = json.loads(document)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    entries: list[tuple[Any, Any]]
    if isinstance(doc.get("keys"), list):
        entries = [(k.get("kid"), k) for k in doc["keys"] if isinstance(k, dict) and k.get("kty") == "RSA"]
    else:
        entries = list(doc.items())
    keys: dict[str, RSAKey] = {}
    for kid, value in entries:
        if not isinstance(kid, str) or not isinstance(value, str | dict):
            continue
        try:
            keys[kid] = RSAKey.import_key(value)
        except (JoseError, ValueError, TypeError, KeyError):
            continue
    return keys


def check_cert_url(url: str, hosts: Sequence[str], *, allow_http_loopback: bool = False) -> None:
    """Reject a certificate URL unless it is https on an allowed host (or http on loopback, if allowed)."""
    if len(url) > MAX_URL or not all("!" <= ch <= "~" for ch in url):
        raise WebhookRejected("malformed certificate URL")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise WebhookRejected("malformed certificate URL") from None
    if parts.username is not None or parts.password is not None or host not in {h.lower() for h in hosts}:
        raise WebhookRejected("certificate URL host is not allowed")
    if parts.scheme == "https" and port in (None, 443):
        return
    if parts.scheme in ("http", "https") and allow_http_loopback and _is_loopback(host):
        return
    raise WebhookRejected("certificate URL must be https")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Entry:
    value: Any
    fetched_at: float
    expires_at: float


class KeyStore:
    """Fetches and caches signing keys (JWT) and certificates (PayPal) per URL.

    `refetch_interval`: an unknown kid refetches the keys at most this often, so random kids
    cannot make the receiver hammer the key server. `allow_http_loopback`: plain http to
    127.0.0.1/localhost for tests and the sandbox; never in production.
    """

    def __init__(
        self,
        fetch: Fetch | None = None,
        *,
        allow_http_loopback: bool = False,
        refetch_interval: float = 10.0,
    ):
        self._fetch = fetch or http_fetch
        self.allow_http_loopback = allow_http_loopback
        self.refetch_interval = refetch_interval
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyStore({len(self._entries)} cached)"

    def _load(self, kind: str, url: str, ttl: float, now: float, parse: Callable[[bytes], Any]) -> _Entry:
        """Fetch and parse; on failure keep serving an earlier copy, if any."""
        try:
            value = parse(self._fetch(url))
        except FetchError:
            stale = self._entries.get((kind, url))
            if stale is not None:
                return stale
            raise WebhookRejected("verification keys are unavailable; retry later", 503) from None
        entry = _Entry(value, now, now + ttl)
        if value is not None:  # an unusable document is not cached: the next delivery tries again
            self._entries[(kind, url)] = entry
        return entry

    def jwt_key(self, url: str, kid: str, *, ttl: float, now: float) -> RSAKey:
        """The RSA key `kid` from the keys at `url`; an unknown kid refetches once."""
        with self._lock:
            entry = self._entries.get(("jwt", url))
            if entry is None or now >= entry.expires_at:
                entry = self._load("jwt", url, ttl, now, parse_keys)
            key = entry.value.get(kid)
            if key is None and now - entry.fetched_at >= self.refetch_interval:
                entry = self._load("jwt", url, ttl, now, parse_keys)
                key = entry.value.get(kid)
        if key is None:
            raise WebhookRejected("token signed with an unknown key")
        return key

    def certificate(self, url: str, *, ttl: float, now: float) -> x509.Certificate:
        """The first certificate of the PEM document at `url` (check the URL first)."""
        with self._lock:
            entry = self._entries.get(("cert", url))
            if entry is None or now >= entry.expires_at:
                entry = self._load("cert", url, ttl, now, _parse_certificate)
        if entry.value is None:
            raise WebhookRejected("certificate at PAYPAL-CERT-URL is unusable")
        return entry.value


def _parse_certificate(document: bytes) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificates(document)[0]
    except (ValueError, IndexError):
        return None


DEFAULT_KEYS = KeyStore()

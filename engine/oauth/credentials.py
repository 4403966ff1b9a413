"""The client credentials grant on the sync path (PayPal): the app's own token, cached.

    auth = ClientCredentialsAuthenticator(spec, "paypal", env=os.environ)
    auth.headers()   # {"Authorization": "Bearer A21AA..."}: fetched once, reused until near expiry

Tokens are cached per client (connector, token URL, client id, scopes) in this process and
reused until `refresh_buffer_seconds` before they expire; a 401 replaces the token once. A
refused grant (wrong secret) stops this authenticator: every later call raises at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import httpx

from ..errors import AuthError
from .client import OAuthClient, UrlRewrite
from .errors import TokenRequestError
from .spec import OAuth2ClientCredentials
from .tokens import TokenSet

CacheKey = tuple[object, ...]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TokenCache:
    """Client credentials tokens by client. `lock` is held while a token is fetched, so
    authenticators sharing the cache fetch once between them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._tokens: dict[CacheKey, TokenSet] = {}

    def get(self, key: CacheKey) -> TokenSet | None:
        with self.lock:
            return self._tokens.get(key)

    def put(self, key: CacheKey, token: TokenSet) -> None:
        with self.lock:
            self._tokens[key] = token

    def drop(self, key: CacheKey) -> None:
        with self.lock:
            self._tokens.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self._tokens.clear()

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"


SHARED_CACHE = TokenCache()


class ClientCredentialsAuthenticator:
    """An engine Authenticator holding the app's own token. Thread-safe; `close()` when done."""

    def __init__(
        self,
        spec: OAuth2ClientCredentials,
        connector: str,
        *,
        env: Mapping[str, str],
        config: Mapping[str, object] | None = None,
        rewrite: UrlRewrite | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
        cache: TokenCache | None = None,
    ):
        self.spec = spec
        self.connector = connector
        self.clock = clock
        self._client = OAuthClient(
            spec, connector, env=env, config=config, rewrite=rewrite, transport=transport, clock=clock
        )
        self._cache = cache if cache is not None else SHARED_CACHE
        self._key: CacheKey = (
            connector,
            self._client.token_endpoint.url,
            self._client.client_id,
            tuple(spec.scopes),
        )
        self._handed_out = threading.local()  # the token this thread's last request carried
        self._seen: list[str] = [*self._client.secrets()]
        self._failure: AuthError | None = None

    def __repr__(self) -> str:
        return f"ClientCredentialsAuthenticator({self.connector!r}, token=***)"

    def headers(self) -> dict[str, str]:
        token = self._token()
        self._handed_out.token = token.access_token
        return {"Authorization": f"Bearer {token.access_token}"}

    def params(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        with self._cache.lock:
            return list(self._seen)

    def refresh(self) -> bool:
        """A 401: replace the token once (unless another thread already did)."""
        with self._cache.lock:
            cached = self._cache.get(self._key)
            used = getattr(self._handed_out, "token", None)
            if (
                self._failure is None
                and cached is not None
                and used is not None
                and cached.access_token != used
            ):
                return True
            self._cache.drop(self._key)
            self._token()
            return True

    def close(self) -> None:
        self._client.close()

    def _token(self) -> TokenSet:
        with self._cache.lock:
            if self._failure is not None:
                raise self._failure
            token = self._cache.get(self._key)
            if token is None or token.expiring(self.clock(), self.spec.refresh_buffer_seconds):
                try:
                    token = self._client.token_endpoint.client_credentials()
                except TokenRequestError as exc:
                    self._failure = AuthError(
                        f"{self.connector}: getting a client credentials token failed: {exc}"
                    )
                    raise self._failure from None
                self._cache.put(self._key, token)
            self._seen.extend(s for s in token.secrets() if s not in self._seen)
            return token

"""The HTTP layer: one pooled keep-alive client per run, retries, rate limit, error classes.

The one seam for tests and the sandbox is `transport` (an `httpx.BaseTransport`, e.g.
`httpx.MockTransport`); the sandbox itself is a real server reached over loopback.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from .auth import Authenticator, StaticAuth
from .errors import AuthError, ClientError, HttpError, RateLimitError, ResponseError, ServerError
from .ratelimit import RateLimiter
from .redact import Redactor
from .spec.models import HttpPolicy

EXCERPT = 200
MAX_RETRY_AFTER = 300.0


@dataclass
class PreparedRequest:
    """A fully rendered request (templates already applied)."""

    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    content: bytes | None = None  # a body already encoded (form, raw); its Content-Type in headers


@dataclass
class HttpStats:
    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, *, retry: bool) -> None:
        with self._lock:
            self.requests += 1
            self.retries += int(retry)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class HttpClient:
    """Sends PreparedRequests with auth, rate limit, concurrency bound and retries."""

    def __init__(
        self,
        policy: HttpPolicy,
        *,
        auth: Authenticator | None = None,
        redactor: Redactor | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.policy = policy
        self.auth = auth or StaticAuth()
        self.redact = redactor or Redactor()
        self.redact.add(self.auth.secrets())
        self.stats = HttpStats()
        self._sleep = sleep
        self._limiter = RateLimiter(policy.rate_limit, sleep=sleep)
        self._slots = threading.BoundedSemaphore(policy.concurrency)
        pool = policy.concurrency + 2
        self._client = httpx.Client(
            transport=transport,
            timeout=policy.timeout,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            follow_redirects=True,
            headers={"User-Agent": "manifold/0.1", "Accept": "application/json"},
        )
        retry_on = policy.retry.statuses
        self._retry_5xx = "5xx" in retry_on
        self._retry_statuses = {s for s in retry_on if isinstance(s, int)}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retryable(self, status: int) -> bool:
        return status in self._retry_statuses or (self._retry_5xx and 500 <= status < 600)

    def _backoff(self, attempt: int) -> float:
        retry = self.policy.retry
        return random.uniform(0, min(retry.max_backoff, retry.backoff * (2**attempt)))

    def _build(self, request: PreparedRequest) -> httpx.Request:
        headers = {**request.headers, **self.auth.headers()}
        auth_params = self.auth.params()
        params = {**request.params, **auth_params} if auth_params else request.params
        return self._client.build_request(
            request.method,
            request.url,
            params=params or None,
            headers=headers,
            content=orjson.dumps(request.json) if request.json is not None else request.content,
        )

    def send(
        self, request: PreparedRequest, *, ok_statuses: frozenset[int] = frozenset(), idempotent: bool = True
    ) -> httpx.Response:
        """Send with retries; returns a 2xx response (or one in ok_statuses), else raises HttpError.

        `idempotent=False` (a create without an idempotency key): only what cannot have been
        processed is retried, a refused connection and 429; a timeout or a 5xx may have created.
        """
        attempts = self.policy.retry.max_attempts
        refreshed = False
        attempt = 0
        while True:
            built = self._build(request)
            if request.json is not None:
                built.headers["Content-Type"] = "application/json"
            self._limiter.acquire()
            self.stats.count(retry=attempt > 0)
            try:
                with self._slots:
                    response = self._client.send(built)
                    response.read()
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                attempt += 1
                if attempt >= attempts or (not idempotent and not isinstance(exc, httpx.ConnectError)):
                    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                    raise ServerError(
                        f"{request.method} {self.redact(str(built.url))} {kind} after {attempt} attempt(s): "
                        f"{type(exc).__name__}",
                        url=self.redact(str(built.url)),
                    ) from None
                self._sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status < 300 or status in ok_statuses:
                return response
            if status == 401 and not refreshed and self.auth.refresh():
                refreshed = True
                self.redact.add(self.auth.secrets())  # the new token is a secret too
                continue
            attempt += 1
            if (self._retryable(status) if idempotent else status == 429) and attempt < attempts:
                wait = _retry_after(response)
                self._sleep(min(wait, MAX_RETRY_AFTER) if wait is not None else self._backoff(attempt))
                continue
            raise self._error(response, attempts=attempt)

    def _error(self, response: httpx.Response, *, attempts: int) -> HttpError:
        status = response.status_code
        url = self.redact(str(response.request.url))
        excerpt = self.redact(response.text)[:EXCERPT].replace("\n", " ").strip()  # redact, then cut
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        base = f"{response.request.method} {url} answered {status}{tried}"
        if status in (401, 403):
            return AuthError(
                f"{base}: the credentials were refused; check the token/key and its scopes. Body: {excerpt}",
                status=status,
                url=url,
                excerpt=excerpt,
            )
        if status == 429:
            return RateLimitError(
                f"{base}: rate limited; lower http.rate_limit or retry later. Body: {excerpt}",
                status=status,
                url=url,
                excerpt=excerpt,
            )
        if status >= 500:
            return ServerError(
                f"{base}: the provider failed. Body: {excerpt}", status=status, url=url, excerpt=excerpt
            )
        return ClientError(
            f"{base}: the request was rejected. Body: {excerpt}", status=status, url=url, excerpt=excerpt
        )

    def json(self, response: httpx.Response) -> Any:
        """Parse a JSON body, with an error that says what came back instead."""
        content = response.content
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            kind = response.headers.get("Content-Type", "unknown type").split(";")[0]
            excerpt = self.redact(content.decode("utf-8", "replace"))[:120].replace("\n", " ")
            if "json" in kind and content[:1] in (b"{", b"["):
                what = f"truncated or malformed JSON ({len(content)} bytes, {exc.msg} at char {exc.pos})"
            else:
                what = f"not JSON but {kind} ({len(content)} bytes): {excerpt!r}"
            raise ResponseError(f"response is {what}") from None

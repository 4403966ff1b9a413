"""One connector's OAuth client (the RFC's "client": our app) as this process runs it.

It renders the spec's templates once (client id and secret from `env`, URLs), owns the
HTTP client used for the token endpoint and post-connect requests, and rewrites provider
URLs when a run goes to the sandbox instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ..redact import redact_url
from ..templating import CompiledTemplate, render_value
from .spec import OAuth2AuthCode, OAuth2ClientCredentials
from .tokens import TokenEndpoint

UrlKind = Literal["authorize", "token", "api"]
UrlRewrite = Callable[[str, UrlKind], str]
TIMEOUT = 20.0  # seconds; a refresh holds the connection's lock while it waits


class RedactLoggedUrls(logging.Filter):
    """httpx logs each request's URL at INFO; Meta's token exchange carries tokens in its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _redact_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactLoggedUrls) for f in logger.filters):
        logger.addFilter(RedactLoggedUrls())


_redact_httpx_logs()


def sandbox_rewrite(sandbox_url: str, connector: str) -> UrlRewrite:
    """Provider URLs -> the sandbox's: the authorize and token endpoints to its OAuth server,
    API URLs (post-connect steps) to the connector's routes with the same path and query.

    >>> sandbox_rewrite("http://127.0.0.1:8765", "xero")("https://api.xero.com/connections", "api")
    'http://127.0.0.1:8765/xero/connections'
    """
    base = f"{sandbox_url.rstrip('/')}/{connector}"

    def rewrite(url: str, kind: UrlKind) -> str:
        if kind == "authorize":
            return base + "/oauth/authorize"
        if kind == "token":
            return base + "/oauth/token"
        split = urlsplit(url)
        return base + split.path + (f"?{split.query}" if split.query else "")

    return rewrite


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OAuthClient:
    """Templates rendered with `env`/`secrets`, `config` and `connection`; use as a context manager."""

    def __init__(
        self,
        spec: OAuth2AuthCode | OAuth2ClientCredentials,
        connector: str,
        *,
        env: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
        connection_id: str = "",
        rewrite: UrlRewrite | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = TIMEOUT,
        clock: Callable[[], datetime] = _utc_now,
    ):
        self.spec = spec
        self.connector = connector
        self.rewrite = rewrite
        self.clock = clock
        self.context: dict[str, Any] = {
            "env": dict(env),
            "secrets": dict(env),
            "config": dict(config or {}),
            "connection": {"id": connection_id},
        }
        self._templates: dict[str, CompiledTemplate] = {}
        self.client_id = str(self.render(spec.client_id))
        self._secret = str(self.render(spec.client_secret))
        self.http = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": "manifold/0.1"},
        )
        self._endpoint: TokenEndpoint | None = None

    def __repr__(self) -> str:
        return f"OAuthClient({self.connector!r}, client_id={self.client_id!r}, client_secret=***)"

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Render templates in a string or a JSON-like value."""
        context = {**self.context, **extra} if extra else self.context
        return render_value(value, self._templates, context)

    def url(self, template: str, kind: UrlKind, extra: Mapping[str, Any] | None = None) -> str:
        url = str(self.render(template, extra))
        return self.rewrite(url, kind) if self.rewrite else url

    @property
    def token_endpoint(self) -> TokenEndpoint:
        if self._endpoint is None:
            self._endpoint = TokenEndpoint(
                self.connector,
                self.spec,
                self.url(self.spec.token_url, "token"),
                self.client_id,
                self._secret,
                http=self.http,
                extra_params={k: str(v) for k, v in self.render(self.spec.extra_token_params).items()},
                clock=self.clock,
            )
        return self._endpoint

    def secrets(self) -> list[str]:
        return [self._secret] if self._secret else []

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> OAuthClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

"""Auth kinds behind one interface. OAuth2 plugs in here as another kind.

An authenticator is built once per connection run from the spec and the template
context; it adds headers or query params to each request and, for kinds that can,
refreshes itself when the provider answers 401.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .spec.models import ApiKeyAuth, AuthSpec, BasicAuth, BearerAuth, NoAuth
from .templating import compile_template


class Authenticator(Protocol):
    def headers(self) -> dict[str, str]: ...
    def params(self) -> dict[str, str]: ...
    def secrets(self) -> list[str]:
        """Values to redact from every log line, error and excerpt."""
        ...

    def refresh(self) -> bool:
        """Called on 401: True when new credentials are ready and the request may be retried."""
        ...


@dataclass
class StaticAuth:
    """Credentials that do not change during a run (none, API key, bearer, basic)."""

    header_values: dict[str, str] = field(default_factory=dict)
    param_values: dict[str, str] = field(default_factory=dict)
    secret_values: list[str] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        return self.header_values

    def params(self) -> dict[str, str]:
        return self.param_values

    def secrets(self) -> list[str]:
        return self.secret_values

    def refresh(self) -> bool:
        return False

    def __repr__(self) -> str:  # never show credentials
        return f"StaticAuth(headers={sorted(self.header_values)}, params={sorted(self.param_values)})"


def _render(source: str, context: Mapping[str, Any]) -> str:
    return compile_template(source).render(context)


def _none(spec: NoAuth, context: Mapping[str, Any]) -> StaticAuth:
    return StaticAuth()


def _api_key(spec: ApiKeyAuth, context: Mapping[str, Any]) -> StaticAuth:
    key = _render(spec.key, context)
    value = spec.prefix + key
    if spec.query:
        return StaticAuth(param_values={spec.query: value}, secret_values=[key])
    return StaticAuth(header_values={spec.header or "X-API-Key": value}, secret_values=[key])


def _bearer(spec: BearerAuth, context: Mapping[str, Any]) -> StaticAuth:
    token = _render(spec.token, context)
    return StaticAuth(header_values={"Authorization": f"Bearer {token}"}, secret_values=[token])


def _basic(spec: BasicAuth, context: Mapping[str, Any]) -> StaticAuth:
    user, password = _render(spec.username, context), _render(spec.password, context)
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return StaticAuth(header_values={"Authorization": f"Basic {encoded}"}, secret_values=[password, encoded])


AUTH_KINDS: dict[str, Callable[[Any, Mapping[str, Any]], Authenticator]] = {
    "none": _none,
    "api_key": _api_key,
    "bearer": _bearer,
    "basic": _basic,
}


def build_auth(spec: AuthSpec, context: Mapping[str, Any]) -> Authenticator:
    return AUTH_KINDS[spec.type](spec, context)

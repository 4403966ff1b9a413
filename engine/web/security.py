"""Who may call what: the admin token (diagnostics, /admin, connect) and the API token (read API,
sync requests, actions). Tokens are compared in constant time; none configured means no access."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from .service import Service

ADMIN_COOKIE = "manifold_admin"


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def token_matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _refuse(what: str, env_var: str, configured: bool) -> HTTPException:
    detail = (
        f"{what} needs 'Authorization: Bearer <{env_var}>'"
        if configured
        else f"{what} is closed: set {env_var} on the server to open it"
    )
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def require_admin(request: Request) -> None:
    """The admin token, as a bearer header or the `manifold_admin` cookie (set by /admin?token=)."""
    expected = service_of(request).settings.admin_token
    if token_matches(bearer(request), expected) or token_matches(request.cookies.get(ADMIN_COOKIE), expected):
        return
    raise _refuse("this endpoint", "MANIFOLD_ADMIN_TOKEN", expected is not None)


def require_api(request: Request) -> None:
    """The API token (the platform's backend); the admin token is accepted too."""
    settings = service_of(request).settings
    given = bearer(request)
    if token_matches(given, settings.api_token) or token_matches(given, settings.admin_token):
        return
    raise _refuse("the API", "MANIFOLD_API_TOKEN", settings.api_token is not None)


def require_operator(request: Request) -> None:
    """Starting a connect: a person on /admin (cookie) or the platform's backend (bearer)."""
    settings = service_of(request).settings
    given = bearer(request)
    cookie = request.cookies.get(ADMIN_COOKIE)
    if (
        token_matches(given, settings.api_token)
        or token_matches(given, settings.admin_token)
        or token_matches(cookie, settings.admin_token)
    ):
        return
    raise _refuse("starting a connect", "MANIFOLD_ADMIN_TOKEN", settings.admin_token is not None)

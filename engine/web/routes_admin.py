"""Diagnostics for operators: `GET /api/admin/diagnostics/integrations` (JSON) and `GET /admin` (HTML).

Both take the admin token. A person opens `/admin?token=<MANIFOLD_ADMIN_TOKEN>` once: the token
moves into an HttpOnly, SameSite=Strict `manifold_admin` cookie and the browser is sent on to
`/admin`, so the token leaves the address bar. What is shown comes from `engine.diagnostics`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from ..diagnostics import IntegrationsDiagnostics, integrations
from .pages import page
from .security import ADMIN_COOKIE, require_admin, service_of, token_matches

router = APIRouter(tags=["admin"])
COOKIE_MAX_AGE = 12 * 3600  # seconds: a working day, then the token is asked for again


@router.get(
    "/api/admin/diagnostics/integrations",
    dependencies=[Depends(require_admin)],
    summary="Every connector's health and its connections' (no credentials, no secret values)",
)
def diagnostics(request: Request, response: Response) -> IntegrationsDiagnostics:
    response.headers["Cache-Control"] = "no-store"
    return integrations(service_of(request), now=datetime.now(UTC))


@router.get("/admin", response_class=HTMLResponse, summary="The diagnostics as a page for people")
def admin_page(
    request: Request,
    token: Annotated[str | None, Query(description="The admin token, once: it becomes a cookie")] = None,
) -> Response:
    service = service_of(request)
    expected = service.settings.admin_token
    if token is not None:
        if not token_matches(token, expected):
            return _denied("That token is not this service's admin token.", configured=expected is not None)
        return _sign_in(token, secure=service.settings.public_url.startswith("https://"))
    try:
        require_admin(request)
    except HTTPException:
        return _denied("Sign in with the admin token.", configured=expected is not None)
    report = integrations(service, now=datetime.now(UTC))
    return page("admin.html", report=report, reconnect_url=reconnect_url)


def reconnect_url(connector: str, connection_id: str) -> str:
    """The authorize route for a stored connection (it accepts the admin cookie)."""
    return f"/oauth/{quote(connector, safe='')}/authorize?{urlencode({'connection_id': connection_id})}"


def _sign_in(token: str, *, secure: bool) -> RedirectResponse:
    answer = RedirectResponse(
        "/admin", 303, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )
    answer.set_cookie(
        ADMIN_COOKIE,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return answer


def _denied(message: str, *, configured: bool) -> HTMLResponse:
    if not configured:
        message = "The admin page is closed: set MANIFOLD_ADMIN_TOKEN on the server to open it."
    answer = page("admin.html", 401, denied=message, configured=configured)
    answer.headers["WWW-Authenticate"] = "Bearer"
    return answer

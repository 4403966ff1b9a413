"""Connecting an account from a browser: `/oauth/{connector}/authorize` -> provider -> `/callback`.

The redirect URI is always `{public_url}/oauth/{connector}/callback`: the caller cannot choose
where the provider sends the code (no open redirect), and `state` is bound to it.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from ..errors import REFERENCE, ManifoldError
from ..oauth import OAuth2AuthCode, OAuthError, OAuthStateError, authorize_url, complete
from ..spec.loader import LoadedConnector
from .pages import page
from .security import require_api, require_operator, service_of
from .service import Service

router = APIRouter(tags=["connections"])
CONNECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}")


def _oauth_connector(service: Service, connector: str) -> tuple[LoadedConnector, OAuth2AuthCode]:
    loaded = service.connectors.get(connector)
    if loaded is None:
        raise HTTPException(404, f"unknown connector '{connector}'")
    auth = loaded.spec.auth
    if not isinstance(auth, OAuth2AuthCode):
        raise HTTPException(
            404,
            f"{connector} does not connect with OAuth (auth type {auth.type}; see {REFERENCE}#oauth2authcode)",
        )
    return loaded, auth


def callback_url(service: Service, connector: str) -> str:
    return f"{service.settings.public_url}/oauth/{connector}/callback"


def _authorize_url(service: Service, connector: str, connection_id: str, owner_id: str | None) -> str:
    loaded, auth = _oauth_connector(service, connector)
    if not service.enabled(connector):
        raise HTTPException(403, service.disabled_message(connector))
    if not CONNECTION_ID.fullmatch(connection_id) or (owner_id is not None and len(owner_id) > 128):
        raise HTTPException(
            400, "connection_id: 1-128 letters, digits and _ . @ : -, starting with a letter or digit"
        )
    try:
        return authorize_url(
            auth,
            connector,
            connection_id,
            callback_url(service, connector),
            states=service.states,
            env=service.env(connector),
            owner_id=owner_id,
            rewrite=service.oauth_rewrite(connector),
        )
    except ManifoldError as exc:  # a missing client id, an unrenderable template
        raise HTTPException(503, f"{connector} cannot start a connect: {exc}") from None


@router.get(
    "/oauth/{connector}/authorize",
    dependencies=[Depends(require_operator)],
    response_class=RedirectResponse,
    status_code=302,
    summary="Start connecting an account (redirects to the provider)",
)
def authorize(
    connector: str,
    request: Request,
    connection_id: Annotated[str, Query(description="The connection to make, e.g. the user's id")],
    owner_id: Annotated[str | None, Query(description="The platform user who owns it")] = None,
) -> RedirectResponse:
    url = _authorize_url(service_of(request), connector, connection_id, owner_id)
    return RedirectResponse(url, 302, headers={"Cache-Control": "no-store"})


class ConnectRequest(BaseModel):
    connection_id: str
    owner_id: str | None = None


class ConnectLink(BaseModel):
    authorize_url: str
    redirect_uri: str


@router.post(
    "/api/connect/{connector}",
    dependencies=[Depends(require_api)],
    summary="The authorize URL to send a user's browser to (for the platform's backend)",
)
def connect_link(connector: str, body: ConnectRequest, request: Request) -> ConnectLink:
    service = service_of(request)
    url = _authorize_url(service, connector, body.connection_id, body.owner_id)
    return ConnectLink(authorize_url=url, redirect_uri=callback_url(service, connector))


@router.get(
    "/oauth/{connector}/callback",
    response_class=HTMLResponse,
    summary="Where the provider sends the browser back: exchange, store, post-connect steps",
)
def callback(
    connector: str,
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> HTMLResponse:
    service = service_of(request)
    loaded, auth = _oauth_connector(service, connector)
    title = loaded.spec.title
    if not state:
        return _failed(title, "The provider's answer carried no state.", status=400)
    try:
        record = complete(
            auth,
            connector,
            code,
            state,
            states=service.states,
            store=service.connections,
            env=service.env(connector),
            error=error,
            error_description=error_description,
            redirect_uri=callback_url(service, connector),
            rewrite=service.oauth_rewrite(connector),
        )
    except OAuthStateError as exc:
        return _failed(title, str(exc), status=400)
    except OAuthError as exc:
        return _failed(
            title, str(exc), status=400, hint="It is recorded on the connection; try connecting again."
        )
    except ManifoldError as exc:
        return _failed(title, f"{connector}: {exc}", status=502)
    account = record.account.get("email") or record.account.get("name") or record.account_id
    return page(
        "oauth_result.html",
        ok=True,
        title=f"{title} connected",
        connector_title=title,
        account=account,
        connection_id=record.id,
    )


def _failed(
    title: str, message: str, *, status: int, hint: str = "Start the connection again."
) -> HTMLResponse:
    return page(
        "oauth_result.html", status, ok=False, title=f"{title}: not connected", message=message, hint=hint
    )

"""Connections the platform manages directly: supplied secrets (Slack's webhook URL), disconnect."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..connect import store_secrets
from ..errors import ManifoldError
from .routes_oauth import CONNECTION_ID
from .security import require_api, service_of

router = APIRouter(tags=["connections"], dependencies=[Depends(require_api)])


class SuppliedSecrets(BaseModel):
    secrets: dict[str, str] = Field(
        description="The connector's `connection_secrets`, e.g. incoming_webhook_url"
    )
    owner_id: str | None = Field(None, max_length=128, description="The platform user who owns it")


class ConnectionState(BaseModel):
    connector: str
    id: str
    connected: bool


@router.put(
    "/api/connections/{connector}/{connection_id}",
    summary="Connect with secrets the user supplies (stored encrypted, never returned)",
)
async def put_secrets(
    connector: str, connection_id: str, body: SuppliedSecrets, request: Request
) -> ConnectionState:
    service = service_of(request)
    loaded = service.connectors.get(connector)
    if loaded is None:
        raise HTTPException(404, f"unknown connector '{connector}'")
    if not loaded.spec.connection_secrets:
        raise HTTPException(
            404, f"{connector} takes no connection secrets (auth type {loaded.spec.auth.type})"
        )
    if not service.enabled(connector):
        raise HTTPException(403, service.disabled_message(connector))
    if not CONNECTION_ID.fullmatch(connection_id):
        raise HTTPException(400, "connection_id: 1-128 letters, digits and _ . @ : -")
    try:
        save = functools.partial(store_secrets, store=service.connections, owner_id=body.owner_id)
        record = await run_in_threadpool(save, loaded, connection_id, body.secrets)
    except ManifoldError as exc:
        raise HTTPException(400, str(exc)) from None
    return ConnectionState(connector=record.connector, id=record.id, connected=record.connected)


@router.delete("/api/connections/{connector}/{connection_id}", summary="Disconnect: forget the credentials")
async def disconnect(connector: str, connection_id: str, request: Request) -> ConnectionState:
    service = service_of(request)
    if connector not in service.connectors:
        raise HTTPException(404, f"unknown connector '{connector}'")
    done = await run_in_threadpool(service.connections.disconnect, connector, connection_id)
    if not done:
        raise HTTPException(404, f"{connector} has no connection '{connection_id}'")
    return ConnectionState(connector=connector, id=connection_id, connected=False)

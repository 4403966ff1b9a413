"""The platform's "sync now" buttons: queue a sync request, then follow it.

The Dagster sensor turns queued requests into runs (one pending request per connector,
connection and streams); this service never writes the warehouse itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from .security import require_api, service_of

router = APIRouter(tags=["sync"], dependencies=[Depends(require_api)])


class SyncNow(BaseModel):
    connection_id: str | None = Field(None, description="Sync one connection (default: every connection)")
    streams: list[str] = Field(default_factory=list, description="Only these streams (default: all)")


@router.post("/api/sync/{connector}", status_code=202, summary="Queue a sync; answers its request id")
async def sync_now(connector: str, request: Request, body: SyncNow | None = None) -> JSONResponse:
    service = service_of(request)
    wanted = body or SyncNow()
    loaded = service.connectors.get(connector)
    if loaded is None:
        raise HTTPException(404, f"unknown connector '{connector}'")
    if not service.enabled(connector):
        raise HTTPException(403, service.disabled_message(connector))
    unknown = sorted(set(wanted.streams) - set(loaded.spec.streams))
    if unknown:
        known = ", ".join(sorted(loaded.spec.streams))
        raise HTTPException(400, f"{connector} has no stream(s) {', '.join(unknown)}; known: {known}")
    if wanted.connection_id is not None:
        record = await run_in_threadpool(service.connections.get, connector, wanted.connection_id)
        if record is None and loaded.spec.auth.type == "oauth2":
            raise HTTPException(404, f"{connector} has no connection '{wanted.connection_id}'")
    queued = await run_in_threadpool(
        service.sync_requests.queue, connector, wanted.connection_id, wanted.streams, source="api"
    )
    return JSONResponse(queued.public(), 202, headers={"Location": f"/api/sync/{queued.id}"})


@router.get("/api/sync/{request_id}", summary="A sync request's state: queued, running, succeeded, failed")
async def sync_status(request_id: str, request: Request) -> dict[str, Any]:
    found = await run_in_threadpool(service_of(request).sync_requests.get, request_id)
    if found is None:
        raise HTTPException(404, f"no sync request '{request_id}'")
    return found.public()

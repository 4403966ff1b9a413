"""`POST /api/actions/{connector}/{action}`: the platform runs a write-back action.

Answers 200 with the provider's result; 422 when the input does not match the action's schema
(nothing was sent); 502 when the provider refused or failed, with its status, code and message;
429 when it kept rate-limiting. A result that lands in a model is queued for the drain.
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..actions.perform import perform
from ..actions.run import ActionError
from ..errors import ManifoldError
from .security import require_api, service_of

router = APIRouter(tags=["actions"], dependencies=[Depends(require_api)])
_STATUS = {"validation": 422, "template": 422, "unknown_action": 404, "rate_limit": 429}


class ActionCall(BaseModel):
    connection_id: str = Field("default", description="The connection to act for")
    input: dict[str, Any] = Field(default_factory=dict, description="The action's input (its JSON Schema)")
    idempotency_key: str | None = Field(
        None, max_length=255, description="Your own request id; default: derived from the input"
    )


@router.post("/api/actions/{connector}/{action}", summary="Run an outbound action")
async def run(connector: str, action: str, call: ActionCall, request: Request) -> JSONResponse:
    service = service_of(request)
    loaded = service.connectors.get(connector)
    if loaded is None:
        raise HTTPException(404, f"unknown connector '{connector}'")
    if not service.enabled(connector):
        raise HTTPException(403, service.disabled_message(connector))
    job = functools.partial(
        perform,
        loaded,
        action,
        call.input,
        connection_id=call.connection_id,
        sandbox_url=service.settings.sandbox_url,
        control_url=service.settings.control_url,
        idempotency_key=call.idempotency_key,
    )
    try:
        outcome = await run_in_threadpool(job)
    except ActionError as exc:
        return JSONResponse(exc.public(), _STATUS.get(exc.kind, 502))
    except ManifoldError as exc:  # no such connection, missing env: the platform's setup
        return JSONResponse({"error": "config", "message": str(exc)}, 409)
    return JSONResponse(outcome.public())

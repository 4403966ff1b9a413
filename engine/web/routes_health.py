"""Liveness and readiness, for the process supervisor and the load balancer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .security import service_of

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the control store answers and the inbox writer runs")
async def readyz(request: Request) -> JSONResponse:
    service = service_of(request)
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(service.db.query, "SELECT 1 AS one")
        checks["control_store"] = "ok"
    except Exception as exc:
        checks["control_store"] = f"unreachable: {type(exc).__name__}"
    checks["inbox_writer"] = "ok" if service.writer.alive else "stopped"
    checks["connectors"] = str(len(service.connectors))
    ready = checks["control_store"] == "ok" and checks["inbox_writer"] == "ok"
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )

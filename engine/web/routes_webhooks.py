"""`/webhooks/{connector}[/{connection_id}]`: read the request, let the engine decide, store, answer.

A delivery is answered 2xx only once it is stored (or was stored before: a duplicate); a store
that cannot be written answers 503 so the provider retries. Nothing here raises a 500: bad
input is 400/401/404/405/413, the receiver's own trouble 503.
"""

from __future__ import annotations

import contextlib
import time

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from ..control.inbox import AuditEntry
from ..webhooks.receiver import Decision, Incoming, Receiver, iso_time
from .security import service_of
from .service import Service

MAX_NAME = 128


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _plain(status: int, text: str) -> Response:
    return Response(text, status, media_type="text/plain; charset=utf-8")


async def _audit(service: Service, entry: AuditEntry) -> None:
    with contextlib.suppress(Exception):  # an audit row is not worth failing the answer for
        await service.writer.submit_async(entry)


async def _receive(request: Request, connector: str, connection_id: str | None) -> Response:
    service = service_of(request)
    received = time.time()
    receiver: Receiver | None = service.receivers.get(connector)
    if receiver is None or not service.enabled(connector):
        reason = "unknown connector" if receiver is None else service.disabled_message(connector)
        if receiver is not None:
            await _audit(service, AuditEntry(connector, "rejected", 404, iso_time(received), reason=reason))
        return _plain(404, reason)
    if connection_id is not None and not receiver.per_connection:
        return _plain(404, "this connector receives on /webhooks/" + connector)
    if connection_id is not None and len(connection_id) > MAX_NAME:
        return _plain(404, "unknown connection")
    try:
        body = await _body(request, service.settings.max_body)
    except _TooLarge:
        entry = AuditEntry(
            connector, "rejected", 413, iso_time(received), connection_id, reason="body too large"
        )
        await _audit(service, entry)
        return _plain(413, f"body over {service.settings.max_body} bytes")
    incoming = Incoming(
        connector, connection_id, request.method, request.headers, request.query_params, body, received
    )
    decision: Decision = (
        await run_in_threadpool(receiver.decide, incoming)
        if receiver.needs_thread
        else receiver.decide(incoming)
    )
    if decision.verification_token:
        token = decision.verification_token
        await run_in_threadpool(
            service.provider_secrets.put, f"webhook_verification_token:{connector}", token
        )
    if decision.delivery is not None:
        try:
            fresh = await service.writer.submit_async(decision.delivery)
        except Exception:
            return _plain(503, "the delivery could not be stored; retry later")
        reply = decision.reply
        body_out = reply.body if fresh else b'{"received":true,"duplicate":true}'
        return Response(body_out, reply.status, media_type=reply.content_type)
    if decision.audit is not None:
        await _audit(service, decision.audit)
    reply = decision.reply
    return Response(reply.body, reply.status, media_type=reply.content_type)


async def _endpoint(request: Request) -> Response:
    params = request.path_params
    return await _receive(request, params["connector"], params.get("connection_id"))


# Served as plain Starlette routes: the hot path skips FastAPI's parameter solving (a third of
# a delivery's CPU). `docs` describes them in the OpenAPI schema without serving them.
routes = [
    Route("/webhooks/{connector}", _endpoint, methods=["GET", "POST"]),
    Route("/webhooks/{connector}/{connection_id}", _endpoint, methods=["GET", "POST"]),
]
docs = APIRouter(tags=["webhooks"])


@docs.post("/webhooks/{connector}", summary="Receive a provider's webhook")
@docs.get("/webhooks/{connector}", summary="A provider's subscription check (Meta)", operation_id="handshake")
async def receive(connector: str, request: Request) -> Response:
    """Verified with the connector's `webhooks.verify`, stored once per event id, then 200; a
    duplicate 200 and nothing changes; 400/401/404/405/413 for bad deliveries; 503: retry later."""
    return await _receive(request, connector, None)


@docs.post("/webhooks/{connector}/{connection_id}", summary="Receive a webhook for one connection")
@docs.get(
    "/webhooks/{connector}/{connection_id}",
    summary="A provider's subscription check for one connection",
    operation_id="handshake_for_connection",
)
async def receive_for_connection(connector: str, connection_id: str, request: Request) -> Response:
    """For connectors whose secret or routing is per connection (`webhooks.per_connection`)."""
    return await _receive(request, connector, connection_id)

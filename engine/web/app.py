"""The web service's app: routes read like a table; handlers live in the routes_* modules.

app = create_app(ServiceSettings.from_env())     # uvicorn engine.web.app:app_from_env --factory
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from ..webhooks.keys import KeyStore
from . import (
    routes_actions,
    routes_admin,
    routes_connections,
    routes_health,
    routes_models,
    routes_oauth,
    routes_sync,
    routes_webhooks,
)
from .service import Service
from .settings import ServiceSettings

DESCRIPTION = """Manifold's web service: OAuth connects, webhook deliveries, diagnostics, the read API
over synced models and "sync now" requests. Admin endpoints take `Authorization: Bearer
<MANIFOLD_ADMIN_TOKEN>`; the API takes `Bearer <MANIFOLD_API_TOKEN>`."""


def create_app(settings: ServiceSettings, *, keys: KeyStore | None = None) -> FastAPI:
    """Builds the app; the service (connectors, control store, inbox writer) opens with it."""
    service = Service.open(settings, keys=keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="Manifold", description=DESCRIPTION, version="1", lifespan=lifespan)
    app.state.service = service
    app.router.routes.extend(routes_webhooks.routes)
    for module in (
        routes_health,
        routes_oauth,
        routes_connections,
        routes_sync,
        routes_actions,
        routes_admin,
        routes_models,
    ):
        app.include_router(module.router)
    _document(app, routes_webhooks.docs)
    return app


def _document(app: FastAPI, *extra: APIRouter) -> None:
    """The OpenAPI schema also lists routes served outside FastAPI's routing (the webhooks)."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            routes = [*app.routes, *(route for router in extra for route in router.routes)]
            app.openapi_schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=routes
            )
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    return create_app(ServiceSettings.from_env())

"""The web service's app: routes read like a table; handlers live in the routes_* modules.

app = create_app(ServiceSettings.from_env())     # uvicorn engine.web.app:app_from_env --factory
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ..webhooks.keys import KeyStore
from . import routes_admin, routes_health, routes_models, routes_oauth, routes_sync, routes_webhooks
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
    for module in (routes_health, routes_webhooks, routes_oauth, routes_sync, routes_admin, routes_models):
        app.include_router(module.router)
    return app


def app_from_env() -> FastAPI:
    return create_app(ServiceSettings.from_env())

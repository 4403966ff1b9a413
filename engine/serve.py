"""`manifold serve`: the web service on uvicorn, optionally in front of the sandbox providers."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

from .runner import running_sandbox
from .spec.loader import connector_files, load_connector
from .web import ServiceSettings, create_app


@contextlib.contextmanager
def _sandbox(connectors: Path, enabled: bool) -> Iterator[str | None]:
    if not enabled:
        yield None
        return
    loaded = [load_connector(file, check_env=False) for file in connector_files([connectors])]
    with running_sandbox(loaded) as url:
        yield url


def serve(
    *, host: str, port: int, public_url: str | None, sandbox: bool, connectors: Path | None = None
) -> None:
    """Blocks until interrupted. Without MANIFOLD_ADMIN_TOKEN a one-off admin token is printed."""
    import uvicorn

    settings = ServiceSettings.from_env(connectors=connectors, public_url=public_url, port=port)
    if settings.admin_token is None:
        token = secrets.token_urlsafe(24)
        settings = dataclasses.replace(settings, admin_token=token)
        print(
            f"MANIFOLD_ADMIN_TOKEN is not set; this run's admin token: {token}\n"
            f"  admin page: {settings.public_url}/admin?token={token}",
            file=sys.stderr,
            flush=True,
        )
    with _sandbox(settings.connectors, sandbox) as sandbox_url:
        if sandbox_url:
            settings = dataclasses.replace(settings, sandbox_url=sandbox_url)
            print(f"sandbox providers at {sandbox_url}", file=sys.stderr, flush=True)
        app = create_app(settings)
        # No access log: OAuth callbacks carry codes in their query strings.
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", lifespan="on")

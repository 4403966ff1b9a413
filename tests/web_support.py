"""Helpers for the web service tests: `manifold serve`'s app on a real 127.0.0.1 socket, signed
Stripe deliveries. This module holds no tests.

    with running_service(settings_for(tmp_path, connectors)) as running:
        running.client().post("/webhooks/stripe", ...)
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from engine.web import Service, ServiceSettings, create_app
from engine.webhooks.keys import KeyStore

ADMIN = "admin-token-0c5e1d"
API = "api-token-7f3a9b"
STRIPE_SECRET = "whsec_sandbox_Ek2sT4jX1UuzM9e4b7mUXo0cZd5oVQ8M"


def settings_for(folder: Path, connectors: Path, **changes: Any) -> ServiceSettings:
    """A service over `connectors` with its control store in `folder` and both tokens set."""
    settings = ServiceSettings(
        connectors=connectors,
        public_url="http://127.0.0.1:0",  # replaced by the bound URL in running_service
        admin_token=ADMIN,
        api_token=API,
        control_url=f"sqlite:///{folder}/control.db",
        warehouse_url=f"duckdb:///{folder}/warehouse.duckdb",
    )
    return replace(settings, **changes)


@dataclass
class RunningService:
    url: str
    service: Service

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def admin(self) -> httpx.Client:
        return self.client(Authorization=f"Bearer {ADMIN}")

    def api(self) -> httpx.Client:
        return self.client(Authorization=f"Bearer {API}")


@contextmanager
def running_service(settings: ServiceSettings, *, keys: KeyStore | None = None) -> Iterator[RunningService]:
    """The app served by uvicorn in a thread, on a port picked now. Needs MANIFOLD_SECRET_KEY set
    (`secret_key` fixture) so the vault does not create state/secret.key."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    if settings.public_url.endswith(":0"):
        settings = replace(settings, public_url=url)
    app = create_app(settings, keys=keys)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web service did not start")
        time.sleep(0.01)
    try:
        yield RunningService(url, app.state.service)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def sign_stripe(body: bytes, secret: str = STRIPE_SECRET, t: int | None = None) -> dict[str, str]:
    """`Stripe-Signature` as Stripe computes it: hex HMAC-SHA256 of "{t}.{body}"."""
    t = int(time.time()) if t is None else t
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}

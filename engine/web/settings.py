"""What `manifold serve` is configured with, read once from the environment and the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BODY = 1024 * 1024  # bytes; the largest provider deliveries (Xero, DocuSign) are far smaller


@dataclass(frozen=True)
class ServiceSettings:
    """`public_url` is where providers and browsers reach this service: OAuth redirect URIs are
    built from it (never from the request, so a caller cannot choose where a code goes)."""

    connectors: Path
    public_url: str
    admin_token: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    max_body: int = DEFAULT_MAX_BODY
    sandbox_url: str | None = None
    control_url: str | None = None
    warehouse_url: str | None = None

    @classmethod
    def from_env(
        cls,
        *,
        connectors: Path | None = None,
        public_url: str | None = None,
        sandbox_url: str | None = None,
        port: int = 8000,
    ) -> ServiceSettings:
        env = os.environ
        return cls(
            connectors=connectors or Path(env.get("MANIFOLD_CONNECTORS") or Path.cwd() / "connectors"),
            public_url=(public_url or env.get("MANIFOLD_PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip(
                "/"
            ),
            admin_token=env.get("MANIFOLD_ADMIN_TOKEN") or None,
            api_token=env.get("MANIFOLD_API_TOKEN") or None,
            max_body=int(env.get("MANIFOLD_WEBHOOK_MAX_BYTES") or DEFAULT_MAX_BODY),
            sandbox_url=sandbox_url,
            control_url=env.get("MANIFOLD_CONTROL_URL") or None,
            warehouse_url=env.get("MANIFOLD_WAREHOUSE_URL") or None,
        )

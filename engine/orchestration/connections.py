"""Which connections (accounts) each connector has: the partitions of its assets.

Connectors whose users connect their own accounts (`auth: {type: oauth2}`, or supplied
`connection_secrets`) have one partition per connection stored in the control store
(`manifold connect`); every other
connector (API keys and client credentials from the environment) has one, `default`.
"""

from __future__ import annotations

from typing import Any

from ..spec.models import ConnectorSpec

DEFAULT_CONNECTION = "default"


def partitions_name(spec: ConnectorSpec) -> str:
    """The dynamic partitions definition of a connector's assets: `stripe_connections`."""
    return f"{spec.name}_connections"


def known_connections(spec: ConnectorSpec) -> list[str]:
    """Connection ids of this connector: the stored ones for per-user OAuth connectors."""
    if spec.auth.type != "oauth2" and not spec.connection_secrets:
        return [DEFAULT_CONNECTION]
    from ..control import ConnectionStore, Vault, open_control

    return [record.id for record in ConnectionStore(open_control(), Vault()).list(spec.name)]


def connection_config(spec: ConnectorSpec, connection_id: str) -> dict[str, Any]:
    """Extra config for a run: none here. A stored OAuth connection's own config (Xero tenant,
    DocuSign base URI) is merged by the runtime itself; sandbox runs use `sandbox.config`."""
    return {}

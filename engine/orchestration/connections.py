"""Which connections (accounts) each connector has: the partitions of its assets.

This is the one seam the control store replaces: until connections are stored (with their
encrypted tokens and health), every connector has one connection, `default`, whose config
comes from the environment (or from the spec's `sandbox.config` in sandbox runs).
"""

from __future__ import annotations

from typing import Any

from ..spec.models import ConnectorSpec

DEFAULT_CONNECTION = "default"


def partitions_name(spec: ConnectorSpec) -> str:
    """The dynamic partitions definition of a connector's assets: `stripe_connections`."""
    return f"{spec.name}_connections"


def known_connections(spec: ConnectorSpec) -> list[str]:
    """Connection ids of this connector. The control store replaces this with its rows."""
    return [DEFAULT_CONNECTION]


def connection_config(spec: ConnectorSpec, connection_id: str) -> dict[str, Any]:
    """A connection's config (e.g. an OAuth access token). The control store replaces this too;
    until then it is empty, and sandbox runs use the spec's `sandbox.config`."""
    return {}

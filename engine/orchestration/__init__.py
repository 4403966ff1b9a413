"""Dagster orchestration: every connector stream as an asset, partitioned by connection.

The only package that imports Dagster; the sync path (`engine.runner`, the CLI) never does.
`definitions.py` at the repository root calls `build_definitions` over `connectors/`.
"""

from .checks import CHECKS, Verdict
from .connections import connection_config, known_connections, partitions_name
from .factory import build_definitions, enabled_connectors
from .resources import WarehouseResource
from .sensors import SENSOR_NAME, missing_partitions
from .urls import redact_url

__all__ = [
    "CHECKS",
    "SENSOR_NAME",
    "Verdict",
    "WarehouseResource",
    "build_definitions",
    "connection_config",
    "enabled_connectors",
    "known_connections",
    "missing_partitions",
    "partitions_name",
    "redact_url",
]

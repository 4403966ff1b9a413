"""One provider specification file, read: its operations and its webhook payload schemas."""

from __future__ import annotations

from dataclasses import dataclass, field

from .operations import Operation
from .schemas import Schema


@dataclass(eq=False)
class ApiSpec:
    source: str  # relative to the specs folder, e.g. 'stripe/spec3.yaml'
    format: str  # 'openapi 3.0.3', 'swagger 2.0', 'google discovery', 'meta graph node'
    operations: list[Operation] = field(default_factory=list)
    webhooks: dict[str, Schema] = field(default_factory=dict)  # name -> payload schema

"""Dagster definitions: one asset per connector stream. Run `dagster dev -f definitions.py`."""

import os
from pathlib import Path

from engine.orchestration import build_definitions

defs = build_definitions(os.environ.get("MANIFOLD_CONNECTORS") or Path(__file__).parent / "connectors")

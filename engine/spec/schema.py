"""The editor schema (`schemas/connector.schema.json`), generated from the spec models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import ConnectorSpec

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schemas" / "connector.schema.json"


def connector_json_schema() -> dict[str, Any]:
    schema = ConnectorSpec.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://manifold.dev/schemas/connector.schema.json"
    return schema


def render_schema() -> str:
    return json.dumps(connector_json_schema(), indent=2, sort_keys=False) + "\n"

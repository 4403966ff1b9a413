"""A sample webhook payload published as the schema of a provider's events (DocuSign Connect's
`connect.schema-v2.json`: every field present, values 'sample string' or 0).

The sample becomes a schema: objects with exactly the keys shown, lists of what their elements
show (an empty list: anything), scalars by type. It gives webhook payloads, no operations. This
format is the last one tried: a JSON object that is no other format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..api_spec import ApiSpec
from ..schemas import RefSpace, Schema

_MARKERS = ("openapi", "swagger", "discoveryVersion", "paths", "apis", "resources")


def claims(document: dict[str, Any]) -> bool:
    return bool(document) and not any(key in document for key in _MARKERS)


def schema_of(sample: Any) -> dict[str, Any]:
    if isinstance(sample, dict):
        return {"type": "object", "properties": {k: schema_of(v) for k, v in sample.items()}}
    if isinstance(sample, list):
        if not sample:
            return {"type": "array"}
        return {"type": "array", "items": {"anyOf": [schema_of(item) for item in sample]}}
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int | float):
        return {"type": "number"}
    if isinstance(sample, str):
        return {"type": "string"}
    return {}


def read(document: dict[str, Any], source: str, path: Path) -> ApiSpec:
    spec = ApiSpec(source, "webhook payload sample")
    spec.webhooks[path.stem] = Schema.of(RefSpace({}), schema_of(document))
    return spec

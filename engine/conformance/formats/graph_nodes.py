"""Meta's node specs (facebook-business-sdk-codegen `api_specs/specs/IGUser.json`, ...).

One file per node type: `fields` (name and type: 'string', 'int', 'list<InstagramInsightsValue>',
another node's name) and `apis`, the node's edges (`{"method": "GET", "endpoint": "media",
"return": "IGMedia", "params": [...]}`; no endpoint: the node itself). Graph API paths are
`/{node-id}` and `/{node-id}/{edge}` (`/me/media`, `/{ig-media-id}/insights`), optionally after
a version (`/v23.0/...`). A GET edge answers a list envelope `{data: [<return>], paging}`; a
node's `fields=` parameter selects among its fields and edges. Node types are looked up as
sibling files (`IGMedia.json`); a type without a file is an open object.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ..api_spec import ApiSpec
from ..documents import read_document
from ..operations import Operation, Param
from ..schemas import RefSpace, Schema

#: Parameters every Graph API node and edge takes (https://developers.facebook.com/docs/graph-api/
#: overview, .../results: field selection, cursor paging, the token and its proof).
GRAPH_PARAMS = ("fields", "limit", "after", "before", "access_token", "appsecret_proof", "pretty")
#: Hosts serving the Graph API: OpenAPI specs served there (WhatsApp) take GRAPH_PARAMS too.
GRAPH_HOSTS = ("graph.facebook.com", "graph.instagram.com")
#: A list edge's `paging` (https://developers.facebook.com/docs/graph-api/results): cursors and
#: the URLs of the next and previous pages.
GRAPH_PAGING = {
    "type": "object",
    "properties": {
        "cursors": {
            "type": "object",
            "properties": {"before": {"type": "string"}, "after": {"type": "string"}},
        },
        "next": {"type": "string"},
        "previous": {"type": "string"},
    },
}
#: Instagram API with Instagram Login specs (`IGUserForIGOnlyAPI.json`) name their node types
#: without the prefix and suffix (`Media`, `User`): `Media` is read from `IGMediaForIGOnlyAPI.json`.
IG_ONLY_SUFFIX = "ForIGOnlyAPI"
VERSION_PREFIX = r"/{version:v\d+(?:\.\d+)?}"
_SCALARS = {
    "string": "string",
    "int": "integer",
    "unsigned int": "integer",
    "float": "number",
    "bool": "boolean",
    "datetime": "string",
    "id": "string",
}


def claims(document: dict[str, Any]) -> bool:
    return set(document) == {"apis", "fields"} and isinstance(document["apis"], list)


def field_schema(kind: str) -> dict[str, Any]:
    kind = kind.strip()
    if kind.startswith("list<") and kind.endswith(">"):
        return {"type": "array", "items": field_schema(kind[5:-1])}
    if kind in _SCALARS:
        return {"type": _SCALARS[kind]}
    if kind[:1].isupper() and kind not in ("Object",) and not kind.startswith("map"):
        return {"$ref": kind}
    return {}


def _envelope(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"data": {"type": "array", "items": item}, "paging": GRAPH_PAGING},
    }


def node_schema(document: dict[str, Any]) -> dict[str, Any]:
    properties = {f["name"]: field_schema(str(f.get("type", ""))) for f in document.get("fields") or []}
    for api in document.get("apis") or []:
        edge = api.get("endpoint")
        if edge and api.get("method") == "GET" and edge not in properties:
            properties[edge] = _envelope(field_schema(str(api.get("return", ""))))
    return {"type": "object", "properties": properties}


@functools.lru_cache(maxsize=16)
def node_space(directory: Path, suffix: str = "") -> RefSpace:
    """Node names resolve to sibling files (`IGMedia.json`; with a suffix also `IG<name><suffix>.json`),
    each read once."""

    @functools.lru_cache(maxsize=256)
    def named(name: str) -> Any:
        candidates = [directory / f"{name}.json"]
        if suffix:
            candidates.append(directory / f"IG{name}{suffix}.json")
        for file in candidates:
            if file.is_file():
                document = read_document(file)
                return node_schema(document) if isinstance(document, dict) and claims(document) else None
        return None

    return RefSpace({}, named=named)


#: Meta's enum values beside the node specs: [{name: 'mediainsights_metric_enum_param', values: [...]}].
ENUM_FILE = "enum_types.json"


@functools.lru_cache(maxsize=16)
def enum_values(directory: Path) -> dict[str, tuple[str, ...]]:
    """The enums a node spec's parameter types name (`list<mediainsights_metric_enum_param>`)."""
    file = directory / ENUM_FILE
    document = read_document(file) if file.is_file() else []
    entries = document if isinstance(document, list) else []
    return {
        str(e["name"]): tuple(str(v) for v in e.get("values") or [])
        for e in entries
        if isinstance(e, dict) and "name" in e
    }


def param_of(entry: dict[str, Any], enums: dict[str, tuple[str, ...]]) -> Param:
    kind = str(entry.get("type", "")).strip()
    many = kind.startswith("list<") and kind.endswith(">")
    values = enums.get(kind[5:-1] if many else kind)
    return Param(entry["name"], "any", values=values, many=many and values is not None)


def read(document: dict[str, Any], source: str, path: Path) -> ApiSpec:
    space = node_space(path.parent, IG_ONLY_SUFFIX if path.stem.endswith(IG_ONLY_SUFFIX) else "")
    node = path.stem
    spec = ApiSpec(source, "meta graph node")
    common = {name: Param(name, "query") for name in GRAPH_PARAMS}
    self_schema = {"$ref": node}
    for api in document["apis"]:
        method = str(api.get("method", "GET")).upper()
        edge = api.get("endpoint")
        enums = enum_values(path.parent)
        declared = {p["name"]: param_of(p, enums) for p in api.get("params") or [] if "name" in p}
        returns = field_schema(str(api.get("return", ""))) if edge else self_schema
        response = _envelope(returns) if edge and method == "GET" else returns
        body = {"type": "object", "properties": {name: {} for name in declared}}
        spec.operations.append(
            Operation(
                method=method,
                path="/{" + node.lower() + "-id}" + (f"/{edge}" if edge else ""),
                source=source,
                name=f"{node}.{edge or node}" + ("" if method == "GET" else f" ({method})"),
                prefixes=(VERSION_PREFIX,),
                params={**common, **declared},
                body=Schema.of(space, body) if method != "GET" else None,
                response=Schema.of(space, response),
                selects_fields=Schema.of(space, returns) if method == "GET" else None,
            )
        )
    return spec

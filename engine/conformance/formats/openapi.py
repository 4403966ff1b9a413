"""OpenAPI 3.0 and 3.1 (Stripe, PayPal, Xero, Notion, WhatsApp).

Operations come from `paths`, with path-level and operation parameters (`$ref`s resolved), the
request body of any media type (JSON or form), 2xx responses as the response and the others
as errors; `servers` give optional base paths. Event payloads come from 3.1 `webhooks`, and from
operations that describe the receiving end, whose request body is a `...WebhookPayload` schema
(WhatsApp's `POST /whatsapp/webhooks`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..api_spec import ApiSpec
from ..operations import Operation, Param
from ..schemas import RefSpace, Schema
from .graph_nodes import GRAPH_HOSTS, GRAPH_PAGING, GRAPH_PARAMS

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_PAYLOAD_REF = re.compile(r"/[^/]*webhook[^/]*payload[^/]*$", re.I)


def claims(document: dict[str, Any]) -> bool:
    return str(document.get("openapi", "")).startswith("3")


def _content_schemas(space: RefSpace, holder: Any) -> list[Any]:
    holder = space.deref(holder)
    content = holder.get("content") if isinstance(holder, dict) else None
    if not isinstance(content, dict):
        return []
    return [media["schema"] for media in content.values() if isinstance(media, dict) and "schema" in media]


def server_prefixes(document: dict[str, Any]) -> tuple[str, ...]:
    paths = [urlsplit(str(s.get("url", ""))).path.rstrip("/") for s in document.get("servers") or []]
    return tuple(dict.fromkeys(p for p in paths if p))


def params_of(space: RefSpace, *lists: Any) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for entries in lists:
        for entry in entries or []:
            entry = space.deref(entry)
            if isinstance(entry, dict) and "name" in entry:
                params[entry["name"]] = Param(
                    entry["name"], str(entry.get("in", "query")), entry.get("style")
                )
    return params


def _graph_served(document: dict[str, Any]) -> bool:
    """Served by the Graph API (WhatsApp): its universal parameters and paging apply, undeclared."""
    hosts = {urlsplit(str(s.get("url", ""))).hostname for s in document.get("servers") or []}
    return bool(hosts & set(GRAPH_HOSTS))


def read(document: dict[str, Any], source: str, path: Path) -> ApiSpec:
    space = RefSpace(document)
    prefixes = server_prefixes(document)
    graph = _graph_served(document)
    spec = ApiSpec(source, f"openapi {document.get('openapi')}")
    for template, item in (document.get("paths") or {}).items():
        item = space.deref(item)
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            ok: list[Any] = []
            errors: list[Any] = []
            for code, response in (op.get("responses") or {}).items():
                (ok if str(code).startswith("2") else errors).extend(_content_schemas(space, response))
            body = _content_schemas(space, op.get("requestBody"))
            refs = [b.get("$ref", "") for b in body if isinstance(b, dict)]
            if any(_PAYLOAD_REF.search(ref) for ref in refs):
                spec.webhooks[template] = Schema.of(space, *body)
            params = params_of(space, item.get("parameters"), op.get("parameters"))
            if graph:
                params = {**{n: Param(n, "query") for n in GRAPH_PARAMS}, **params}
                if method == "get" and ok:
                    ok.append({"type": "object", "properties": {"paging": GRAPH_PAGING}})
            spec.operations.append(
                Operation(
                    method=method.upper(),
                    path=template,
                    source=source,
                    name=str(op.get("operationId", "")),
                    prefixes=prefixes,
                    params=params,
                    body=Schema.of(space, *body) if body else None,
                    response=Schema.of(space, *ok) if ok else None,
                    errors=Schema.of(space, *errors) if errors else None,
                )
            )
    for name, item in (document.get("webhooks") or {}).items():
        item = space.deref(item)
        payloads = [
            s for m in METHODS for s in _content_schemas(space, (item.get(m) or {}).get("requestBody"))
        ]
        if payloads:
            spec.webhooks[name] = Schema.of(space, *payloads)
    return spec

"""The control API under /_sandbox: faults, record mutations, token expiry, request log, reset.

    POST   /_sandbox/faults          {"connector", "path", "kind", "status", "retry_after", "delay", "times", "after"}
    GET    /_sandbox/faults          -> {"faults": [rule, ...]} with their seen/hits counters
    DELETE /_sandbox/faults
    POST   /_sandbox/records         {"connector", "route", "key", "record": {...}} or {..., "delete": "<id>"}
                                     -> {"ok": true, "version": n}
    GET    /_sandbox/records?connector=stripe&route=/v1/invoices[&key=primary]
                                     -> {"records": [...]} as the route holds them now
    POST   /_sandbox/expire_tokens   {"connector"}
    GET    /_sandbox/requests        -> {"requests": [{connector, method, path, query, body, form, headers,
                                                       status}, ...]}
    DELETE /_sandbox/requests
    POST   /_sandbox/reset
    GET    /_sandbox                 -> {"connectors": {name: [{"method", "path", "protocol"}, ...]}}

Mistakes are 400 {"error": "..."}; unknown endpoints 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from engine.sandbox.faults import FaultRule
from engine.sandbox.messages import Reply, json_reply

if TYPE_CHECKING:
    from engine.sandbox.app import SandboxApp

OK = {"ok": True}


def handle(
    app: SandboxApp, method: str, endpoint: str, body: bytes, query: list[tuple[str, str]] | None = None
) -> Reply:
    try:
        data: Any = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return json_reply({"error": "the body is not valid JSON"}, 400)
    try:
        return _dispatch(app, method, endpoint.rstrip("/"), data, query or [])
    except (ValueError, TypeError) as exc:
        return json_reply({"error": str(exc)}, 400)


def _dispatch(app: SandboxApp, method: str, endpoint: str, data: Any, query: list[tuple[str, str]]) -> Reply:
    match method, endpoint:
        case "GET", "":
            routes = {
                name: [
                    {"method": r.spec.method, "path": r.spec.path, "protocol": r.spec.protocol}
                    for r in site.routes
                ]
                for name, site in app.sites.items()
            }
            return json_reply({"connectors": routes})
        case "POST", "/faults":
            rule = app.add_fault(FaultRule.from_dict(data))
            return json_reply({"ok": True, "fault": rule.to_dict()})
        case "GET", "/faults":
            return json_reply({"faults": [rule.to_dict() for rule in app.faults.rules()]})
        case "DELETE", "/faults":
            app.faults.clear()
            return json_reply(OK)
        case "POST", "/records":
            return json_reply({"ok": True, "version": _records(app, _object(data))})
        case "GET", "/records":
            args = dict(query)
            keys = [value for name, value in query if name == "key"]
            key = None if not keys else keys[0] if len(keys) == 1 else keys
            records = app.records(_field(args, "connector"), _field(args, "route"), key)
            return json_reply({"records": records})
        case "POST", "/expire_tokens":
            app.expire_tokens(_field(_object(data), "connector"))
            return json_reply(OK)
        case "GET", "/requests":
            return json_reply({"requests": list(app.log)})
        case "DELETE", "/requests":
            app.log.clear()
            return json_reply(OK)
        case "POST", "/reset":
            app.reset()
            return json_reply(OK)
    return json_reply({"error": f"no control endpoint {method} /_sandbox{endpoint}"}, 404)


def _records(app: SandboxApp, data: dict[str, Any]) -> int:
    connector, route, key = _field(data, "connector"), _field(data, "route"), data.get("key")
    if key is not None and not isinstance(key, str | list):
        raise ValueError("key must be a placeholder value, a list of them, or null")
    if "delete" in data:
        return app.delete(connector, route, str(data["delete"]), key)
    if "record" not in data:
        raise ValueError("give a record to upsert or an id to delete")
    return app.upsert(connector, route, data["record"], key)


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name!r} is required (a string)")
    return value

"""The sandbox without sockets: route a request, apply faults, answer; plus the control operations."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from engine.sandbox import control
from engine.sandbox.error_shapes import generic, phrase
from engine.sandbox.faults import FaultRule, Faults
from engine.sandbox.messages import Call, Reply, json_reply
from engine.sandbox.oauth import OAuthServers, masked
from engine.sandbox.protocols import BadRequest, Protocol
from engine.sandbox.routes import BoundRoute, Site, build_sites
from engine.sandbox.store import Key, SyncTokens
from engine.spec.models import ConnectorSpec

CONTROL_PREFIX = "/_sandbox"


class SandboxApp:
    """Everything the sandbox does, callable without a server (the server only moves bytes)."""

    def __init__(self, connectors: list[tuple[ConnectorSpec, Path]], *, log_size: int = 10_000):
        self.sites: dict[str, Site] = build_sites(connectors)
        self.faults = Faults()
        self.oauth = OAuthServers(connectors)
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self.origin = "http://127.0.0.1"  # set to the bound address when the server starts

    # ------------------------------------------------------------ requests

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request. `target` is the raw request target; `headers` have lower-case names."""
        split = urlsplit(target)
        path = split.path
        if path.startswith(CONTROL_PREFIX + "/oauth"):
            return self.oauth.control(method, path[len(CONTROL_PREFIX) :], body)
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return control.handle(self, method, path[len(CONTROL_PREFIX) :], body)
        name, _, rest = path.lstrip("/").partition("/")
        site = self.sites.get(name)
        if site is None:
            known = ", ".join(self.sites)
            return json_reply(
                generic(404, f"No sandbox connector {name!r} (serving: {known})", None, None), 404
            )
        params = parse_qsl(split.query, keep_blank_values=True)
        api_path = "/" + rest
        parsed: Any = None
        if body:
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                params += parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
            else:
                try:
                    parsed = orjson.loads(body)
                except orjson.JSONDecodeError:
                    parsed = _INVALID_JSON
        oauth = self.oauth.handle(name, method, api_path, headers, tuple(params))
        reply = (
            oauth
            if oauth is not None
            else self._serve(site, method, api_path, tuple(params), headers, parsed)
        )
        self.log.append(
            {
                "connector": name,
                "method": method,
                "path": api_path,
                "query": masked(tuple(params)) if oauth is not None else dict(params),
                "body": None if parsed is _INVALID_JSON else parsed,
                "status": reply.status,
            }
        )
        return reply

    def _serve(
        self,
        site: Site,
        method: str,
        api_path: str,
        params: tuple[tuple[str, str], ...],
        headers: Mapping[str, str],
        body: Any,
    ) -> Reply:
        found = site.match(method, api_path)
        protocol = found[0].protocol if isinstance(found, tuple) else (found or site).protocol
        rules = self.faults.draw(site.name, api_path)
        delay = sum(rule.delay for rule in rules if rule.kind == "slow")
        fault = next((rule for rule in rules if rule.kind != "slow"), None)
        if fault is not None and fault.kind == "expire_tokens":
            site.tokens.expire()
        if fault is not None and fault.kind in ("status", "html"):
            reply = _fault_reply(fault, protocol)
        elif not self.oauth.authorised(site, headers):
            reply = protocol.error(401, "Request had invalid authentication credentials.")
        elif found is None:
            reply = protocol.error(404, f"Unrecognized request URL ({method}: {api_path}).")
        elif not isinstance(found, tuple):
            reply = protocol.error(405, f"Method {method} is not allowed on {api_path}.")
        elif body is _INVALID_JSON:
            reply = protocol.error(
                400, "Error parsing body: the request body is not valid JSON.", code="invalid_json"
            )
        else:
            reply = self._answer(site, found[0], found[1], Call(method, api_path, "", params, body))
        reply.delay = delay
        reply.truncate = fault is not None and fault.kind == "truncated"
        return reply

    def _answer(self, site: Site, route: BoundRoute, key: Key, call: Call) -> Reply:
        data = route.data.get(key)
        if data is None:
            return route.protocol.error(404, "Not Found")
        tokens = SyncTokens(site.tokens, (route.spec.method, route.spec.path, key))
        call = Call(
            call.method,
            call.api_path,
            f"{self.origin}/{site.name}{call.api_path}",
            call.params,
            call.body,
            tokens,
        )
        try:
            return route.protocol.handle(call, data)
        except BadRequest as exc:
            return route.protocol.error(exc.status, exc.message, code=exc.code, param=exc.param)

    # ------------------------------------------------------------ control

    def site(self, connector: str) -> Site:
        site = self.sites.get(connector)
        if site is None:
            raise ValueError(f"no sandbox connector {connector!r} (serving: {', '.join(self.sites)})")
        return site

    def upsert(self, connector: str, route: str, record: Any, key: str | list[str] | None = None) -> int:
        """Insert or replace a record of a route's fixture (by id); returns the record's version."""
        return self.site(connector).route(route).data.upsert(_key(key), record)

    def delete(self, connector: str, route: str, record_id: str, key: str | list[str] | None = None) -> int:
        """Mark a record deleted (Google: status 'cancelled'); returns the new version."""
        return self.site(connector).route(route).data.delete(_key(key), str(record_id))

    def expire_tokens(self, connector: str) -> None:
        self.site(connector).tokens.expire()

    def add_fault(self, rule: FaultRule) -> FaultRule:
        if rule.connector is not None:
            self.site(rule.connector)
        return self.faults.add(rule)

    def reset(self) -> None:
        """Fixtures back to their files; faults, sync tokens and the request log cleared."""
        for site in self.sites.values():
            for route in site.routes:
                route.data.load()
            site.tokens.expire()
        self.faults.clear()
        self.log.clear()
        self.oauth.reset()


_INVALID_JSON = object()


def _key(key: str | list[str] | tuple[str, ...] | None) -> Key:
    if key is None:
        return ()
    if isinstance(key, str):
        return (key,)
    return tuple(str(part) for part in key)


def _fault_reply(rule: FaultRule, protocol: Protocol) -> Reply:
    if rule.kind == "html":
        status = rule.status or 200
        title = "Service Temporarily Unavailable" if status == 200 else f"{status} {phrase(status)}"
        page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return Reply(status, page.encode(), content_type="text/html; charset=utf-8")
    status = rule.status or 500
    headers = {}
    if rule.retry_after is not None:
        seconds = rule.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return protocol.error(status, _FAULT_MESSAGES.get(status, phrase(status)), headers=headers)


_FAULT_MESSAGES = {
    429: "Too many requests hit the API too quickly.",
    500: "An unknown error occurred.",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
}

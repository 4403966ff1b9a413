"""The sandbox without sockets: route a request, apply faults, answer; plus the control operations."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from engine.sandbox import control
from engine.sandbox.error_shapes import generic, phrase
from engine.sandbox.faults import FaultRule, Faults
from engine.sandbox.forms import nest
from engine.sandbox.messages import Call, Reply, json_reply
from engine.sandbox.oauth import OAuthServers, Params, masked, masked_pairs
from engine.sandbox.protocols import BadRequest, Collection, Protocol, WriteProtocol
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
            args = parse_qsl(split.query, keep_blank_values=True)
            return control.handle(self, method, path[len(CONTROL_PREFIX) :], body, args)
        name, _, rest = path.lstrip("/").partition("/")
        site = self.sites.get(name)
        if site is None:
            known = ", ".join(self.sites)
            return json_reply(
                generic(404, f"No sandbox connector {name!r} (serving: {known})", None, None), 404
            )
        query = tuple(parse_qsl(split.query, keep_blank_values=True))
        api_path = "/" + rest
        form: Params | None = None
        parsed: Any = None
        if body:
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                form = tuple(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
                parsed = nest(form)
            else:
                try:
                    parsed = orjson.loads(body)
                except orjson.JSONDecodeError:
                    parsed = _INVALID_JSON
        oauth = self.oauth.handle(name, method, api_path, headers, query + (form or _json_pairs(parsed)))
        reply = (
            oauth
            if oauth is not None
            else self._serve(site, Call(method, api_path, "", query, parsed, headers=headers, form=form))
        )
        request = {"connector": name, "method": method, "path": api_path}
        logged = _logged(request, query, parsed, form, headers, secret=oauth is not None)
        if method == "GET":  # reads keep the log's original shape, headers only when they steer the read
            del logged["form"]
            if not any(name in headers for name in READ_HEADERS):
                del logged["headers"]
        self.log.append({**logged, "status": reply.status})
        return reply

    def _serve(self, site: Site, call: Call) -> Reply:
        found = site.match(call.method, call.api_path)
        protocol = found[0].protocol if isinstance(found, tuple) else (found or site).protocol
        rules = self.faults.draw(site.name, call.api_path)
        delay = sum(rule.delay for rule in rules if rule.kind == "slow")
        fault = next((rule for rule in rules if rule.kind != "slow"), None)
        if fault is not None and fault.kind == "expire_tokens":
            site.tokens.expire()
        if fault is not None and fault.kind in ("status", "html"):
            reply = _fault_reply(fault, protocol)
        elif not protocol.public and not self.oauth.authorised(site, call.headers):
            reply = protocol.error(401, "Request had invalid authentication credentials.")
        elif found is None:
            reply = protocol.error(404, f"Unrecognized request URL ({call.method}: {call.api_path}).")
        elif not isinstance(found, tuple):
            reply = protocol.error(405, f"Method {call.method} is not allowed on {call.api_path}.")
        elif not _carries(found[0].spec.require_headers, call.headers):
            missing = ", ".join(found[0].spec.require_headers)
            reply = protocol.error(
                403, f"The request needs the header(s) {missing} with this account's value."
            )
        elif call.body is _INVALID_JSON:
            reply = protocol.error(
                400, "Error parsing body: the request body is not valid JSON.", code="invalid_json"
            )
        else:
            reply = self._answer(site, found[0], found[1], call)
        reply.delay = delay
        reply.truncate = fault is not None and fault.kind == "truncated"
        return reply

    def _answer(self, site: Site, route: BoundRoute, key: Key, call: Call) -> Reply:
        path_params = dict(zip(route.template.names, key, strict=True))
        call = replace(
            call,
            url=f"{self.origin}/{site.name}{call.api_path}",
            tokens=SyncTokens(site.tokens, (route.spec.method, route.spec.path, key)),
            path_params=path_params,
        )
        protocol = route.protocol
        try:
            if isinstance(protocol, WriteProtocol):
                collection = Collection(route.data, route.data_key(path_params))
                return protocol.answer(call, collection, site.idempotency)
            data = route.data.get(route.data_key(path_params))
            if data is None:
                return protocol.error(404, "Not Found")
            return protocol.handle(call, data)
        except BadRequest as exc:
            return protocol.error(exc.status, exc.message, code=exc.code, param=exc.param)

    # ------------------------------------------------------------ control

    def site(self, connector: str) -> Site:
        site = self.sites.get(connector)
        if site is None:
            raise ValueError(f"no sandbox connector {connector!r} (serving: {', '.join(self.sites)})")
        return site

    def records(self, connector: str, route: str, key: str | list[str] | None = None) -> list[Any]:
        """A route's current records, in the order it serves them (deleted ones left out)."""
        return self.site(connector).route(route).data.records(_key(key))

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
        """Fixtures back to their files; faults, sync tokens, idempotency keys and the request log cleared."""
        for site in self.sites.values():
            for data in {id(route.data): route.data for route in site.routes}.values():
                data.load()
            site.tokens.expire()
            site.idempotency.clear()
        self.faults.clear()
        self.log.clear()
        self.oauth.reset()


_INVALID_JSON = object()

# Request headers that change what a read returns or whose data it reads: a GET's log entry keeps
# its headers when it carries one of them.
READ_HEADERS = ("if-modified-since", "xero-tenant-id")


def _json_pairs(parsed: Any) -> Params:
    """A JSON object body's scalar fields as parameters (token requests sent as JSON: Notion)."""
    if not isinstance(parsed, dict):
        return ()
    return tuple((str(k), v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in parsed.items())


# Request headers the log keeps (besides whether Authorization was sent, never its value).
LOGGED_HEADERS = (
    "content-type",
    "accept",
    "idempotency-key",
    "paypal-request-id",
    "prefer",
    "stripe-version",
    "stripe-account",
    "notion-version",
    "xero-tenant-id",
    "if-modified-since",
)


def _logged(
    request: dict[str, Any],
    query: Params,
    parsed: Any,
    form: Params | None,
    headers: Mapping[str, str],
    *,
    secret: bool,
) -> dict[str, Any]:
    """A request log entry (without the status); `secret` (OAuth endpoints) masks parameters.

    {"connector": "stripe", "method": "POST", "path": "/v1/payment_intents", "query": {},
     "body": {"amount": "2000", "metadata": {"deal_id": "d1"}},
     "form": [("amount", "2000"), ("metadata[deal_id]", "d1")],
     "headers": {"authorization": True, "content-type": "application/x-www-form-urlencoded",
                 "idempotency-key": "k1"}}
    """
    body = None if parsed is _INVALID_JSON else parsed
    if secret:  # a token request's form is not decoded into the body
        logged = {
            "query": masked(query + (form or ())),
            "body": (masked(_json_pairs(body)) if isinstance(body, dict) else body) if form is None else None,
            "form": None if form is None else masked_pairs(form),
        }
    else:
        logged = {"query": dict(query), "body": body, "form": None if form is None else list(form)}
        if len({name for name, _ in query}) < len(query):  # a repeated parameter: every value, in order
            logged["query_pairs"] = [list(pair) for pair in query]
    return {**request, **logged, "headers": logged_headers(headers)}


def logged_headers(headers: Mapping[str, str]) -> dict[str, str | bool]:
    """{"authorization": True, "content-type": "application/json", "idempotency-key": "k1"}"""
    logged: dict[str, str | bool] = {"authorization": "authorization" in headers}
    logged.update((name, headers[name]) for name in LOGGED_HEADERS if name in headers)
    return logged


def _carries(required: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """Whether `headers` (lower-case names) carry every required header exactly."""
    return all(headers.get(name.lower()) == value for name, value in required.items())


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

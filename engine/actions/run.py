"""Running one action: validate the input, render the requests, send, read the result or the error.

    runtime = build_runtime(loaded, connection_id="default")
    outcome = run_action(runtime, "create_payment_intent", {"amount": 2000, "currency": "eur"})
    outcome.record          # the created object, as the provider returned it

The input is checked against the action's JSON Schema before anything is sent. A create with
an idempotency key is retried like any request (the provider answers a repeat with the first
result); without one, only what cannot have reached the provider is retried (a refused
connection, a 429). A 401 goes through the connection's refresh path once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import jsonschema
import orjson

from ..control.db import now_utc
from ..control.inbox import Delivery
from ..errors import AuthError, HttpError, ManifoldError, RateLimitError, TemplateError
from ..http import PreparedRequest
from ..paths import get_path
from ..runtime import ConnectorRuntime
from ..templating import render_native
from ..webhooks.apply import RESULT_EVENT_PREFIX
from .encoding import encode
from .spec import ActionRequest, ActionSpec

ErrorKind = Literal["unknown_action", "validation", "template", "provider", "auth", "rate_limit", "server"]

# 4xx answers the action reads itself; 401 (refresh) and 429 (retry) go through the HTTP client.
_PROVIDER_REFUSALS = frozenset(range(400, 500)) - {401, 429}
_IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})
_MAX_TEXT = 300


class ActionError(ManifoldError):
    """An action that did not happen (or whose outcome is unknown), in a form to show a person.

    `kind`: validation (the input; nothing was sent), provider (the provider refused: `status`,
    `code`, `provider_message`), auth, rate_limit, server, template, unknown_action.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        status: int | None = None,
        code: str | None = None,
        provider_message: str | None = None,
        problems: list[str] | None = None,
        permanent: bool = False,
    ):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code
        self.provider_message = provider_message
        self.problems = problems or []
        self.permanent = permanent

    def public(self) -> dict[str, Any]:
        return {
            "error": self.kind,
            "message": str(self),
            "provider_status": self.status,
            "provider_code": self.code,
            "provider_message": self.provider_message,
            "problems": self.problems,
            "permanent": self.permanent,
        }


@dataclass(frozen=True)
class ActionOutcome:
    connector: str
    action: str
    connection_id: str
    status: int
    record: Any = field(repr=False)
    idempotency_key: str | None = None
    replayed: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "action": self.action,
            "connection_id": self.connection_id,
            "status": self.status,
            "idempotency_key": self.idempotency_key,
            "replayed": self.replayed,
            "result": self.record,
        }


def find_action(runtime: ConnectorRuntime, name: str) -> ActionSpec:
    actions = runtime.spec.actions
    if name not in actions:
        known = ", ".join(sorted(actions)) or "none"
        raise ActionError(
            f"{runtime.spec.name} has no action '{name}' (actions: {known})", kind="unknown_action"
        )
    return actions[name]


def check_input(spec: ActionSpec, connector: str, name: str, given: Any) -> dict[str, Any]:
    """The input, checked against the action's schema; every problem listed, nothing sent."""
    validator = jsonschema.Draft202012Validator(spec.input, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(given), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [f"{'.'.join(map(str, e.absolute_path)) or '(input)'}: {e.message}" for e in errors[:10]]
        raise ActionError(
            f"{connector}.{name}: the input does not match the action's schema: {'; '.join(problems)}",
            kind="validation",
            problems=problems,
        )
    if not isinstance(given, dict):
        raise ActionError(f"{connector}.{name}: the input must be a JSON object", kind="validation")
    return given


def default_key(connector: str, name: str, connection_id: str, given: dict[str, Any]) -> str:
    """The same action with the same input on the same connection: the same key, whoever retries."""
    canonical = orjson.dumps([connector, name, connection_id, given], option=orjson.OPT_SORT_KEYS)
    return "mf-" + hashlib.sha256(canonical).hexdigest()[:40]


def run_action(
    runtime: ConnectorRuntime, name: str, given: Any, *, idempotency_key: str | None = None
) -> ActionOutcome:
    """Run one action. `idempotency_key` overrides the derived key: the caller's own request id,
    for a deliberate second identical create (Stripe keeps a key for 24 hours)."""
    spec = find_action(runtime, name)
    connector, connection_id = runtime.spec.name, runtime.connection.id
    checked = check_input(spec, connector, name, given)
    properties = spec.input.get("properties", {}) if isinstance(spec.input.get("properties"), dict) else {}
    context: dict[str, Any] = {
        **runtime.context,
        "input": {**{p: None for p in properties}, **checked},
        "result": None,
        "results": [],
        "item": None,
        "idempotency_key": None,
    }
    cache: dict[str, Any] = {}
    key: str | None = None
    if spec.idempotency is not None:
        template = spec.idempotency.key
        if idempotency_key:
            key = idempotency_key
        elif template:
            key = str(_render(template, cache, context, connector, name))
        else:
            key = default_key(connector, name, connection_id, checked)
        context["idempotency_key"] = key
    status, replayed = 0, False
    for step, request in enumerate([spec.request, *spec.then]):
        items = _items(request, cache, context, connector, name)
        for index, item in enumerate(items):
            context["item"] = item
            step_key = (
                None
                if key is None
                else key + (f"-{step}" if step else "") + (f".{index}" if request.each else "")
            )
            response = _send(runtime, spec, request, context, cache, step_key, connector, name)
            status = response.status_code
            replayed = replayed or response.headers.get("Idempotent-Replayed", "").lower() == "true"
            record = _result(runtime, spec, response, connector, name)
            context["result"] = record
            context["results"] = [*context["results"], record]
    return ActionOutcome(connector, name, connection_id, status, context["result"], key, replayed)


def _items(
    request: ActionRequest, cache: dict[str, Any], context: dict[str, Any], connector: str, name: str
) -> list[Any]:
    if request.each is None:
        return [None]
    items = _render(request.each, cache, context, connector, name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ActionError(
            f"{connector}.{name}: `each` must give a list, not {type(items).__name__}", kind="template"
        )
    return items


def _render(value: Any, cache: dict[str, Any], context: dict[str, Any], connector: str, name: str) -> Any:
    try:
        return render_native(value, cache, context)
    except TemplateError as exc:
        raise ActionError(f"{connector}.{name}: {exc}", kind="template") from None


def _send(
    runtime: ConnectorRuntime,
    spec: ActionSpec,
    request: ActionRequest,
    context: dict[str, Any],
    cache: dict[str, Any],
    key: str | None,
    connector: str,
    name: str,
) -> httpx.Response:
    path = str(_render(request.path, cache, context, connector, name))
    params = {
        k: v for k, v in _render(request.params, cache, context, connector, name).items() if v is not None
    }
    headers = {
        **runtime.headers,
        **{k: str(v) for k, v in _render(request.headers, cache, context, connector, name).items()},
    }
    body = _render(request.body, cache, context, connector, name)
    content, content_type = encode(request.encoding, body, request.content_type)
    if content_type:
        headers["Content-Type"] = content_type
    if key is not None and spec.idempotency is not None:
        headers[spec.idempotency.header] = key
    prepared = PreparedRequest(request.method, runtime.url(path), params, headers, content=content)
    idempotent = key is not None or request.method in _IDEMPOTENT_METHODS
    try:
        response = runtime.client.send(prepared, ok_statuses=_PROVIDER_REFUSALS, idempotent=idempotent)
    except AuthError as exc:
        raise ActionError(f"{connector}.{name}: {exc}", kind="auth", status=exc.status) from None
    except RateLimitError as exc:
        raise ActionError(f"{connector}.{name}: {exc}", kind="rate_limit", status=exc.status) from None
    except HttpError as exc:
        raise ActionError(f"{connector}.{name}: {exc}", kind="server", status=exc.status) from None
    if response.status_code >= 400:
        raise _refusal(runtime, spec, response, connector, name)
    return response


def _body(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content.strip() else None
    except orjson.JSONDecodeError:
        return response.text


def _refusal(
    runtime: ConnectorRuntime, spec: ActionSpec, response: httpx.Response, connector: str, name: str
) -> ActionError:
    body = _body(response)
    errors = spec.errors
    code: Any = None
    message: Any = None
    if errors.text or isinstance(body, str):
        code = (body if isinstance(body, str) else response.text).strip()[:_MAX_TEXT] or None
    else:
        code = get_path(body, errors.code) if errors.code else None
        message = get_path(body, errors.message) if errors.message else None
        if message is None and code is None:
            message = runtime.redactor(response.text)[:_MAX_TEXT]
    code_text = None if code is None else runtime.redactor(str(code))
    message_text = None if message is None else runtime.redactor(str(message))[:_MAX_TEXT]
    said = ": ".join(part for part in (code_text, message_text) if part)
    return ActionError(
        f"{connector}.{name}: the provider refused it ({response.status_code}{', ' + said if said else ''})",
        kind="provider",
        status=response.status_code,
        code=code_text,
        provider_message=message_text,
        permanent=code_text in errors.permanent,
    )


def _result(
    runtime: ConnectorRuntime, spec: ActionSpec, response: httpx.Response, connector: str, name: str
) -> Any:
    body = _body(response)
    expected = spec.result.success_text
    if expected is not None:
        text = response.text.strip()
        if text != expected:
            raise ActionError(
                f"{connector}.{name}: expected '{expected}', the provider answered {runtime.redactor(text)[:_MAX_TEXT]!r}",
                kind="provider",
                status=response.status_code,
            )
        return {"ok": True}
    return get_path(body, spec.result.record) if spec.result.record else body


def result_delivery(outcome: ActionOutcome, spec: ActionSpec) -> Delivery | None:
    """The result as an inbox event, when the action lands it in a model: the drain applies it
    like a webhook (the web service never writes the warehouse). One event per idempotency key."""
    if spec.result.apply is None or not isinstance(outcome.record, dict):
        return None
    # The provider's object id where there is one: a key reused after the provider forgot it
    # (Stripe: 24 hours) creates a new object, whose result must land too.
    made = outcome.record.get("id")
    identity = (
        ":".join(str(part) for part in (outcome.idempotency_key, made) if part)
        or hashlib.sha256(orjson.dumps(outcome.record)).hexdigest()[:40]
    )
    return Delivery(
        connector=outcome.connector,
        event_id=f"{RESULT_EVENT_PREFIX}{outcome.action}:{identity}",
        connection_id=outcome.connection_id,
        event_type=f"{RESULT_EVENT_PREFIX}{outcome.action}",
        headers={},
        body=orjson.dumps(outcome.record),
        received_at=now_utc(),
    )

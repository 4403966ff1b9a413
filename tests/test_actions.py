"""Actions, unit level (httpx MockTransport): input checked before any request, bodies encoded as
each provider reads them, idempotency keys derived from the input, retries only where safe,
follow-up requests, and the provider's error in a clear form."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import yaml

from engine.actions.run import ActionError, default_key, run_action
from engine.errors import SpecError
from engine.runtime import Connection, ConnectorRuntime
from engine.spec.loader import load_connector

SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"
KEY = "sk_test_51Hx9KeyForActionTests"

SPEC: dict[str, Any] = {
    "name": "payco",
    "title": "PayCo",
    "docs": "https://docs.stripe.com/api",
    "env": ["PAYCO_KEY"],
    "base_url": "https://api.payco.example",
    "auth": {"type": "bearer", "token": "{{ env.PAYCO_KEY }}"},
    "http": {"retry": {"max_attempts": 3, "backoff": 0, "statuses": [429, "5xx"]}},
    "streams": {
        "invoices": {
            "request": {"path": "/v1/invoices"},
            "records": "data",
            "into": "invoices",
            "fields": {"id": "id", "status": "status"},
        }
    },
    "actions": {
        "create_invoice": {
            "input": {
                "type": "object",
                "required": ["customer", "amount"],
                "properties": {
                    "customer": {"type": "string", "pattern": "^cus_"},
                    "amount": {"type": "integer", "minimum": 1},
                    "metadata": {"type": "object"},
                    "memo": {"type": "string"},
                },
                "additionalProperties": False,
            },
            "request": {
                "path": "/v1/invoices",
                "encoding": "form",
                "body": {
                    "customer": "{{ input.customer }}",
                    "description": "{{ input.memo }}",
                    "metadata": "{{ input.metadata }}",
                    "lines": [{"amount": "{{ input.amount }}", "quantity": 1}],
                    "auto_advance": False,
                },
            },
            "then": [{"path": "/v1/invoices/{{ result.id }}/finalize", "encoding": "form"}],
            "idempotency": {"header": "Idempotency-Key"},
            "result": {"apply": "invoices"},
            "errors": {"code": "error.code", "message": "error.message"},
        },
        "notify": {
            "input": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
            "request": {
                "path": "https://hooks.payco.example/services/T1/B2/x",
                "body": {"text": "{{ input.text }}"},
            },
            "result": {"success_text": "ok"},
            "errors": {"text": True, "permanent": ["no_service"]},
        },
    },
}

Handler = Callable[[httpx.Request], httpx.Response]


def runtime(tmp_path: Path, handler: Handler, spec: dict[str, Any] = SPEC) -> ConnectorRuntime:
    path = tmp_path / "payco.yaml"
    path.write_text(SCHEMA_LINE + yaml.safe_dump(spec))
    loaded = load_connector(path, environ={"PAYCO_KEY": KEY})
    return ConnectorRuntime(
        loaded,
        Connection("default", {}),
        environ={"PAYCO_KEY": KEY},
        transport=httpx.MockTransport(handler),
        sleep=lambda seconds: None,
    )


class Provider:
    """Records requests; answers as a Stripe-like API does."""

    def __init__(self, *replies: httpx.Response):
        self.replies = list(replies)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.replies:
            return self.replies.pop(0)
        if request.url.path.endswith("/finalize"):
            return httpx.Response(200, json={"id": "in_1", "status": "open"})
        return httpx.Response(200, json={"id": "in_1", "status": "draft"})


def form(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode())


GOOD = {"customer": "cus_9", "amount": 1500, "metadata": {"deal_id": "d-7"}}


def test_a_create_is_form_encoded_with_an_idempotency_key_then_finalized(tmp_path: Path) -> None:
    provider = Provider()
    outcome = run_action(runtime(tmp_path, provider), "create_invoice", GOOD)
    create, finalize = provider.seen
    assert create.method == "POST" and create.url.path == "/v1/invoices"
    assert create.headers["content-type"] == "application/x-www-form-urlencoded"
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert sorted(form(create)) == [
        ("auto_advance", "false"),
        ("customer", "cus_9"),
        ("lines[0][amount]", "1500"),
        ("lines[0][quantity]", "1"),
        ("metadata[deal_id]", "d-7"),
    ]  # `description` (no memo given) is left out
    key = default_key("payco", "create_invoice", "default", GOOD)
    assert create.headers["idempotency-key"] == key == outcome.idempotency_key
    assert (
        finalize.url.path == "/v1/invoices/in_1/finalize"
        and finalize.headers["idempotency-key"] == f"{key}-1"
    )
    assert outcome.record == {"id": "in_1", "status": "open"} and outcome.status == 200
    assert default_key("payco", "create_invoice", "default", {**GOOD, "amount": 1501}) != key


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"customer": "cus_9"}, "'amount' is a required property"),
        ({"customer": "acct_1", "amount": 5}, "does not match '^cus_'"),
        ({"customer": "cus_9", "amount": 0}, "less than the minimum of 1"),
        ({"customer": "cus_9", "amount": 5, "extra": 1}, "Additional properties are not allowed"),
        ([1, 2], "is not of type 'object'"),
    ],
)
def test_an_invalid_input_never_reaches_the_provider(tmp_path: Path, given: Any, problem: str) -> None:
    provider = Provider()
    with pytest.raises(ActionError) as caught:
        run_action(runtime(tmp_path, provider), "create_invoice", given)
    assert caught.value.kind == "validation" and problem in str(caught.value)
    assert provider.seen == []


def test_the_providers_refusal_is_returned_clearly_without_secrets(tmp_path: Path) -> None:
    refusal = {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": "customer",
            "message": f"No such customer: 'cus_9' (key {KEY})",
        }
    }
    provider = Provider(httpx.Response(400, json=refusal))
    with pytest.raises(ActionError) as caught:
        run_action(runtime(tmp_path, provider), "create_invoice", GOOD)
    error = caught.value
    assert (error.kind, error.status, error.code) == ("provider", 400, "resource_missing")
    assert (
        "No such customer: 'cus_9'" in str(error) and KEY not in str(error) and KEY not in str(error.public())
    )
    assert len(provider.seen) == 1  # a refusal is not retried


def test_a_keyed_create_is_retried_on_5xx_and_429_an_unkeyed_one_only_on_429(tmp_path: Path) -> None:
    keyed = Provider(httpx.Response(500), httpx.Response(429, headers={"Retry-After": "0"}))
    run_action(runtime(tmp_path, keyed), "create_invoice", GOOD)
    assert [r.url.path for r in keyed.seen][:3] == ["/v1/invoices"] * 3
    assert len({r.headers["idempotency-key"] for r in keyed.seen[:3]}) == 1  # the same key every time

    unkeyed = Provider(httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, text="ok"))
    run_action(runtime(tmp_path, unkeyed), "notify", {"text": "Invoice paid"})
    assert len(unkeyed.seen) == 2
    failing = Provider(httpx.Response(502, text="rollup_error"))
    with pytest.raises(ActionError) as caught:
        run_action(runtime(tmp_path, failing), "notify", {"text": "Invoice paid"})
    assert caught.value.kind == "server" and len(failing.seen) == 1  # it may have posted: not again


def test_plain_text_apis_success_and_errors(tmp_path: Path) -> None:
    provider = Provider(httpx.Response(200, text="ok"))
    outcome = run_action(runtime(tmp_path, provider), "notify", {"text": "Deal *won*"})
    (sent,) = provider.seen
    assert str(sent.url) == "https://hooks.payco.example/services/T1/B2/x"
    assert sent.headers["content-type"] == "application/json" and sent.content == b'{"text":"Deal *won*"}'
    assert outcome.record == {"ok": True}
    for status, text, permanent in [(404, "no_service", True), (400, "invalid_payload", False)]:
        with pytest.raises(ActionError) as caught:
            run_action(
                runtime(tmp_path, Provider(httpx.Response(status, text=text))), "notify", {"text": "x"}
            )
        assert (caught.value.code, caught.value.permanent, caught.value.status) == (text, permanent, status)


def test_a_401_is_an_auth_error_and_an_unknown_action_lists_the_known(tmp_path: Path) -> None:
    with pytest.raises(ActionError) as caught:
        run_action(runtime(tmp_path, Provider(httpx.Response(401, json={}))), "notify", {"text": "x"})
    assert caught.value.kind == "auth"
    with pytest.raises(ActionError, match=r"no action 'nope' \(actions: create_invoice, notify\)"):
        run_action(runtime(tmp_path, Provider()), "nope", {})


def test_the_loader_checks_action_templates_streams_and_schemas(tmp_path: Path) -> None:
    broken = yaml.safe_load(yaml.safe_dump(SPEC))
    broken["actions"]["create_invoice"]["request"]["body"]["customer"] = "{{ inptu.customer }}"
    broken["actions"]["create_invoice"]["result"]["apply"] = "invoice"
    broken["actions"]["notify"]["input"] = {"type": "objekt"}
    path = tmp_path / "payco.yaml"
    path.write_text(SCHEMA_LINE + yaml.safe_dump(broken))
    with pytest.raises(SpecError) as caught:
        load_connector(path, environ={"PAYCO_KEY": KEY})
    text = str(caught.value)
    assert "undefined name 'inptu'" in text and "no stream 'invoice' with `into`" in text
    assert "did you mean 'invoices'" in text and "not a valid JSON Schema" in text


def test_a_callers_own_key_overrides_the_derived_one(tmp_path: Path) -> None:
    provider = Provider()
    outcome = run_action(runtime(tmp_path, provider), "create_invoice", GOOD, idempotency_key="order-42")
    assert [r.headers["idempotency-key"] for r in provider.seen] == ["order-42", "order-42-1"]
    assert outcome.idempotency_key == "order-42"

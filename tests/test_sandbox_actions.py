"""Sandbox write routes over real HTTP: creates, updates, idempotency keys, Slack incoming
webhooks, and the request log that end-to-end action tests check requests against."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.errors import SpecError
from engine.sandbox import Sandbox
from engine.sandbox.forms import nest
from engine.spec.models import ConnectorSpec

AUTH = {"Authorization": "Bearer sk_test_sandbox"}
FORM = "application/x-www-form-urlencoded"
HOOK = "/services/T0001/B0001/goodtoken"
ARCHIVED_HOOK = "/services/T0001/B0002/archivedtoken"
INVOICES = [
    {
        "id": f"in_{n}",
        "object": "invoice",
        "status": "draft",
        "created": 1_700_000_000 + n,
        "metadata": {"a": "1"},
    }
    for n in range(3, 0, -1)
]
PAYMENT_INTENT = {
    "object": "payment_intent",
    "id_prefix": "pi_",
    "required": ["amount", "currency"],
    "defaults": {"status": "requires_payment_method", "livemode": False, "metadata": {}},
    "timestamp_field": "created",
    "idempotency_header": "Idempotency-Key",
    "request_only": ["expand"],
}


def connector(name: str, routes: list[dict[str, Any]], **sandbox: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": name.title(),
        "docs": "https://example.com/docs",
        "base_url": f"https://{name}.example.com",
        "streams": {"all": {"request": {"path": "/x"}}},
        "sandbox": {"routes": routes, **sandbox},
    }


CONNECTORS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "stripe": (
        connector(
            "stripe",
            [
                {"path": "/v1/payment_intents", "protocol": "stripe_list", "fixture": "pis.json"},
                {
                    "path": "/v1/payment_intents",
                    "method": "POST",
                    "protocol": "create",
                    "fixture": "pis.json",
                    "options": PAYMENT_INTENT,
                },
                {"path": "/v1/invoices", "protocol": "stripe_list", "fixture": "invoices.json"},
                {
                    "path": "/v1/invoices/{id}/finalize",
                    "method": "POST",
                    "protocol": "update",
                    "fixture": "invoices.json",
                    "options": {
                        "object": "invoice",
                        "set": {"status": "open"},
                        "timestamp_field": "status_transitions.finalized_at",
                        "idempotency_header": "Idempotency-Key",
                    },
                },
                {
                    "path": "/v1/invoices/{id}",
                    "method": "POST",
                    "protocol": "update",
                    "fixture": "invoices.json",
                    "options": {"object": "invoice"},
                },
                # no GET route: the created payouts stay in the route's own fixture
                {
                    "path": "/v1/payouts",
                    "method": "POST",
                    "protocol": "create",
                    "fixture": "payouts.json",
                    "options": {
                        "object": "payout",
                        "id_prefix": "po_",
                        "idempotency_header": "Idempotency-Key",
                    },
                },
            ],
            require_headers=AUTH,
        ),
        {"pis.json": [], "invoices.json": INVOICES, "payouts.json": []},
    ),
    "paypal": (
        connector(
            "paypal",
            [
                {"path": "/v2/invoicing/invoices", "protocol": "paypal_pages", "fixture": "invoices.json"},
                {
                    "path": "/v2/invoicing/invoices",
                    "method": "POST",
                    "protocol": "create",
                    "fixture": "invoices.json",
                    "options": {
                        "errors": "paypal",
                        "id_prefix": "INV2-",
                        "required": ["detail.currency_code"],
                        "defaults": {"status": "DRAFT"},
                        "idempotency_header": "PayPal-Request-Id",
                        "status": 201,
                    },
                },
            ],
        ),
        {"invoices.json": []},
    ),
    "slack": (
        connector(
            "slack",
            [
                {
                    "path": "/services/{team}/{bot}/{token}",
                    "method": "POST",
                    "protocol": "slack_webhook",
                    "fixture": "hooks.json",
                    "options": {"archived": ["T0001/B0002/archivedtoken"]},
                }
            ],
            require_headers={"Authorization": "Bearer xoxb-web-api"},  # the hooks need none
        ),
        {"hooks.json": ["T0001/B0001/goodtoken", "https://hooks.slack.com" + ARCHIVED_HOOK]},
    ),
}


def build(folder: Path, connectors: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> Sandbox:
    specs = []
    for name, (spec, fixtures) in connectors.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for file, value in fixtures.items():
            (folder / name / file).write_text(json.dumps(value))
        specs.append((ConnectorSpec.model_validate(spec), folder / name / f"{name}.yaml"))
    return Sandbox(specs)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with build(tmp_path_factory.mktemp("actions"), CONNECTORS) as running:
        yield running


@pytest.fixture(scope="module")
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        yield client


@pytest.fixture
def client(sandbox: Sandbox, http: httpx.Client) -> httpx.Client:
    sandbox.reset()
    return http


def post_form(
    client: httpx.Client, path: str, pairs: list[tuple[str, str]], **headers: str
) -> httpx.Response:
    """POST pairs form-encoded, in order and with repeats, as Stripe's libraries send them."""
    body = str(httpx.QueryParams(pairs))
    names = {name.replace("_", "-"): value for name, value in headers.items()}
    return client.post(path, content=body, headers={**AUTH, "Content-Type": FORM, **names})


INTENT = [("amount", "2000"), ("currency", "usd"), ("metadata[deal_id]", "d1")]


# ---------------------------------------------------------------- bodies


def test_form_pairs_nest_the_way_stripe_reads_them() -> None:
    pairs = [
        ("amount", "2000"),
        ("metadata[deal_id]", "d1"),
        ("items[1][price]", "p2"),
        ("items[0][price]", "p1"),
        ("items[0][quantity]", "3"),
        ("expand[]", "customer"),
        ("expand[]", "latest_charge"),
        ("lines[][price]", "a"),
        ("lines[][qty]", "1"),
        ("lines[][price]", "b"),
        ("payment_method_types[0]", "card"),
        ("automatic_payment_methods[enabled]", "true"),
        ("odd[name", "kept whole"),
        ("description", ""),
    ]
    assert nest(pairs) == {
        "amount": "2000",
        "metadata": {"deal_id": "d1"},
        "items": [{"price": "p1", "quantity": "3"}, {"price": "p2"}],
        "expand": ["customer", "latest_charge"],
        "lines": [{"price": "a", "qty": "1"}, {"price": "b"}],
        "payment_method_types": ["card"],
        "automatic_payment_methods": {"enabled": "true"},
        "odd[name": "kept whole",
        "description": "",
    }
    assert nest([("items[10]", "k"), ("items[2]", "c")]) == {"items": ["c", "k"]}  # index order


# ---------------------------------------------------------------- create


def test_create_stores_defaults_received_fields_id_object_and_timestamp(client: httpx.Client) -> None:
    pairs = [*INTENT, ("items[0][price]", "price_1"), ("expand[]", "customer")]
    created = post_form(client, "/stripe/v1/payment_intents", pairs)
    assert created.status_code == 200 and created.headers["content-type"] == "application/json"
    body = created.json()
    assert list(body)[:2] == ["id", "object"]
    assert body["id"].startswith("pi_") and len(body["id"]) == 3 + 24 and body["id"][3:].isalnum()
    assert isinstance(body.pop("created"), int)
    assert body == {
        "id": body["id"],
        "object": "payment_intent",
        "status": "requires_payment_method",
        "livemode": False,
        "metadata": {"deal_id": "d1"},
        "amount": "2000",  # as received: Stripe parses per field, the sandbox keeps strings
        "currency": "usd",
        "items": [{"price": "price_1"}],
    }  # `expand` steers the request and is not stored


def test_a_created_object_is_first_in_the_next_list_and_in_records(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    first = post_form(client, "/stripe/v1/payment_intents", INTENT).json()["id"]
    second = post_form(client, "/stripe/v1/payment_intents", INTENT).json()["id"]
    listed = client.get("/stripe/v1/payment_intents", headers=AUTH).json()["data"]
    assert [r["id"] for r in listed] == [second, first]  # newest first, like Stripe
    assert [r["id"] for r in sandbox.records("stripe", "/v1/payment_intents")] == [second, first]
    over_http = client.get(
        "/_sandbox/records", params={"connector": "stripe", "route": "/v1/payment_intents"}
    )
    assert [r["id"] for r in over_http.json()["records"]] == [second, first]


def test_a_create_without_a_list_route_keeps_objects_in_its_own_fixture(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    payout = post_form(client, "/stripe/v1/payouts", [("amount", "500"), ("currency", "usd")]).json()
    assert payout["id"].startswith("po_") and payout["object"] == "payout"
    assert sandbox.records("stripe", "/v1/payouts") == [payout]


def test_a_missing_or_empty_required_param_is_a_400_naming_it(client: httpx.Client, sandbox: Sandbox) -> None:
    missing = post_form(client, "/stripe/v1/payment_intents", [("currency", "usd")])
    assert missing.status_code == 400
    assert missing.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_missing",
            "param": "amount",
            "message": "Missing required param: amount.",
        }
    }
    empty = post_form(client, "/stripe/v1/payment_intents", [("amount", "2000"), ("currency", "")])
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "currency"
    assert sandbox.records("stripe", "/v1/payment_intents") == []


def test_creates_need_the_connectors_auth(client: httpx.Client) -> None:
    refused = client.post("/stripe/v1/payment_intents", data=dict(INTENT))
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"


# ---------------------------------------------------------------- idempotency


def test_the_same_idempotency_key_and_parameters_replay_the_first_reply(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    first = post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1")
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again = post_form(client, "/stripe/v1/payment_intents", list(reversed(INTENT)), Idempotency_Key="k1")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content  # same id, same created: the first reply exactly
    assert len(sandbox.records("stripe", "/v1/payment_intents")) == 1
    other_key = post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k2")
    assert other_key.json()["id"] != first.json()["id"]
    assert len(sandbox.records("stripe", "/v1/payment_intents")) == 2


def test_an_idempotency_key_reused_with_other_parameters_or_endpoint_is_an_idempotency_error(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1")
    changed = post_form(
        client, "/stripe/v1/payment_intents", [("amount", "2001"), ("currency", "usd")], Idempotency_Key="k1"
    )
    assert changed.status_code == 400
    assert changed.json() == {
        "error": {
            "type": "idempotency_error",
            "message": "Keys for idempotent requests can only be used with the same parameters they were "
            "first used with. Try using a key other than 'k1' if you meant to execute a different request.",
        }
    }
    elsewhere = post_form(client, "/stripe/v1/payouts", INTENT, Idempotency_Key="k1")
    assert elsewhere.status_code == 400 and elsewhere.json()["error"]["type"] == "idempotency_error"
    assert "same endpoint" in elsewhere.json()["error"]["message"]
    assert len(sandbox.records("stripe", "/v1/payment_intents")) == 1
    assert sandbox.records("stripe", "/v1/payouts") == []


def test_a_refused_request_does_not_use_up_its_key(client: httpx.Client, sandbox: Sandbox) -> None:
    refused = post_form(client, "/stripe/v1/payment_intents", [("currency", "usd")], Idempotency_Key="k1")
    assert refused.status_code == 400
    fixed = post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1")
    assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers


def test_a_retry_after_a_lost_request_creates_and_after_a_lost_reply_replays(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.add_fault("stripe", "status", "/v1/payment_intents", status=500)
    assert post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1").status_code == 500
    assert sandbox.records("stripe", "/v1/payment_intents") == []  # the fault answered before Stripe ran
    sandbox.add_fault("stripe", "truncated", "/v1/payment_intents")
    cut = post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1")
    with pytest.raises(json.JSONDecodeError):  # the object was created, its reply cut short
        cut.json()
    retried = post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1")
    assert retried.headers["idempotent-replayed"] == "true"
    assert [r["id"] for r in sandbox.records("stripe", "/v1/payment_intents")] == [retried.json()["id"]]


def test_reset_forgets_idempotency_keys(client: httpx.Client, sandbox: Sandbox) -> None:
    first = post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1").json()
    sandbox.reset()
    again = post_form(client, "/stripe/v1/payment_intents", INTENT, Idempotency_Key="k1")
    assert "idempotent-replayed" not in again.headers and again.json()["id"] != first["id"]


def test_paypal_request_id_replays_the_first_reply_for_json_creates(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    invoice = {
        "detail": {"currency_code": "USD", "note": "Thanks"},
        "items": [{"name": "Post", "quantity": "1"}],
    }
    first = client.post("/paypal/v2/invoicing/invoices", json=invoice, headers={"PayPal-Request-Id": "r1"})
    assert first.status_code == 201
    created = first.json()
    assert created["id"].startswith("INV2-") and created["status"] == "DRAFT"
    assert created["detail"] == invoice["detail"] and created["items"] == invoice["items"]  # JSON kept as is
    changed = {**invoice, "detail": {"currency_code": "EUR"}}
    again = client.post("/paypal/v2/invoicing/invoices", json=changed, headers={"PayPal-Request-Id": "r1"})
    assert again.status_code == 201 and again.content == first.content  # PayPal does not compare bodies
    assert "idempotent-replayed" not in again.headers
    assert len(sandbox.records("paypal", "/v2/invoicing/invoices")) == 1
    listed = client.get("/paypal/v2/invoicing/invoices").json()["items"]
    assert [r["id"] for r in listed] == [created["id"]]
    missing = client.post("/paypal/v2/invoicing/invoices", json={"detail": {}})
    assert missing.status_code == 400
    assert missing.json()["name"] == "INVALID_REQUEST"
    assert missing.json()["details"][0]["field"] == "detail.currency_code"
    not_an_object = client.post("/paypal/v2/invoicing/invoices", json=[1])
    assert not_an_object.status_code == 400 and not_an_object.json()["name"] == "INVALID_REQUEST"


# ---------------------------------------------------------------- update


def test_finalize_sets_the_status_in_place_and_stamps_it(client: httpx.Client, sandbox: Sandbox) -> None:
    finalized = post_form(client, "/stripe/v1/invoices/in_2/finalize", [("auto_advance", "false")])
    assert finalized.status_code == 200
    body = finalized.json()
    assert body["id"] == "in_2" and body["status"] == "open" and body["auto_advance"] == "false"
    assert isinstance(body["status_transitions"]["finalized_at"], int)
    listed = client.get("/stripe/v1/invoices", headers=AUTH).json()["data"]
    assert [(r["id"], r["status"]) for r in listed] == [
        ("in_3", "draft"),
        ("in_2", "open"),
        ("in_1", "draft"),
    ]


def test_finalize_without_a_body_and_with_an_idempotency_key(client: httpx.Client) -> None:
    headers = {**AUTH, "Idempotency-Key": "f1"}
    first = client.post("/stripe/v1/invoices/in_1/finalize", headers=headers)
    assert first.status_code == 200 and first.json()["status"] == "open"
    again = client.post("/stripe/v1/invoices/in_1/finalize", headers=headers)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


def test_update_merges_received_fields_and_keeps_the_id(client: httpx.Client, sandbox: Sandbox) -> None:
    pairs = [("metadata[deal_id]", "d9"), ("description", "Renewal"), ("id", "in_hijack")]
    updated = post_form(client, "/stripe/v1/invoices/in_3", pairs).json()
    assert updated["id"] == "in_3" and updated["status"] == "draft"
    assert updated["metadata"] == {"a": "1", "deal_id": "d9"} and updated["description"] == "Renewal"
    assert [r["id"] for r in sandbox.records("stripe", "/v1/invoices")] == ["in_3", "in_2", "in_1"]


def test_updating_an_unknown_object_is_a_404_in_the_provider_shape(client: httpx.Client) -> None:
    missing = client.post("/stripe/v1/invoices/in_x/finalize", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": "id",
            "message": "No such invoice: 'in_x'",
        }
    }


def test_a_deleted_object_cannot_be_updated(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.delete("stripe", "/v1/invoices", "in_1")
    assert client.post("/stripe/v1/invoices/in_1/finalize", headers=AUTH).status_code == 404


# ---------------------------------------------------------------- slack incoming webhooks


def test_slack_webhook_answers_ok_in_plain_text_without_auth(client: httpx.Client) -> None:
    posted = client.post(f"/slack{HOOK}", json={"text": "Deal won"})
    assert posted.status_code == 200 and posted.text == "ok"
    assert posted.headers["content-type"] == "text/plain"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deal won*"}}]
    assert client.post(f"/slack{HOOK}", json={"blocks": blocks}).text == "ok"
    legacy = client.post(f"/slack{HOOK}", data={"payload": json.dumps({"text": "hi"})})
    assert legacy.status_code == 200 and legacy.text == "ok"


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (b"{}", 400, "no_text"),
        (b'{"text": ""}', 400, "no_text"),
        (b"{not json", 400, "invalid_payload"),
        (b"[]", 400, "invalid_payload"),
        (b'{"text": "x", "blocks": "nope"}', 400, "invalid_payload"),
        (b"", 400, "invalid_payload"),
    ],
)
def test_slack_webhook_refuses_bad_payloads_in_plain_text(
    client: httpx.Client, body: bytes, status: int, text: str
) -> None:
    refused = client.post(f"/slack{HOOK}", content=body, headers={"Content-Type": "application/json"})
    assert (refused.status_code, refused.text) == (status, text)
    assert refused.headers["content-type"] == "text/plain"


def test_slack_webhook_unknown_and_archived_hooks(client: httpx.Client) -> None:
    unknown = client.post("/slack/services/T0001/B0001/wrongtoken", json={"text": "x"})
    assert (unknown.status_code, unknown.text) == (404, "no_service")
    archived = client.post(f"/slack{ARCHIVED_HOOK}", json={"text": "x"})
    assert (archived.status_code, archived.text) == (410, "channel_is_archived")


def test_slack_webhook_faults_answer_in_plain_text(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault("slack", "status", HOOK, status=500)
    failed = client.post(f"/slack{HOOK}", json={"text": "x"})
    assert (failed.status_code, failed.text) == (500, "rollup_error")


# ---------------------------------------------------------------- the request log


def test_the_log_records_headers_form_pairs_and_the_decoded_body(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    post_form(client, "/stripe/v1/payment_intents", [*INTENT, ("expand[]", "customer")], Idempotency_Key="k1")
    client.get("/stripe/v1/payment_intents", headers=AUTH)
    create, listing = sandbox.requests("stripe")
    assert create == {
        "connector": "stripe",
        "method": "POST",
        "path": "/v1/payment_intents",
        "query": {},
        "body": {"amount": "2000", "currency": "usd", "metadata": {"deal_id": "d1"}, "expand": ["customer"]},
        "form": [*INTENT, ("expand[]", "customer")],
        "headers": {
            "authorization": True,
            "content-type": FORM,
            "accept": "*/*",
            "idempotency-key": "k1",
        },
        "status": 200,
    }
    assert set(listing) == {"connector", "method", "path", "query", "body", "status"}  # reads as before
    over_http = client.get("/_sandbox/requests").json()["requests"][0]
    assert over_http["form"][0] == ["amount", "2000"] and over_http["headers"]["authorization"] is True


def test_the_log_records_json_bodies_paypal_request_ids_and_missing_auth(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    invoice = {"detail": {"currency_code": "USD"}}
    client.post("/paypal/v2/invoicing/invoices", json=invoice, headers={"PayPal-Request-Id": "r1"})
    client.post(f"/slack{HOOK}", json={"text": "hi"})
    (paypal,) = sandbox.requests("paypal")
    assert paypal["body"] == invoice and paypal["form"] is None
    assert paypal["headers"]["paypal-request-id"] == "r1"
    assert paypal["headers"]["content-type"] == "application/json"
    (slack,) = sandbox.requests("slack")
    assert slack["headers"]["authorization"] is False and slack["status"] == 200


# ---------------------------------------------------------------- configuration mistakes


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (
            {"path": "/v1/invoices", "method": "POST", "protocol": "create", "fixture": "other.json"},
            "give it the same fixture (invoices.json)",
        ),
        (
            {
                "path": "/v1/invoices",
                "method": "POST",
                "protocol": "create",
                "fixture": "invoices.json",
                "options": {"collection": "/v1/nothing"},
            },
            "collection '/v1/nothing' is not a GET route",
        ),
        (
            {"path": "/v1/finalize", "method": "POST", "protocol": "update", "fixture": "invoices.json"},
            "needs the object's id as a placeholder",
        ),
        (
            {
                "path": "/v1/invoices",
                "method": "POST",
                "protocol": "create",
                "fixture": "invoices.json",
                "options": {"required": "amount"},
            },
            "option required must be a list",
        ),
        (
            {
                "path": "/v1/customers/{id}/sources",
                "method": "POST",
                "protocol": "create",
                "fixture": "sources.json",
                "options": {"collection": "/v1/customers/{customer}/sources"},
            },
            "keyed by {customer}",
        ),
    ],
)
def test_write_route_mistakes_are_spec_errors(tmp_path: Path, route: dict[str, Any], message: str) -> None:
    routes = [
        {"path": "/v1/invoices", "protocol": "stripe_list", "fixture": "invoices.json"},
        {"path": "/v1/customers/{customer}/sources", "protocol": "stripe_list", "fixture": "sources.json"},
        route,
    ]
    fixtures = {"invoices.json": INVOICES, "other.json": [], "sources.json": {"*": []}}
    with pytest.raises(SpecError) as caught:
        build(tmp_path, {"stripe": (connector("stripe", routes), fixtures)})
    assert [p.path for p in caught.value.problems] == ["sandbox.routes[2]"]
    assert message in caught.value.problems[0].message

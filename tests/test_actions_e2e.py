"""Actions end to end against the sandbox over HTTP: the CLI and `POST /api/actions`, requests
checked against Stripe's documented shape, idempotent retries creating once, results landing
in the models; and a Slack notification rule firing once for one paid invoice delivered three
times."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from engine.connect import store_secrets
from engine.control import ConnectionStore, ControlDB, Vault
from engine.control.rule_firings import RuleFirings
from engine.destinations import open_destination
from engine.event_drain import drain_inbox
from engine.rule_runner import run_rules_once
from engine.runner import load_for_run

from .conftest import Workspace
from .test_webhook_apply import INVOICE, paid, stripe_event
from .web_support import running_service, settings_for, sign_stripe

HOOK = "https://hooks.slack.com/services/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"


def action(space: Workspace, *args: str) -> tuple[int, Any, str]:
    assert space.sandbox is not None
    env = space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])
    done = space.cli("action", *args, "--sandbox-url", space.sandbox.url, env=env)
    out = json.loads(done.stdout) if done.returncode == 0 else None
    return done.returncode, out, done.stderr


def posts(space: Workspace, path: str) -> list[dict[str, Any]]:
    assert space.sandbox is not None
    return [
        r for r in space.sandbox.requests("stripe") if r["method"] == "POST" and r["path"].startswith(path)
    ]


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    workspace.start_sandbox()
    return workspace


def test_a_payment_intent_is_created_once_and_lands_in_payments(space: Workspace) -> None:
    given = json.dumps({"amount": 2000, "currency": "eur", "metadata": {"deal_id": "deal_105"}})
    code, first, err = action(space, "stripe", "create_payment_intent", "--input", given)
    assert code == 0, err
    created = first["result"]
    assert created["id"].startswith("pi_") and created["object"] == "payment_intent"
    (request,) = posts(space, "/v1/payment_intents")
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert request["headers"]["idempotency-key"] == first["idempotency_key"]
    assert request["headers"]["authorization"] is True
    assert sorted(map(tuple, request["form"])) == [
        ("amount", "2000"),
        ("currency", "eur"),
        ("metadata[deal_id]", "deal_105"),
    ]

    code, again, err = action(space, "stripe", "create_payment_intent", "--input", given)  # a retry
    assert code == 0, err
    assert again["result"]["id"] == created["id"] and again["replayed"] is True
    assert space.sandbox is not None
    ids = [r["id"] for r in space.sandbox.records("stripe", "/v1/payment_intents")]
    assert ids.count(created["id"]) == 1  # one object at the provider
    rows = space.query(f"SELECT kind, status, amount, currency FROM payments WHERE id = '{created['id']}'")
    assert [(k, s, str(a), c) for k, s, a, c in rows] == [
        ("payment_intent", "requires_payment_method", "20.00", "EUR")
    ]


def test_an_invoice_is_created_with_its_lines_then_finalized(space: Workspace) -> None:
    given = {
        "customer": "cus_PqT1aBcDeFgH03",
        "currency": "usd",
        "items": [
            {"amount": 150000, "description": "Sponsored reel"},
            {"amount": 25000, "description": "Usage rights"},
        ],
    }
    code, out, err = action(space, "stripe", "create_invoice", "--input", json.dumps(given))
    assert code == 0, err
    invoice = out["result"]
    assert invoice["status"] == "open" and invoice["id"].startswith("in_")
    (create,) = posts(space, "/v1/invoices")[:1]
    form = dict(map(tuple, create["form"]))
    assert {k: form.get(k) for k in ("customer", "collection_method", "days_until_due", "auto_advance")} == {
        "customer": "cus_PqT1aBcDeFgH03",
        "collection_method": "send_invoice",
        "days_until_due": "30",
        "auto_advance": "false",
    }
    assert form["pending_invoice_items_behavior"] == "exclude"
    items = posts(space, "/v1/invoiceitems")
    assert [dict(map(tuple, r["form"]))["invoice"] for r in items] == [invoice["id"]] * 2
    assert [dict(map(tuple, r["form"]))["amount"] for r in items] == ["150000", "25000"]
    keys = [
        r["headers"]["idempotency-key"]
        for r in [create, *items, *posts(space, f"/v1/invoices/{invoice['id']}")]
    ]
    assert len(set(keys)) == 4  # one key per request, all derived from the input
    assert space.query(f"SELECT status FROM invoices WHERE id = '{invoice['id']}'") == [("open",)]


def test_a_bad_input_never_reaches_stripe_and_a_refusal_is_clear(space: Workspace) -> None:
    code, _, err = action(space, "stripe", "create_payout", "--input", '{"amount": -5, "currency": "EUR"}')
    assert code == 1 and "amount: -5 is less than the minimum of 1" in err and "does not match" in err
    assert posts(space, "/v1/payouts") == []
    assert space.sandbox is not None
    space.sandbox.add_fault("stripe", "status", "/v1/payouts", status=402)
    code, _, err = action(space, "stripe", "create_payout", "--input", '{"amount": 500, "currency": "eur"}')
    assert code == 1 and "the provider refused it (402" in err
    assert '"error": "provider"' in err and "sk_test" not in err


def test_the_platform_runs_actions_over_http(space: Workspace, tmp_path: Path) -> None:
    assert space.sandbox is not None
    settings = settings_for(tmp_path, space.connectors, sandbox_url=space.sandbox.url,
                            control_url=os.environ["MANIFOLD_CONTROL_URL"])  # fmt: skip
    with running_service(settings) as running, running.api() as api:
        done = api.post(
            "/api/actions/stripe/create_payout", json={"input": {"amount": 500, "currency": "eur"}}
        )
        assert done.status_code == 200, done.text
        payout = done.json()["result"]
        assert payout["id"].startswith("po_") and payout["status"] == "pending"
        again = api.post(
            "/api/actions/stripe/create_payout",
            json={"input": {"amount": 500, "currency": "eur"}, "idempotency_key": "payout-2026-11-26-b"},
        )
        assert (
            again.status_code == 200 and again.json()["result"]["id"] != payout["id"]
        )  # a second, on purpose
        refused = api.post("/api/actions/stripe/create_payout", json={"input": {"amount": "500"}})
        assert refused.status_code == 422 and refused.json()["error"] == "validation"
        assert api.post("/api/actions/stripe/nope", json={}).status_code == 404
        with running.client() as anonymous:
            assert anonymous.post("/api/actions/stripe/create_payout", json={}).status_code == 401
    # the service never writes the warehouse: the result waits in the inbox for the drain
    report = drain_inbox(space.connectors, warehouse_url=space.warehouse_url)
    assert report.processed == 2
    assert space.query(f"SELECT status FROM payouts WHERE id = '{payout['id']}'") == [("pending",)]


def test_a_slack_rule_fires_once_for_one_invoice_paid_three_times(
    space: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert space.sandbox is not None
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "invoice_paid.yaml").write_text(
        "name: invoice_paid_to_slack\n"
        "when: {model: invoices, where: {status: paid}}\n"
        "do:\n  connector: slack\n  action: notify\n"
        "  input: {text: 'Invoice {{ row.number }} paid: {{ row.amount_paid }} {{ row.currency }}'}\n"
    )
    control_url = os.environ["MANIFOLD_CONTROL_URL"]
    slack = load_for_run(str(space.connectors / "slack.yaml"), sandbox=False)
    store_secrets(
        slack,
        "default",
        {"incoming_webhook_url": HOOK},
        store=ConnectionStore(ControlDB(control_url), Vault()),
    )

    def rules_round() -> Any:
        destination = open_destination(space.warehouse_url)
        try:
            drain_inbox(space.connectors, destination=destination)
            return run_rules_once(
                space.connectors, rules, destination=destination, sandbox_url=space.sandbox.url
            )
        finally:
            destination.close()

    empty = rules_round()  # nothing synced yet: no baseline taken, the first sync is history
    assert (empty.baseline, empty.fired) == (0, 0)
    assert RuleFirings(ControlDB(control_url)).mark("invoice_paid_to_slack") is None
    sync = space.cli("sync", "stripe", "-s", "invoices", "--sandbox-url", space.sandbox.url)
    assert sync.returncode == 0, sync.stderr
    first = rules_round()  # invoices already paid are the baseline, not news
    assert first.sent == 0 and first.baseline >= 1
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_sandbox_Ek2sT4jX1UuzM9e4b7mUXo0cZd5oVQ8M")
    event = json.dumps(
        stripe_event("evt_paid_slack", "invoice.paid", paid(INVOICE), time.time() + 5)
    ).encode()
    settings = settings_for(tmp_path, space.connectors, control_url=control_url)
    with running_service(settings) as running, running.client() as client:
        for _ in range(3):  # Stripe retries: the same event three times
            assert (
                client.post("/webhooks/stripe", content=event, headers=sign_stripe(event)).status_code == 200
            )
    second = rules_round()
    third = rules_round()
    assert (second.fired, second.sent, third.fired, third.sent) == (1, 1, 0, 0)
    hooks = [r for r in space.sandbox.requests("slack") if r["method"] == "POST"]
    assert len(hooks) == 1 and hooks[0]["status"] == 200
    assert hooks[0]["body"] == {"text": f"Invoice {INVOICE['number']} paid: 300.00 USD"}
    (firing,) = [
        f for f in RuleFirings(ControlDB(control_url)).list("invoice_paid_to_slack") if f.state == "sent"
    ]
    assert firing.sent_at


def test_a_failed_post_is_retried_then_parked_not_lost(space: Workspace, tmp_path: Path) -> None:
    from engine.actions.run import ActionError
    from engine.control.inbox import RetryPolicy
    from engine.rules.run import send
    from engine.rules.spec import RuleSpec

    firings = RuleFirings(ControlDB(os.environ["MANIFOLD_CONTROL_URL"]))
    rule = RuleSpec.model_validate(
        {"name": "r", "when": {"model": "invoices"}, "do": {"connector": "slack", "action": "notify"}}
    )
    firings.fire("r", [("k1", {"text": "hello"})])
    outcomes = [
        ActionError("slack.notify: 500", kind="server"),
        ActionError("gone", kind="provider", permanent=True),
    ]

    def perform(*_: Any) -> Any:
        raise outcomes.pop(0)

    policy = RetryPolicy(base_seconds=0, cap_seconds=0)
    assert send([rule], firings, perform, policy=policy).failed == 1
    (waiting,) = firings.list("r")
    assert waiting.state == "pending" and waiting.attempts == 1 and "500" in (waiting.last_error or "")
    assert send([rule], firings, perform, policy=policy).parked == 1
    (parked,) = firings.list("r")
    assert parked.state == "parked" and parked.last_error == "gone"
    (shown,) = firings.summary()
    assert (shown["rule"], shown["parked"], shown["sent"], shown["last_error"]) == ("r", 1, 0, "gone")
    with (
        running_service(
            settings_for(tmp_path, space.connectors, control_url=os.environ["MANIFOLD_CONTROL_URL"])
        ) as running,
        running.admin() as admin,
    ):
        assert admin.get("/api/admin/diagnostics/integrations").json()["rules"][0]["parked"] == 1
        page = admin.get("/admin").text
    assert "Notification rules" in page and "gone" in page

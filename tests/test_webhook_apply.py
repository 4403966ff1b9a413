"""Applying stored webhook events to the models: the same row as a poll, newer wins, exactly once,
failures retried then parked — on DuckDB and Postgres, and end to end through `manifold serve`."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.control import ControlDB
from engine.control.inbox import Delivery, Inbox, RetryPolicy
from engine.control.sync_requests import SyncRequests
from engine.destinations import open_destination
from engine.event_drain import event_appliers
from engine.runner import load_for_run, run_sync
from engine.webhooks.apply import drain

from .conftest import WAREHOUSES, Workspace
from .web_support import running_service, settings_for, sign_stripe

FIXTURES = Path(__file__).resolve().parent.parent / "connectors" / "fixtures" / "stripe"
INVOICE = json.loads((FIXTURES / "invoices.json").read_text())[0]
INVOICE_ID = INVOICE["id"]


def stripe_event(event_id: str, event_type: str, obj: dict[str, Any], created: float) -> dict[str, Any]:
    """An event as Stripe sends it: the object as of `created` under data.object."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(created),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def paid(invoice: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(invoice)
    changed.update(status="paid", paid=True, amount_paid=invoice["amount_due"], amount_remaining=0)
    return changed


class Harness:
    """A synced Stripe warehouse and a control store whose inbox the test fills."""

    def __init__(self, workspace: Workspace, control_url: str):
        self.workspace = workspace
        self.db = ControlDB(control_url)
        self.inbox = Inbox(self.db)
        self.requests = SyncRequests(self.db)
        self.appliers = event_appliers(workspace.connectors)

    def sync_invoices(self) -> None:
        sandbox = self.workspace.sandbox
        assert sandbox is not None
        loaded = load_for_run(str(self.workspace.connectors / "stripe.yaml"), sandbox=True)
        destination = open_destination(self.workspace.warehouse_url)
        try:
            (result,) = run_sync(
                loaded, streams=["invoices"], sandbox_url=sandbox.url, destination=destination
            )
        finally:
            destination.close()
        assert result.error is None

    def deliver(self, event: dict[str, Any]) -> bool:
        body = json.dumps(event).encode()
        now = datetime.now(UTC).isoformat()
        delivery = Delivery("stripe", event["id"], None, event["type"], {}, body, now)
        return self.inbox.write([delivery], [])[0]

    def drain(self, policy: RetryPolicy = RetryPolicy()) -> Any:
        destination = open_destination(self.workspace.warehouse_url)
        try:
            return drain(self.inbox, self.appliers, destination, self.requests, policy=policy)
        finally:
            destination.close()

    def invoice(self, invoice_id: str = INVOICE_ID) -> tuple[Any, ...]:
        (row,) = self.workspace.query(
            f"SELECT status, amount_paid, _version, _connection_id FROM invoices WHERE id = '{invoice_id}'"
        )
        return row


@pytest.fixture
def harness(workspace: Workspace, tmp_path: Path) -> Iterator[Harness]:
    workspace.start_sandbox()
    made = Harness(workspace, f"sqlite:///{tmp_path}/control.db")
    made.sync_invoices()
    yield made
    made.db.close()


@pytest.mark.parametrize("workspace", WAREHOUSES, indirect=True)
def test_a_newer_event_updates_the_polled_row_and_an_older_one_does_not(harness: Harness) -> None:
    status, _, polled_version, connection = harness.invoice()
    assert (status, connection) == ("draft", "default")
    harness.deliver(stripe_event("evt_paid_1", "invoice.paid", paid(INVOICE), time.time() + 5))
    report = harness.drain()
    assert (report.processed, report.updated, report.failed) == (1, 1, 0)
    status, amount_paid, version, _ = harness.invoice()
    assert (status, str(amount_paid)) == ("paid", "300.00")
    assert version > polled_version

    older = copy.deepcopy(INVOICE)  # the draft, sent late: its event predates what is stored
    harness.deliver(stripe_event("evt_old_1", "invoice.updated", older, INVOICE["created"] + 60))
    report = harness.drain()
    assert (report.processed, report.stale, report.updated) == (1, 1, 0)
    assert harness.invoice()[0] == "paid"

    # A poll whose data predates the stored event's time (the event is stamped 5 s ahead) is the
    # older state: the sync leaves the row alone.
    harness.sync_invoices()
    assert harness.invoice()[0] == "paid"
    assert harness.invoice()[2] == version


def test_an_event_is_applied_once_even_when_delivered_or_applied_twice(harness: Harness) -> None:
    event = stripe_event("evt_paid_2", "invoice.paid", paid(INVOICE), time.time() + 5)
    assert harness.deliver(event) is True
    assert harness.deliver(event) is False  # duplicate delivery: nothing new in the inbox
    assert harness.drain().processed == 1
    assert harness.drain().processed == 0  # nothing left to apply
    before = harness.workspace.query("SELECT * EXCLUDE (_synced_at) FROM invoices ORDER BY id")
    # A crash between the warehouse commit and marking it processed: applied again, no change.
    harness.db.execute("UPDATE webhook_events SET state = 'pending' WHERE event_id = 'evt_paid_2'")
    assert harness.drain().processed == 1
    assert harness.workspace.query("SELECT * EXCLUDE (_synced_at) FROM invoices ORDER BY id") == before
    stored = harness.inbox.get("stripe", "evt_paid_2")
    assert stored is not None and stored.state == "processed" and stored.processed_at


def test_undeclared_event_types_are_ignored_and_new_objects_inserted(harness: Harness) -> None:
    harness.deliver(stripe_event("evt_bal", "balance.available", {"object": "balance"}, time.time()))
    fresh = paid(INVOICE) | {"id": "in_1Q05ZxLkdIwHu7ixNEW1", "number": "ACME-2001"}
    harness.deliver(stripe_event("evt_new", "invoice.created", fresh, time.time()))
    report = harness.drain()
    assert (report.ignored, report.processed, report.inserted) == (1, 1, 1)
    ignored = harness.inbox.get("stripe", "evt_bal")
    assert ignored is not None and ignored.state == "ignored"
    assert harness.invoice("in_1Q05ZxLkdIwHu7ixNEW1")[0] == "paid"


def test_a_failing_event_is_retried_with_backoff_then_parked(harness: Harness) -> None:
    broken = paid(INVOICE)
    del broken["id"]  # no primary key: the mapping refuses it
    harness.deliver(stripe_event("evt_broken", "invoice.paid", broken, time.time()))
    policy = RetryPolicy(max_attempts=3, base_seconds=0, cap_seconds=0)
    first = harness.drain(policy)
    assert (first.failed, first.parked) == (1, 0)
    assert "primary key" in first.errors[0]
    event = harness.inbox.get("stripe", "evt_broken")
    assert event is not None and event.state == "pending" and event.attempts == 1 and event.error
    harness.drain(policy)
    last = harness.drain(policy)
    assert last.parked == 1
    parked = harness.inbox.get("stripe", "evt_broken")
    assert parked is not None and parked.state == "parked" and parked.attempts == 3
    assert harness.inbox.stats("stripe").parked == 1
    assert harness.drain(policy).failed == 0  # parked events wait for a person
    assert harness.inbox.requeue_parked("stripe") == 1


def test_backoff_waits_before_the_next_attempt(harness: Harness) -> None:
    broken = {"id": "evt_late", "type": "invoice.paid", "created": "not a time", "data": {"object": INVOICE}}
    harness.deliver(broken)
    report = harness.drain(RetryPolicy(base_seconds=60))
    assert report.failed == 1 and "neither unix seconds nor ISO 8601" in report.errors[0]
    assert harness.drain().failed == 0  # not due for a minute


def test_delivered_through_the_service_and_applied_by_the_cli(
    workspace: Workspace, tmp_path: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.start_sandbox()
    control_url = f"sqlite:///{tmp_path}/control.db"
    Harness(workspace, control_url).sync_invoices()
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_sandbox_Ek2sT4jX1UuzM9e4b7mUXo0cZd5oVQ8M")
    event = json.dumps(stripe_event("evt_e2e", "invoice.payment_succeeded", paid(INVOICE), time.time() + 5))
    settings = settings_for(tmp_path, workspace.connectors, control_url=control_url)
    with running_service(settings) as running, running.client() as client:
        answer = client.post("/webhooks/stripe", content=event.encode(), headers=sign_stripe(event.encode()))
        assert answer.status_code == 200
    result = workspace.cli("apply-events", env=workspace.env(MANIFOLD_CONTROL_URL=control_url))
    assert result.returncode == 0, result.stderr
    assert "1 applied" in result.stdout
    assert workspace.query(f"SELECT status FROM invoices WHERE id = '{INVOICE_ID}'") == [("paid",)]


def test_an_event_can_queue_a_sync_of_its_connection_once_while_pending(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Webhook-triggered syncs (Gmail's push, a Calendar channel): declared per event type."""
    spec = workspace.connectors / "stripe.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    customer.updated: *customer\n",
            "    customer.updated: *customer\n    payout.reconciliation_completed: {sync: {streams: [payouts]}}\n",
        )
    )
    made = Harness(workspace, f"sqlite:///{tmp_path}/control.db")
    for n in range(3):
        made.deliver(
            stripe_event(f"evt_rec_{n}", "payout.reconciliation_completed", {"id": "po_1"}, time.time())
        )
    report = made.drain()
    assert (report.processed, report.syncs_queued) == (3, 3)
    (request,) = made.requests.queued()  # one pending request, however many events asked
    assert (request.connector, request.connection_id, request.streams, request.source) == (
        "stripe",
        "default",
        ["payouts"],
        "webhook",
    )

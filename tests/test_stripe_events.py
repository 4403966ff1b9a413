"""Stripe's events stream: changes to invoices the created[gte] listing never reads again land
through their events, and an event older than the stored row never overwrites it."""

from __future__ import annotations

import copy
import json
import time

from .conftest import Workspace


def test_events_update_old_invoices_and_never_roll_a_row_back(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()

    def sync() -> None:
        done = workspace.cli("sync", "stripe", "--sandbox-url", sandbox.url, "-s", "invoices", "-s", "invoice_events",
                             env=workspace.env(STRIPE_SECRET_KEY="sk_test_sandbox_4eC39HqLyjWDarjtT1zdp7dc"))  # fmt: skip
        assert done.returncode == 0, done.stderr

    def status(invoice: str) -> str:
        ((found,),) = workspace.query(f"SELECT status FROM invoices WHERE id = '{invoice}'")
        return str(found)

    sync()
    # The fixture's invoice.created event (status draft) is older than the listing's row: ignored.
    assert status("in_1Q02ZxLkdIwHu7ix0002") == "open"
    events = [r for r in sandbox.requests("stripe") if r["path"] == "/v1/events"]
    assert events and events[0]["query"]["type"] == "invoice.*"

    invoices = json.loads((workspace.connectors / "fixtures" / "stripe" / "invoices.json").read_text())
    # An older invoice: the listing's created[gte] cursor never reads it again (the newest would be).
    old = copy.deepcopy(next(i for i in invoices if i["id"] == "in_1Q02ZxLkdIwHu7ix0002"))
    assert old["status"] == "open"
    paid = {**old, "status": "paid", "amount_paid": old["amount_due"], "amount_remaining": 0}
    sandbox.upsert(
        "stripe",
        "/v1/events",
        {"id": "evt_1QbEv009LkdIwHu7ix0009", "object": "event", "api_version": "2023-08-16",
         "created": int(time.time()) + 60, "data": {"object": paid}, "livemode": False, "pending_webhooks": 0,
         "request": {"id": None, "idempotency_key": None}, "type": "invoice.paid"},
    )  # fmt: skip
    sandbox.clear_requests()
    sync()  # the listing reads only invoices created since; the event brings the old one's change
    listed = [r for r in sandbox.requests("stripe") if r["path"] == "/v1/invoices"]
    assert all("created[gte]" in r["query"] for r in listed)
    assert status("in_1Q02ZxLkdIwHu7ix0002") == "paid"

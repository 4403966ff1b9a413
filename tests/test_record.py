"""`manifold record`: the sandbox stands in for the live provider; its responses become the
fixture, trimmed to the pages asked for, with emails, phones and secrets redacted."""

from __future__ import annotations

import json

from .conftest import Workspace
from .test_sync_stripe import SECRET, many_invoices


def test_recording_writes_a_trimmed_redacted_fixture_that_syncs(workspace: Workspace) -> None:
    invoices = many_invoices(workspace.connectors, 250)
    invoices[0]["customer_email"] = "Ada.Lovelace@acme-studio.example"
    invoices[0]["customer_phone"] = "+44 7700 900123"
    invoices[0]["footer"] = f"Questions? ada.lovelace@acme-studio.example, key {SECRET}"
    fixture = workspace.connectors / "fixtures" / "stripe" / "invoices.json"
    fixture.write_text(json.dumps(invoices))
    sandbox = workspace.start_sandbox()

    done = workspace.cli(
        "record", "stripe", "--stream", "invoices", "--pages", "2", "--sandbox-url", sandbox.url
    )
    assert done.returncode == 0, done.stderr
    assert (
        "2 responses recorded" in done.stdout and "fixtures/stripe/invoices.json (200 records)" in done.stdout
    )

    written = json.loads(fixture.read_text())
    assert [i["id"] for i in written] == [i["id"] for i in invoices[:200]]  # two pages of 100
    text = fixture.read_text()
    assert "acme-studio.example" not in text and SECRET not in text and "7700 900123" not in text
    first = written[0]
    assert first["customer_email"] == "user1@example.com"
    assert first["footer"].startswith("Questions? user1@example.com, key ")
    assert first["customer_phone"].startswith("+1555010")
    assert first["amount_due"] == invoices[0]["amount_due"] and first["created"] == invoices[0]["created"]

    synced = workspace.cli("sync", "stripe", "--sandbox", "-s", "invoices")
    assert synced.returncode == 0, synced.stderr
    assert workspace.query("SELECT count(*) FROM invoices") == [(200,)]

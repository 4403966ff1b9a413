"""Xero's warehouse-driven push: Stripe invoices (synced from the sandbox) created in Xero in one
batch, read back for their payment status, left alone when unchanged, updated when they change."""

from __future__ import annotations

import duckdb

from .test_sync_xero import INVOICES, Xero, xero  # noqa: F401  (the connected-Xero fixture)


def test_stripe_invoices_are_pushed_once_read_back_and_updated_when_changed(xero: Xero) -> None:  # noqa: F811
    synced = xero.cli("sync", "stripe", "-s", "invoices")
    assert synced.returncode == 0, synced.stderr

    pushed = xero.cli("push", "xero", "--connection", "acme")
    assert pushed.returncode == 0, pushed.stderr
    assert "invoices -> acme: 5 rows, 5 created, 0 updated, 0 unchanged, 0 failed (1 calls)" in pushed.stdout
    assert "payment_status -> acme: 5 rows, 0 created, 5 updated, 0 unchanged, 0 failed" in pushed.stdout
    posts = [r for r in xero.sandbox.requests("xero") if r["method"] == "POST" and r["path"] == INVOICES]
    (post,) = posts
    sent = {i["Reference"]: i for i in post["body"]["Invoices"]}
    assert set(sent) == {f"in_1Q0{n}ZxLkdIwHu7ix000{n}" for n in range(1, 6)}
    paid = sent["in_1Q01ZxLkdIwHu7ix0001"]
    assert paid["Type"] == "ACCREC" and paid["Status"] == "AUTHORISED" and "InvoiceID" not in paid
    assert paid["LineItems"] == [
        {
            "Description": paid["LineItems"][0]["Description"],
            "Quantity": 1,
            "UnitAmount": 1500.0,
            "AccountCode": "200",
        }
    ]
    assert post["headers"]["xero-tenant-id"] and post["headers"]["idempotency-key"].startswith("mf-")

    (read,) = xero.gets(INVOICES)[-1:]
    ids = read["query"]["IDs"].split(",")
    assert len(ids) == 5
    rows = xero.workspace.query(
        "SELECT description, status FROM invoices WHERE _provider = 'xero' AND _connection_id = 'acme'"
    )
    assert {r[0] for r in rows} >= {"in_1Q01ZxLkdIwHu7ix0001", "in_1Q03ZxLkdIwHu7ix0003"}  # read back
    assert ("in_1Q01ZxLkdIwHu7ix0001", "authorised") in rows and ("in_1Q05ZxLkdIwHu7ix0005", "draft") in rows

    xero.sandbox.clear_requests()
    again = xero.cli("push", "xero", "invoices", "--connection", "acme")
    assert "5 rows, 0 created, 0 updated, 5 unchanged, 0 failed (0 calls)" in again.stdout
    assert not xero.sandbox.requests("xero")  # nothing changed: nothing sent

    path = xero.workspace.warehouse_url.removeprefix("duckdb:///")
    with duckdb.connect(path) as con:
        con.execute("UPDATE invoices SET total = 1600 WHERE id = 'in_1Q01ZxLkdIwHu7ix0001'")
    xero.sandbox.clear_requests()
    changed = xero.cli("push", "xero", "invoices", "--connection", "acme")
    assert "1 updated" in changed.stdout
    (update,) = [
        i
        for r in xero.sandbox.requests("xero")
        if r["method"] == "POST"
        for i in r["body"]["Invoices"]
        if i["Reference"] == "in_1Q01ZxLkdIwHu7ix0001"
    ]
    assert update["InvoiceID"] in ids and update["LineItems"][0]["UnitAmount"] == 1600.0

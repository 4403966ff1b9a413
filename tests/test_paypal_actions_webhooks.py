"""PayPal write-back and webhooks: create-and-send an invoice once however often it is retried
(PayPal-Request-Id), PayPal's error shape read; deliveries signed as PayPal signs them (SHA256withRSA
over transmission id|time|webhook id|crc32) stored and applied through `manifold serve`, forged
ones and certificates off PayPal's hosts refused."""

from __future__ import annotations

import base64
import json
import os
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from engine.webhooks.keys import KeyStore

from .conftest import Workspace
from .test_webhook_support import rsa_key, self_signed_pem
from .web_support import running_service, settings_for

WEBHOOK_ID = "8PT597110X687430LKGECATA"  # sandbox.env PAYPAL_WEBHOOK_ID
CERT_URL = "https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
INVOICE = {
    "currency_code": "USD",
    "recipient_email": "omar@globex.example",
    "recipient_given_name": "Omar",
    "recipient_surname": "Haddad",
    "invoice_number": "0099",
    "note": "Thank you for your business.",
    "term_type": "NET_30",
    "items": [
        {
            "name": "Sponsored reel",
            "quantity": "1",
            "unit_amount": {"currency_code": "USD", "value": "1500.00"},
        },
        {"name": "Usage rights", "quantity": "2", "unit_amount": {"currency_code": "USD", "value": "125.00"}},
    ],
}


def action(space: Workspace, given: dict[str, Any]) -> tuple[int, Any, str]:
    assert space.sandbox is not None
    env = space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])
    done = space.cli(
        "action",
        "paypal",
        "create_invoice",
        "--input",
        json.dumps(given),
        "--sandbox-url",
        space.sandbox.url,
        env=env,
    )
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else None, done.stderr


def posts(space: Workspace) -> list[dict[str, Any]]:
    assert space.sandbox is not None
    return [
        r for r in space.sandbox.requests("paypal") if r["method"] == "POST" and r["path"].startswith("/v2/")
    ]


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    workspace.start_sandbox()
    return workspace


def test_a_retried_create_and_send_is_one_sent_invoice_that_lands_in_invoices(space: Workspace) -> None:
    code, first, err = action(space, INVOICE)
    assert code == 0, err
    invoice = first["result"]
    assert invoice["id"].startswith("INV2-") and invoice["status"] == "SENT"
    assert invoice["detail"]["metadata"]["first_sent_time"].endswith("Z")
    create, send = posts(space)
    assert create["path"] == "/v2/invoicing/invoices" and create["status"] == 201
    assert create["headers"]["prefer"] == "return=representation"
    assert create["headers"]["content-type"] == "application/json"
    assert create["body"]["detail"]["currency_code"] == "USD"
    assert create["body"]["primary_recipients"][0]["billing_info"]["email_address"] == "omar@globex.example"
    assert create["body"]["items"][1]["unit_amount"] == {"currency_code": "USD", "value": "125.00"}
    assert send["path"] == f"/v2/invoicing/invoices/{invoice['id']}/send" and send["status"] == 200
    assert send["body"] == {"send_to_recipient": True, "send_to_invoicer": True}
    keys = [create["headers"]["paypal-request-id"], send["headers"]["paypal-request-id"]]
    assert keys[0] == first["idempotency_key"] and len(set(keys)) == 2

    code, again, err = action(space, INVOICE)  # the same call, retried
    assert code == 0, err
    assert again["result"]["id"] == invoice["id"]
    assert space.sandbox is not None
    ids = [r["id"] for r in space.sandbox.records("paypal", "/v2/invoicing/invoices")]
    assert len(ids) == 6 and ids.count(invoice["id"]) == 1  # five fixtures and one created
    rows = space.query(
        f"SELECT status, number, total, customer_email, _provider FROM invoices WHERE id = '{invoice['id']}'"
    )
    assert [(s, n, c, p) for s, n, _, c, p in rows] == [("sent", "0099", "omar@globex.example", "paypal")]


def test_a_refusal_reads_paypals_error_shape(space: Workspace) -> None:
    assert space.sandbox is not None
    space.sandbox.add_fault("paypal", "status", "/v2/invoicing/invoices", status=422)
    code, _, err = action(space, {**INVOICE, "invoice_number": "0100"})
    assert code == 1 and "the provider refused it (422, UNPROCESSABLE_ENTITY" in err
    assert '"provider_code": "UNPROCESSABLE_ENTITY"' in err
    assert "ESandboxSecret" not in err


# ---------------------------------------------------------------- webhooks


def capture_event(event_id: str, event_type: str, status: str, at: str) -> dict[str, Any]:
    """PAYMENT.CAPTURE.* as PayPal sends it: the capture (payments v2) as `resource`."""
    return {
        "id": event_id,
        "create_time": at,
        "resource_type": "capture",
        "event_type": event_type,
        "event_version": "1.0",
        "resource_version": "2.0",
        "summary": f"Payment {status.lower()} for $ 120.0 USD",
        "resource": {
            "id": "5O190127TN364715T",
            "status": status,
            "amount": {"currency_code": "USD", "value": "120.00"},
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE", "dispute_categories": ["ITEM_NOT_RECEIVED"]},
            "seller_receivable_breakdown": {
                "gross_amount": {"currency_code": "USD", "value": "120.00"},
                "paypal_fee": {"currency_code": "USD", "value": "3.98"},
                "net_amount": {"currency_code": "USD", "value": "116.02"},
            },
            "invoice_id": "ACME-1001",
            "custom_id": "order-7781",
            "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
            "create_time": "2025-01-08T10:15:40Z",
            "update_time": at,
            "links": [
                {
                    "href": "https://api.paypal.com/v2/payments/captures/5O190127TN364715T",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": "https://api.paypal.com/v2/payments/captures/5O190127TN364715T/refund",
                    "rel": "refund",
                    "method": "POST",
                },
            ],
        },
        "links": [
            {
                "href": f"https://api.paypal.com/v1/notifications/webhooks-events/{event_id}",
                "rel": "self",
                "method": "GET",
            },
            {
                "href": f"https://api.paypal.com/v1/notifications/webhooks-events/{event_id}/resend",
                "rel": "resend",
                "method": "POST",
            },
        ],
    }


def invoice_event(space: Workspace, event_id: str, at: str) -> dict[str, Any]:
    """INVOICING.INVOICE.PAID: the v2 invoice as `resource.invoice`."""
    invoices = json.loads((space.connectors / "fixtures" / "paypal" / "invoices.json").read_text())
    sent = dict(invoices[1], status="PAID", due_amount={"currency_code": "USD", "value": "0.00"})
    sent["payments"] = {"paid_amount": {"currency_code": "USD", "value": "450.00"}, "transactions": []}
    return {
        "id": event_id,
        "create_time": at,
        "resource_type": "invoices",
        "event_type": "INVOICING.INVOICE.PAID",
        "event_version": "1.0",
        "resource_version": "2.0",
        "summary": "An invoice was paid",
        "resource": {"invoice": sent},
        "links": [
            {
                "href": f"https://api.paypal.com/v1/notifications/webhooks-events/{event_id}",
                "rel": "self",
                "method": "GET",
            }
        ],
    }


def signed(body: bytes, *, cert_url: str = CERT_URL, signer: str = "paypal") -> dict[str, str]:
    """Headers as PayPal sends them: SHA256withRSA over id|time|webhook id|crc32 (unsigned decimal)."""
    transmission_id = "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
    sent_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = f"{transmission_id}|{sent_at}|{WEBHOOK_ID}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()
    signature = rsa_key(signer).sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-TIME": sent_at,
        "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
        "PAYPAL-CERT-URL": cert_url,
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "Content-Type": "application/json",
    }


def test_webhooks_through_manifold_serve_are_verified_stored_and_applied(
    space: Workspace, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert space.sandbox is not None
    synced = space.cli("sync", "paypal", "--sandbox-url", space.sandbox.url)
    assert synced.returncode == 0, synced.stderr
    assert space.query("SELECT status FROM payments WHERE id = '5O190127TN364715T'") == [("completed",)]
    monkeypatch.setenv("PAYPAL_WEBHOOK_ID", WEBHOOK_ID)
    now = time.time()
    pem = self_signed_pem(rsa_key("paypal"), not_before=now - 86400, not_after=now + 86400 * 30)
    fetched: list[str] = []

    def fetch(url: str) -> bytes:  # PayPal's certificate host, answered locally
        fetched.append(url)
        return pem

    control_url = os.environ["MANIFOLD_CONTROL_URL"]
    settings = settings_for(tmp_path, space.connectors, control_url=control_url)
    later = datetime.fromtimestamp(now + 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    capture = json.dumps(
        capture_event("WH-58D329510W468432D-8HN650336L201105X", "PAYMENT.CAPTURE.DENIED", "DECLINED", later)
    ).encode()
    paid = json.dumps(invoice_event(space, "WH-2WR32451HC0233532-67976317FL4543714", later)).encode()
    with running_service(settings, keys=KeyStore(fetch)) as running, running.client() as client:
        assert client.post("/webhooks/paypal", content=capture, headers=signed(capture)).status_code == 200
        assert (
            client.post("/webhooks/paypal", content=capture, headers=signed(capture)).status_code == 200
        )  # a redelivery
        assert client.post("/webhooks/paypal", content=paid, headers=signed(paid)).status_code == 200
        forged = client.post("/webhooks/paypal", content=capture, headers=signed(capture, signer="attacker"))
        assert forged.status_code == 401
        tampered = capture.replace(b"120.00", b"1.00")
        assert client.post("/webhooks/paypal", content=tampered, headers=signed(capture)).status_code == 401
        elsewhere = "https://certs.evil.example.com/v1/notifications/certs/CERT-360caa42"
        off_list = client.post(
            "/webhooks/paypal", content=capture, headers=signed(capture, cert_url=elsewhere)
        )
        assert off_list.status_code == 401
        stored = running.service.db.query(
            "SELECT event_id, event_type FROM webhook_events WHERE connector = 'paypal' ORDER BY event_id"
        )
    assert fetched == [CERT_URL]  # fetched once (cached), never from the host off the allow-list
    assert [(r["event_id"], r["event_type"]) for r in stored] == [
        ("WH-2WR32451HC0233532-67976317FL4543714", "INVOICING.INVOICE.PAID"),
        ("WH-58D329510W468432D-8HN650336L201105X", "PAYMENT.CAPTURE.DENIED"),
    ]
    applied = space.cli("apply-events", env=space.env(MANIFOLD_CONTROL_URL=control_url))
    assert applied.returncode == 0, applied.stderr
    assert "2 applied" in applied.stdout
    (payment,) = space.query(
        "SELECT kind, status, amount, fee, invoice_id, parent_id FROM payments WHERE id = '5O190127TN364715T'"
    )
    assert (
        payment[:2] == ("capture", "declined") and str(payment[2]) == "120.00" and str(payment[3]) == "3.98"
    )
    assert payment[4:] == ("ACME-1001", "5O190127TN364715T")
    assert space.query(
        "SELECT status, amount_paid, amount_remaining FROM invoices WHERE id = 'INV2-Z56S-5LLA-Q52L-CPZ5'"
    ) == [("paid", pytest.approx(450), pytest.approx(0))]

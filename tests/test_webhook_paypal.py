"""The `rsa_cert` scheme: PayPal's self-verification with the certificate at PAYPAL-CERT-URL."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from engine.webhooks import KeyStore, RsaCertVerify, WebhookRejected, verify

from .test_webhook_support import NOW, key_server, rsa_key, self_signed_pem

WEBHOOK_ID = "8PT597110X687430LKGECATA"
CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
BODY = json.dumps(
    {
        "id": "WH-58D329510W468432D-8HN650336L201105X",
        "create_time": "2025-06-01T10:00:00.000Z",
        "resource_type": "capture",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "event_version": "1.0",
        "resource_version": "2.0",
        "summary": "Payment completed for $ 7.47 USD",
        "resource": {
            "id": "42311647XV020574X",
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": "7.47"},
        },
        "links": [{"href": "https://api.paypal.com/v1/notifications/webhooks-events/WH-58D3", "rel": "self"}],
    }
).encode()


def paypal_headers(
    cert_url: str,
    body: bytes = BODY,
    *,
    webhook_id: str = WEBHOOK_ID,
    time: str = "2025-06-13T15:06:40Z",
    signer: str = "paypal",
    crc: int | None = None,
) -> dict[str, str]:
    """Sign as PayPal: SHA256withRSA over transmission_id|transmission_time|webhook_id|crc32(body)."""
    transmission_id = "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
    crc = zlib.crc32(body) & 0xFFFFFFFF if crc is None else crc
    message = f"{transmission_id}|{time}|{webhook_id}|{crc}".encode()
    signature = rsa_key(signer).sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-TIME": time,
        "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
        "PAYPAL-CERT-URL": cert_url,
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    }


@pytest.fixture()
def server() -> Iterator[Any]:
    with key_server({CERT_PATH: self_signed_pem(rsa_key("paypal"))}) as running:
        yield running


def local_spec(**extra: Any) -> RsaCertVerify:
    """Tests add 127.0.0.1 to the allow-list explicitly."""
    return RsaCertVerify(scheme="rsa_cert", webhook_id=WEBHOOK_ID, cert_hosts=["127.0.0.1"], **extra)


LOOPBACK = KeyStore(allow_http_loopback=True)


def rejected(
    spec: RsaCertVerify, headers: dict[str, str], body: bytes = BODY, keys: KeyStore | None = None
) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as info:
        verify(spec, [], headers, body, NOW, keys=keys or KeyStore(allow_http_loopback=True))
    return info.value


def test_a_delivery_signed_by_paypal_is_accepted_and_the_cert_is_cached(server: Any) -> None:
    keys = KeyStore(allow_http_loopback=True)
    headers = paypal_headers(server.url(CERT_PATH))
    for _ in range(3):
        verified = verify(local_spec(), [], headers, BODY, NOW, keys=keys)
        assert verified.attributes["transmission_id"] == "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
    assert server.hits[CERT_PATH] == 1


def test_crc32_is_the_unsigned_decimal(server: Any) -> None:
    body = next(b for i in range(64) if zlib.crc32(b := BODY + b" " * i) >= 2**31)
    url = server.url(CERT_PATH)
    assert verify(local_spec(), [], paypal_headers(url, body), body, NOW, keys=LOOPBACK)
    signed_crc = zlib.crc32(body) - 2**32  # what a signed-int implementation would print
    assert (
        rejected(local_spec(), paypal_headers(url, body, crc=signed_crc), body).reason
        == "signature does not match"
    )


def test_simulator_events_use_the_literal_webhook_id(server: Any) -> None:
    spec = RsaCertVerify(scheme="rsa_cert", webhook_id="WEBHOOK_ID", cert_hosts=["127.0.0.1"])
    assert verify(
        spec, [], paypal_headers(server.url(CERT_PATH), webhook_id="WEBHOOK_ID"), BODY, NOW, keys=LOOPBACK
    )


def test_tampering_another_webhook_id_or_another_signer_is_rejected(server: Any) -> None:
    url = server.url(CERT_PATH)
    assert rejected(local_spec(), paypal_headers(url), BODY.replace(b"7.47", b"9.47")).status == 401
    assert rejected(local_spec(), paypal_headers(url, webhook_id="OTHERWEBHOOK")).status == 401
    assert rejected(local_spec(), paypal_headers(url, signer="attacker")).reason == "signature does not match"
    headers = paypal_headers(url)
    headers["PAYPAL-TRANSMISSION-TIME"] = "2025-06-13T15:06:41Z"
    assert rejected(local_spec(), headers).status == 401


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@evil.example.com/cert",
        "https://user@api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "file:///etc/passwd",
        "https://[::1/cert",
        "not a url",
        "https://api.paypal.com/v1/notifications/certs/\x00CERT",
        "https://api.paypal.com/v1/notifications/certs/CERT 1",
        "https://api.paypal.com/" + "a" * 3000,
    ],
)
def test_certificate_urls_off_the_allow_list_are_never_fetched(url: str) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return b""

    keys = KeyStore(fetch, allow_http_loopback=True)
    spec = RsaCertVerify(scheme="rsa_cert", webhook_id=WEBHOOK_ID)  # the default PayPal hosts
    assert rejected(spec, paypal_headers(url), keys=keys).status == 401
    assert fetched == []


def test_loopback_needs_both_the_allow_list_and_the_explicit_http_option(server: Any) -> None:
    url = server.url(CERT_PATH)
    default_hosts = RsaCertVerify(scheme="rsa_cert", webhook_id=WEBHOOK_ID)
    assert rejected(default_hosts, paypal_headers(url)).reason == "certificate URL host is not allowed"
    assert (
        rejected(local_spec(), paypal_headers(url), keys=KeyStore()).reason == "certificate URL must be https"
    )
    assert server.hits == {}


def test_the_default_hosts_are_fetched_over_https() -> None:
    fetched: list[str] = []
    pem = self_signed_pem(rsa_key("paypal"))

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return pem

    keys = KeyStore(fetch)
    spec = RsaCertVerify(scheme="rsa_cert", webhook_id=WEBHOOK_ID)
    for host in ("api.paypal.com", "api-m.sandbox.paypal.com"):
        url = f"https://{host}/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
        assert verify(spec, [], paypal_headers(url), BODY, NOW, keys=keys)
    assert len(fetched) == 2


@pytest.mark.parametrize(
    "header",
    [
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
    ],
)
def test_every_paypal_header_is_required(server: Any, header: str) -> None:
    headers = paypal_headers(server.url(CERT_PATH))
    del headers[header]
    error = rejected(local_spec(), headers)
    assert error.status == 401 and header in error.reason


@pytest.mark.parametrize(
    ("header", "value"), [("PAYPAL-AUTH-ALGO", "SHA1withRSA"), ("PAYPAL-TRANSMISSION-SIG", "%%not base64%%")]
)
def test_another_algorithm_or_a_malformed_signature_is_rejected(server: Any, header: str, value: str) -> None:
    headers = paypal_headers(server.url(CERT_PATH))
    headers[header] = value
    assert rejected(local_spec(), headers).status == 401


def test_an_expired_certificate_is_rejected() -> None:
    pem = self_signed_pem(rsa_key("paypal"), not_before=NOW - 10 * 86400, not_after=NOW - 86400)
    with key_server({CERT_PATH: pem}) as running:
        assert rejected(local_spec(), paypal_headers(running.url(CERT_PATH))).reason == (
            "PayPal certificate is not currently valid"
        )


def test_a_missing_certificate_is_503_and_garbage_is_401_and_not_cached() -> None:
    with key_server(
        {CERT_PATH: b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}
    ) as running:
        keys = KeyStore(allow_http_loopback=True)
        assert rejected(local_spec(), paypal_headers(running.url("/v1/missing")), keys=keys).status == 503
        assert rejected(local_spec(), paypal_headers(running.url(CERT_PATH)), keys=keys).status == 401
        running.documents[CERT_PATH] = self_signed_pem(rsa_key("paypal"))
        assert verify(local_spec(), [], paypal_headers(running.url(CERT_PATH)), BODY, NOW, keys=keys)


def test_transmission_time_is_only_checked_when_a_tolerance_is_set(server: Any) -> None:
    headers = paypal_headers(server.url(CERT_PATH), time="2025-01-01T00:00:00Z")
    assert verify(local_spec(), [], headers, BODY, NOW, keys=LOOPBACK)
    assert rejected(local_spec(tolerance=600), headers).reason == "stale timestamp"
    fresh = paypal_headers(server.url(CERT_PATH), time="2025-06-15T15:06:40Z")  # NOW, as PayPal writes it
    assert verify(local_spec(tolerance=600), [], fresh, BODY, NOW, keys=LOOPBACK)
    garbled = paypal_headers(server.url(CERT_PATH), time="yesterday")
    assert rejected(local_spec(tolerance=600), garbled).reason == "malformed PAYPAL-TRANSMISSION-TIME"

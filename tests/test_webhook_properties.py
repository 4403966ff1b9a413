"""Property tests: random headers and bodies against every scheme.

Whatever arrives, `verify` either raises `WebhookRejected` (never anything else, so never a 500)
or accepts a delivery whose signature is valid: nothing random is ever accepted.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.webhooks import (
    AnyVerify,
    ChannelTokenVerify,
    JwtVerify,
    KeyStore,
    RsaCertVerify,
    WebhookRejected,
    verify,
)

from .test_webhook_paypal import paypal_headers
from .test_webhook_schemes import PROVIDERS, Provider, spec_for
from .test_webhook_support import NOW, b64url, rsa_key, self_signed_pem

PAYPAL_CERT_URL = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
CERTS = json.dumps({"a": self_signed_pem(rsa_key("a")).decode()}).encode()
PAYPAL_PEM = self_signed_pem(rsa_key("paypal"))
KEYS = KeyStore(lambda url: PAYPAL_PEM if "paypal" in url else CERTS)
CHANNEL_TOKEN = "k3Jd9sLq0ZxC7vB2nM4pR8tW1yU6oI5e"

CASES: list[tuple[str, AnyVerify, list[str]]] = [
    (p.name, spec_for(p.name), [p.secret, p.other_secret]) for p in PROVIDERS
]
CASES += [
    (
        "gmail",
        JwtVerify(
            scheme="jwt", audience="https://x/webhooks/gmail", service_account="sa@p.iam.gserviceaccount.com"
        ),
        [],
    ),
    ("paypal", RsaCertVerify(scheme="rsa_cert", webhook_id="8PT597110X687430LKGECATA"), []),
    ("calendar", ChannelTokenVerify(scheme="channel_token", secret="t"), [CHANNEL_TOKEN]),
]

HEADER_NAMES = [
    "Stripe-Signature", "X-Slack-Signature", "X-Slack-Request-Timestamp", "x-xero-signature",
    "X-DocuSign-Signature-1", "X-DocuSign-Signature-2", "X-Notion-Signature", "X-Hub-Signature-256",
    "TikTok-Signature", "webhook-id", "webhook-timestamp", "webhook-signature", "Authorization",
    "PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG", "PAYPAL-CERT-URL",
    "PAYPAL-AUTH-ALGO", "X-Goog-Channel-ID", "X-Goog-Channel-Token", "X-Goog-Resource-State",
    "X-Goog-Message-Number",
]  # fmt: skip

near_now = st.integers(int(NOW) - 400, int(NOW) + 400).map(str)
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex) | st.text("0123456789abcdefABCDEF", max_size=70)
b64 = st.binary(min_size=1, max_size=300).map(lambda b: base64.b64encode(b).decode())
jwt_like = st.builds(
    lambda header, claims, sig: "Bearer " + ".".join(b64url(x) for x in (header, claims, sig)),
    st.sampled_from(
        [b'{"alg":"RS256","kid":"a"}', b'{"alg":"RS256","kid":"zz"}', b'{"alg":"none"}', b"[]", b"\xff"]
    ),
    st.binary(max_size=200)
    | st.just(b'{"aud":"https://x/webhooks/gmail","email":"sa@p.iam.gserviceaccount.com"}'),
    st.binary(min_size=0, max_size=300),
)
values = st.one_of(
    st.text(max_size=120),
    near_now,
    hex64,
    b64,
    st.builds(lambda t, s: f"t={t},v1={s}", near_now, hex64),
    st.builds(lambda t, s: f"t={t},s={s}", near_now, hex64),
    st.builds("sha256={}".format, hex64),
    st.builds("v0={}".format, hex64),
    st.lists(b64.map("v1,{}".format), max_size=4).map(" ".join),
    jwt_like,
    st.sampled_from(
        [PAYPAL_CERT_URL, "https://evil.example.com/cert", "http://127.0.0.1:1/cert", "SHA256withRSA"]
    ),
    st.sampled_from(["sync", "exists", "not_exists", "2025-06-15T15:06:40Z", CHANNEL_TOKEN[:-1]]),
)
headers_strategy = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | st.text(min_size=1, max_size=30), values, max_size=7
)
bodies = st.binary(max_size=400) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(case=st.sampled_from(CASES), headers=headers_strategy, body=bodies)
def test_random_deliveries_are_rejected_never_crash(
    case: tuple[str, AnyVerify, list[str]], headers: dict[str, str], body: bytes
) -> None:
    _, spec, secrets = case
    with pytest.raises(WebhookRejected) as info:
        verify(spec, secrets, headers, body, NOW, keys=KEYS)
    assert info.value.status in (400, 401, 503)


@settings(max_examples=100, deadline=None)
@given(provider=st.sampled_from(PROVIDERS), body=bodies)
def test_a_valid_signature_never_covers_another_body(provider: Provider, body: bytes) -> None:
    if body == provider.body:
        return
    headers = provider.sign(provider.secret, provider.body, int(NOW))
    with pytest.raises(WebhookRejected):
        verify(spec_for(provider.name), [provider.secret], headers, body, NOW, keys=KEYS)


@settings(max_examples=100, deadline=None)
@given(provider=st.sampled_from(PROVIDERS), data=st.data())
def test_replacing_a_signed_header_with_anything_else_is_rejected(provider: Provider, data: Any) -> None:
    headers = provider.sign(provider.secret, provider.body, int(NOW))
    name = data.draw(st.sampled_from([n for n in headers if n != "X-Authorization-Digest"]))
    value = data.draw(values)
    if value.strip() == headers[name].strip():
        return
    with pytest.raises(WebhookRejected):
        verify(
            spec_for(provider.name),
            [provider.secret],
            {**headers, name: value},
            provider.body,
            NOW,
            keys=KEYS,
        )


@settings(max_examples=60, deadline=None)
@given(
    body=bodies, name=st.sampled_from(["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME"]), value=values
)
def test_paypal_signatures_cover_the_body_and_the_transmission(body: bytes, name: str, value: str) -> None:
    spec = RsaCertVerify(scheme="rsa_cert", webhook_id="8PT597110X687430LKGECATA")
    original = b'{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}'
    headers = paypal_headers(PAYPAL_CERT_URL, original)
    assert verify(spec, [], headers, original, NOW, keys=KEYS)
    if body != original:
        with pytest.raises(WebhookRejected):
            verify(spec, [], headers, body, NOW, keys=KEYS)
    if value != headers[name]:
        with pytest.raises(WebhookRejected):
            verify(spec, [], {**headers, name: value}, original, NOW, keys=KEYS)

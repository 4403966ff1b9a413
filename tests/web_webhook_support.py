"""Provider-style connectors for `manifold serve`'s webhook tests, and deliveries signed as each
provider signs them. This module holds no tests.

    with key_server(key_documents()) as keys:
        folder = write_connectors(tmp / "connectors", keys.url(""))
        styles = provider_styles(keys.url(""))
        with serve(tmp, folder) as running:            # the env of ENV must be set
            slack = styles["slack"]
            running.client().post(slack.path, content=slack.body, headers=slack.sign(slack.body, now()))

Signatures are computed with the real clock: the server checks timestamps against `time.time()`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from engine.control.connections import ConnectionRecord
from engine.webhooks.keys import KeyStore

from .test_webhook_jwt import BODY as PUBSUB_BODY
from .test_webhook_paypal import BODY as PAYPAL_BODY
from .test_webhook_paypal import CERT_PATH, WEBHOOK_ID, paypal_headers
from .test_webhook_schemes import (
    BY_NAME,
    META_BODY,
    XERO_BODY,
    google_push,
    sign_stripe,
)
from .test_webhook_support import jwk_of, rsa_key, self_signed_pem, sign_rs256_jwt
from .web_support import RunningService, running_service, settings_for

Headers = dict[str, str]
Signer = Callable[[bytes, int], Headers]

SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"
KEYS_PLACEHOLDER = "@KEYS@"
JWKS_PATH = "/oauth2/v3/certs"
GMAIL_KID = "gmail-push-kid"
GMAIL_AUDIENCE = "https://manifold.example.com/webhooks/gmail"
GMAIL_ACCOUNT = "gmail-push@my-project.iam.gserviceaccount.com"
META_VERIFY_TOKEN = "meatyhamhock"
CHANNEL_TOKEN = "target=manifold&connection=maya&nonce=7d1c9e"
DOCUSIGN_SECOND_KEY = "ZmQ0NzI2NzMtYjQ0NS00ZDY0LWI4ZTMtOGY4ZmU2OTNmY2Rh"
CONNECTION_SECRETS = {"acme": "whsec_acme_3kT9pQ2vX7mL1nR8", "globex": "whsec_globex_Zq4wE6rT1yU0iO5p"}

ENV = {
    "SLACK_SIGNING_SECRET": BY_NAME["slack"].secret,
    "XERO_WEBHOOK_KEY": BY_NAME["xero"].secret,
    "DOCUSIGN_CONNECT_KEY_1": BY_NAME["docusign"].secret,
    "DOCUSIGN_CONNECT_KEY_2": DOCUSIGN_SECOND_KEY,
    "NOTION_WEBHOOK_SECRET": BY_NAME["notion"].secret,
    "META_APP_SECRET": BY_NAME["meta"].secret,
    "META_VERIFY_TOKEN": META_VERIFY_TOKEN,
    "TIKTOK_CLIENT_SECRET": BY_NAME["tiktok"].secret,
    "STANDARD_WEBHOOK_SECRET": BY_NAME["standard"].secret,
    "GMAIL_PUSH_AUDIENCE": GMAIL_AUDIENCE,
    "GMAIL_PUSH_SERVICE_ACCOUNT": GMAIL_ACCOUNT,
    "PAYPAL_WEBHOOK_ID": WEBHOOK_ID,
    "GOOGLE_CHANNEL_TOKEN": CHANNEL_TOKEN,
}

# ---------------------------------------------------------------- connectors, as each provider documents it

WEBHOOKS: dict[str, str] = {
    # api.slack.com/authentication/verifying-requests-from-slack; Events API event_callback
    "slack": """
webhooks:
  env: [SLACK_SIGNING_SECRET]
  verify:
    scheme: hmac
    secret: "{{ env.SLACK_SIGNING_SECRET }}"
    header: X-Slack-Signature
    format: "v0={signature}"
    signed: "v0:{timestamp}:{body}"
    timestamp_header: X-Slack-Request-Timestamp
    tolerance: 300
  handshake: {type: slack_url_verification}
  event_id: event_id
  event_type: event.type
""",
    # developer.xero.com/documentation/guides/webhooks: base64 HMAC-SHA256 of the body, batches
    "xero": """
webhooks:
  env: [XERO_WEBHOOK_KEY]
  verify: {scheme: hmac, secret: "{{ env.XERO_WEBHOOK_KEY }}", header: x-xero-signature, encoding: base64}
  handshake: {type: xero_intent_to_receive}
  event_id: {body_sha256: true}
""",
    # DocuSign Connect HMAC: one X-DocuSign-Signature-n header per active key
    "docusign": """
webhooks:
  env: [DOCUSIGN_CONNECT_KEY_1, DOCUSIGN_CONNECT_KEY_2]
  verify:
    scheme: hmac
    secret: ["{{ env.DOCUSIGN_CONNECT_KEY_1 }}", "{{ env.DOCUSIGN_CONNECT_KEY_2 }}"]
    header: "X-DocuSign-Signature-{n}"
    encoding: base64
  event_id: [data.envelopeId, event, generatedDateTime]
  event_type: event
""",
    # developers.notion.com/reference/webhooks: the verification_token is the signing secret
    "notion": """
webhooks:
  env: [NOTION_WEBHOOK_SECRET]
  verify:
    scheme: hmac
    secret: "{{ env.NOTION_WEBHOOK_SECRET }}"
    header: X-Notion-Signature
    format: "sha256={signature}"
  handshake: {type: notion_verification_token}
  event_id: id
  event_type: type
""",
    # developers.facebook.com/docs/graph-api/webhooks/getting-started (WhatsApp, Instagram)
    "meta": """
webhooks:
  env: [META_APP_SECRET, META_VERIFY_TOKEN]
  verify:
    scheme: hmac
    secret: "{{ env.META_APP_SECRET }}"
    header: X-Hub-Signature-256
    format: "sha256={signature}"
  handshake: {type: meta_subscribe, verify_token: "{{ env.META_VERIFY_TOKEN }}"}
  event_id: {body_sha256: true}
  event_type: object
""",
    # developers.tiktok.com/doc/webhooks-verification
    "tiktok": """
webhooks:
  env: [TIKTOK_CLIENT_SECRET]
  verify:
    scheme: hmac
    secret: "{{ env.TIKTOK_CLIENT_SECRET }}"
    header: TikTok-Signature
    format: "t={timestamp},s={signature}"
    signed: "{timestamp}.{body}"
    tolerance: 300
  event_id: [user_openid, event, create_time]
  event_type: event
""",
    # standardwebhooks.com (Svix, Resend, ...)
    "standard": """
webhooks:
  env: [STANDARD_WEBHOOK_SECRET]
  verify:
    scheme: hmac
    secret: "{{ env.STANDARD_WEBHOOK_SECRET }}"
    secret_format: whsec_base64
    header: webhook-signature
    format: "v1,{signature}"
    separator: " "
    signed: "{id}.{timestamp}.{body}"
    id_header: webhook-id
    timestamp_header: webhook-timestamp
    encoding: base64
    tolerance: 300
  event_id: {header: webhook-id}
  event_type: type
""",
    # cloud.google.com/pubsub/docs/authenticate-push-subscriptions (Gmail watch); keys served locally
    "gmail": """
webhooks:
  env: [GMAIL_PUSH_AUDIENCE, GMAIL_PUSH_SERVICE_ACCOUNT]
  verify:
    scheme: jwt
    audience: "{{ env.GMAIL_PUSH_AUDIENCE }}"
    service_account: "{{ env.GMAIL_PUSH_SERVICE_ACCOUNT }}"
    certs_url: "@KEYS@/oauth2/v3/certs"
  event_id: message.messageId
  event_type: {value: gmail.history}
""",
    # developer.paypal.com/api/rest/webhooks/rest: the certificate is served from loopback in tests
    "paypal": """
webhooks:
  env: [PAYPAL_WEBHOOK_ID]
  verify:
    scheme: rsa_cert
    webhook_id: "{{ env.PAYPAL_WEBHOOK_ID }}"
    cert_hosts: [127.0.0.1]
  event_id: id
  event_type: event_type
""",
    # developers.google.com/workspace/calendar/api/guides/push
    "calendar": """
webhooks:
  env: [GOOGLE_CHANNEL_TOKEN]
  verify: {scheme: channel_token, secret: "{{ env.GOOGLE_CHANNEL_TOKEN }}"}
""",
    # Stripe's scheme with one endpoint secret per connected account
    "stripe_accounts": """
config:
  type: object
  properties:
    webhook_secret: {type: string}
webhooks:
  per_connection: true
  verify:
    scheme: hmac
    secret: "{{ config.webhook_secret }}"
    header: Stripe-Signature
    format: "t={timestamp},v1={signature}"
    signed: "{timestamp}.{body}"
    tolerance: 300
  event_id: id
  event_type: type
""",
    # a provider that signs nothing
    "unsigned": """
webhooks:
  verify: {scheme: none}
  event_id: id
  event_type: type
""",
}


def connector_yaml(name: str, keys_url: str) -> str:
    head = (
        f"{SCHEMA_LINE}name: {name}\ntitle: {name.replace('_', ' ').title()}\n"
        f"docs: https://example.com/{name}/docs\nbase_url: https://api.example.com/{name}\n"
        "streams: {all: {request: {path: /x}}}\n"
    )
    return head + WEBHOOKS[name].replace(KEYS_PLACEHOLDER, keys_url).lstrip("\n")


def write_connectors(folder: Path, keys_url: str) -> Path:
    """One connector file per provider style; `keys_url` is the key server's root URL."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in WEBHOOKS:
        (folder / f"{name}.yaml").write_text(connector_yaml(name, keys_url))
    return folder


def key_documents() -> dict[str, bytes]:
    """What the local key server serves: Google's JWKS and PayPal's certificate, valid now."""
    now = time.time()
    return {
        JWKS_PATH: json.dumps({"keys": [jwk_of(rsa_key("gmail"), GMAIL_KID)]}).encode(),
        CERT_PATH: self_signed_pem(rsa_key("paypal"), not_before=now - 86400, not_after=now + 86400 * 30),
    }


@contextmanager
def receiver_environment() -> Iterator[pytest.MonkeyPatch]:
    """Every receiver's env vars (ENV) and a vault key, so nothing writes state/secret.key."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MANIFOLD_SECRET_KEY", Fernet.generate_key().decode())
        for name, value in ENV.items():
            patch.setenv(name, value)
        yield patch


@contextmanager
def serve(folder: Path, connectors: Path, **settings: Any) -> Iterator[RunningService]:
    """`manifold serve` over `connectors`, with the two stripe_accounts connections saved. Needs
    MANIFOLD_SECRET_KEY and ENV set. Certificates may be fetched over http from 127.0.0.1."""
    keys = KeyStore(allow_http_loopback=True)
    with running_service(settings_for(folder, connectors, **settings), keys=keys) as running:
        for connection_id, secret in CONNECTION_SECRETS.items():
            record = ConnectionRecord(
                "stripe_accounts", connection_id, config={"webhook_secret": secret}, connected=True
            )
            running.service.connections.save(record)
        yield running


def now() -> int:
    return int(time.time())


# ---------------------------------------------------------------- deliveries, signed as each provider signs


def gmail_bearer(t: int, *, signer: str = "gmail", kid: str = GMAIL_KID, **claims: Any) -> Headers:
    """Pub/Sub push's OIDC token: RS256, iat now, exp an hour later (Google's lifetime)."""
    base = {
        "aud": GMAIL_AUDIENCE,
        "azp": "112233445566778899000",
        "email": GMAIL_ACCOUNT,
        "email_verified": True,
        "exp": t + 3600,
        "iat": t,
        "iss": "https://accounts.google.com",
        "sub": "112233445566778899000",
    }
    base.update(claims)
    token = sign_rs256_jwt(rsa_key(signer), kid, base)
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def paypal_time(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def calendar_push(state: str, number: str = "10", token: str = CHANNEL_TOKEN) -> Headers:
    return google_push(state, number, token)


UNSIGNED_BODY = b'{"id":"ping_01HZX3","type":"ping","created":1749416383}'
STRIPE_ACCOUNTS_BODY = json.dumps(
    {
        "id": "evt_1QqZxY2eZvKYlo2C0aB1cD2e",
        "object": "event",
        "account": "acct_1Nv0FGQ9RKHgCVdK",
        "type": "customer.updated",
        "data": {"object": {"id": "cus_Q1", "object": "customer"}},
    }
).encode()


@dataclass(frozen=True)
class Style:
    """One provider style's endpoint and a real delivery to it.

    `sign(body, t)` signs as the provider does with what the receiver is configured with;
    `forge(body, t)` the same with a secret or key the receiver does not know.
    """

    name: str
    path: str
    body: bytes
    event_id: str
    event_type: str | None
    sign: Signer
    forge: Signer
    connection_id: str | None = None


def _with_json(sign: Signer) -> Signer:
    return lambda body, t: {**sign(body, t), "Content-Type": "application/json"}


def _hmac_style(provider: str, event_id: str, event_type: str | None) -> Style:
    """A style signed like test_webhook_schemes' provider of that name, with its secrets."""
    p = BY_NAME[provider]
    return Style(
        name=provider,
        path=f"/webhooks/{provider}",
        body=p.body,
        event_id=event_id,
        event_type=event_type,
        sign=_with_json(lambda body, t: p.sign(p.secret, body, t)),
        forge=_with_json(lambda body, t: p.sign(p.other_secret, body, t)),
    )


def provider_styles(keys_url: str) -> dict[str, Style]:
    """Every style by connector name; `keys_url` is where PayPal's certificate is served."""
    cert_url = keys_url + CERT_PATH

    def paypal(signer: str) -> Signer:
        return lambda body, t: {
            **paypal_headers(cert_url, body, time=paypal_time(t), signer=signer),
            "Content-Type": "application/json",
        }

    acme = CONNECTION_SECRETS["acme"]
    styles = [
        _hmac_style("slack", "Ev123ABC456", "message"),
        _hmac_style("xero", hashlib.sha256(XERO_BODY).hexdigest(), None),
        _hmac_style("docusign", "93ba:envelope-completed:2025-06-01T10:00:00.0000000Z", "envelope-completed"),
        _hmac_style("notion", "367cba44-b6f3-4c92-81e7-6a2e9659efd4", "page.properties_updated"),
        _hmac_style("meta", hashlib.sha256(META_BODY).hexdigest(), "whatsapp_business_account"),
        _hmac_style(
            "tiktok",
            "act.example12345Example12345Example:authorization.removed:1749416383",
            "authorization.removed",
        ),
        _hmac_style("standard", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "invoice.paid"),
        Style(
            name="gmail",
            path="/webhooks/gmail",
            body=PUBSUB_BODY,
            event_id="2070443601311540",
            event_type="gmail.history",
            sign=lambda body, t: gmail_bearer(t),
            forge=lambda body, t: gmail_bearer(t, signer="attacker"),
        ),
        Style(
            name="paypal",
            path="/webhooks/paypal",
            body=PAYPAL_BODY,
            event_id="WH-58D329510W468432D-8HN650336L201105X",
            event_type="PAYMENT.CAPTURE.COMPLETED",
            sign=paypal("paypal"),
            forge=paypal("attacker"),
        ),
        Style(
            name="calendar",
            path="/webhooks/calendar",
            body=b"",
            event_id="4ba78bf0-6a47-11e2-bcfd-0800200c9a66:10",
            event_type="exists",
            sign=lambda body, t: calendar_push("exists"),
            forge=lambda body, t: calendar_push("exists", token=CHANNEL_TOKEN + "x"),
        ),
        Style(
            name="stripe_accounts",
            path="/webhooks/stripe_accounts/acme",
            body=STRIPE_ACCOUNTS_BODY,
            event_id="evt_1QqZxY2eZvKYlo2C0aB1cD2e",
            event_type="customer.updated",
            sign=_with_json(lambda body, t: sign_stripe(acme, body, t)),
            forge=_with_json(lambda body, t: sign_stripe(CONNECTION_SECRETS["globex"], body, t)),
            connection_id="acme",
        ),
        Style(
            name="unsigned",
            path="/webhooks/unsigned",
            body=UNSIGNED_BODY,
            event_id="ping_01HZX3",
            event_type="ping",
            sign=lambda body, t: {"Content-Type": "application/json"},
            forge=lambda body, t: {"Content-Type": "application/json"},
        ),
    ]
    return {s.name: s for s in styles}


STYLE_NAMES = list(WEBHOOKS)
SIGNED_STYLES = [n for n in STYLE_NAMES if n != "unsigned"]
TIMESTAMPED_STYLES = ["slack", "tiktok", "standard", "gmail", "stripe_accounts"]
# Styles whose signature covers the body (Pub/Sub signs the request, Google push has no body).
BODY_SIGNED = [n for n in SIGNED_STYLES if n not in ("gmail", "calendar")]
# The headers that carry each style's signature, signed timestamp and signed id.
SIGNED_HEADERS = {
    "slack": ["X-Slack-Signature", "X-Slack-Request-Timestamp"],
    "xero": ["x-xero-signature"],
    "docusign": ["X-DocuSign-Signature-1"],
    "notion": ["X-Notion-Signature"],
    "meta": ["X-Hub-Signature-256"],
    "tiktok": ["TikTok-Signature"],
    "standard": ["webhook-id", "webhook-timestamp", "webhook-signature"],
    "gmail": ["Authorization"],
    "paypal": [
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-TIME",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-CERT-URL",
        "PAYPAL-AUTH-ALGO",
    ],
    "calendar": ["X-Goog-Channel-Token"],
    "stripe_accounts": ["Stripe-Signature"],
}

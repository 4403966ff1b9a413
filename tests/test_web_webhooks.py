"""`manifold serve`'s webhook receiver over HTTP, for every provider style: deliveries signed exactly
as Slack, Xero, DocuSign, Notion, Meta, TikTok, Standard Webhooks, Google Pub/Sub (Gmail), PayPal
and Google Calendar sign them are stored once; forged, stale, unsigned, oversized, malformed or
misrouted ones are refused with the status the provider expects, and never with a 500.

One server serves the module (the control store is emptied before each test); tests that need
other settings or another environment start their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.control.inbox import Inbox
from engine.control.provider_secrets import ProviderSecrets
from engine.webhooks.receiver import SAFE_HEADERS

from .test_webhook_support import KeyServer, key_server
from .web_support import RunningService
from .web_webhook_support import (
    BODY_SIGNED,
    CHANNEL_TOKEN,
    CONNECTION_SECRETS,
    DOCUSIGN_SECOND_KEY,
    ENV,
    META_VERIFY_TOKEN,
    SIGNED_HEADERS,
    SIGNED_STYLES,
    STYLE_NAMES,
    TIMESTAMPED_STYLES,
    Style,
    calendar_push,
    gmail_bearer,
    key_documents,
    now,
    provider_styles,
    receiver_environment,
    serve,
    write_connectors,
)

NOTION_TOKEN = ENV["NOTION_WEBHOOK_SECRET"]  # Notion's verification_token is the signing secret
STATUSES = {200, 400, 401, 403, 404, 405, 413, 503}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def keys() -> Iterator[KeyServer]:
    """Google's JWKS and PayPal's certificate, served from 127.0.0.1."""
    with key_server(key_documents()) as server:
        yield server


@pytest.fixture(scope="module")
def styles(keys: KeyServer) -> dict[str, Style]:
    return provider_styles(keys.url(""))


@pytest.fixture(scope="module")
def connectors(tmp_path_factory: pytest.TempPathFactory, keys: KeyServer) -> Path:
    return write_connectors(tmp_path_factory.mktemp("webhooks") / "connectors", keys.url(""))


@pytest.fixture(scope="module")
def environment() -> Iterator[pytest.MonkeyPatch]:
    with receiver_environment() as patch:
        yield patch


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, connectors: Path, environment: pytest.MonkeyPatch
) -> Iterator[RunningService]:
    with serve(tmp_path_factory.mktemp("control"), connectors) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: RunningService) -> Iterator[httpx.Client]:
    """One client for the module: a client per request would build an SSL context each time."""
    with server.client() as client:
        yield client


@pytest.fixture
def running(server: RunningService) -> RunningService:
    """The module's server with an empty inbox, audit log and provider secrets."""
    db = server.service.db
    db.execute("DELETE FROM webhook_events")
    db.execute("DELETE FROM webhook_audit")
    db.execute("DELETE FROM oauth_keys WHERE name LIKE 'webhook_verification_token:%'")
    return server


# ---------------------------------------------------------------- helpers


def post(http: httpx.Client, style: Style, body: bytes, headers: dict[str, str]) -> httpx.Response:
    answer = http.post(style.path, content=body, headers=headers)
    assert answer.status_code in STATUSES, answer.text
    return answer


def stored(running: RunningService) -> list[tuple[str, str, str | None, str | None]]:
    rows = running.service.db.query(
        "SELECT connector, event_id, event_type, connection_id FROM webhook_events ORDER BY connector, event_id"
    )
    return [(r["connector"], r["event_id"], r["event_type"], r["connection_id"] or None) for r in rows]


def audit(running: RunningService) -> list[dict[str, Any]]:
    return running.service.db.query("SELECT * FROM webhook_audit ORDER BY id")


def outcomes(running: RunningService) -> list[tuple[str, int]]:
    return [(r["outcome"], r["status"]) for r in audit(running)]


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name.lower()}


def b64_hmac(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def assert_no_secret_in_audit(running: RunningService) -> None:
    secrets = [v for v in (*ENV.values(), *CONNECTION_SECRETS.values()) if len(v) > 8]
    for row in audit(running):
        text = json.dumps(row)
        assert not [s for s in secrets if s in text], row


# ---------------------------------------------------------------- every style, the same cases


@pytest.mark.parametrize("name", STYLE_NAMES)
def test_a_delivery_signed_as_the_provider_signs_is_stored_once(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style = styles[name]
    inbox = Inbox(running.service.db)
    t = now()
    first = post(http, style, style.body, style.sign(style.body, t))
    assert (first.status_code, first.json()) == (200, {"received": True})
    event = inbox.get(name, style.event_id, style.connection_id)
    assert event is not None and event.body == style.body and event.state == "pending"
    assert event.connection_id == style.connection_id and event.event_type == style.event_type
    assert set(event.headers) <= SAFE_HEADERS  # never a signature, token or Authorization
    retry_headers = {**style.sign(style.body, t + 1), "X-Slack-Retry-Num": "1", "User-Agent": "retry"}
    retry = post(http, style, style.body, retry_headers)  # a redelivery, signed anew a second later
    assert (retry.status_code, retry.json()) == (200, {"received": True, "duplicate": True})
    assert stored(running) == [(name, style.event_id, style.event_type, style.connection_id)]
    assert inbox.get(name, style.event_id, style.connection_id) == event  # the first delivery, unchanged
    assert outcomes(running) == [("accepted", 200), ("duplicate", 200)]
    assert [r["event_id"] for r in audit(running)] == [style.event_id, style.event_id]


def test_racing_redeliveries_of_every_style_are_stored_once_each(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    def redeliver(send: tuple[Style, int]) -> httpx.Response:
        style, t = send
        return post(http, style, style.body, style.sign(style.body, t))

    sends = [(style, now() + i) for style in styles.values() for i in range(4)]  # each signed anew
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(redeliver, sends))
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json() == {"received": True} for a in answers) == len(styles)
    assert len(stored(running)) == len(styles)
    counts = running.service.db.query("SELECT outcome, COUNT(*) AS n FROM webhook_audit GROUP BY outcome")
    assert {r["outcome"]: r["n"] for r in counts} == {"accepted": len(styles), "duplicate": 3 * len(styles)}


@pytest.mark.parametrize("name", SIGNED_STYLES)
def test_a_forged_signature_is_401_and_stores_nothing(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style = styles[name]
    answer = post(http, style, style.body, style.forge(style.body, now()))
    assert answer.status_code == 401
    assert stored(running) == []
    assert outcomes(running) == [("rejected", 401)]
    assert_no_secret_in_audit(running)


@pytest.mark.parametrize("name", BODY_SIGNED)
def test_a_tampered_body_is_401(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style = styles[name]
    tampered = style.body.replace(b"}", b' ,"x":1}', 1) if b"}" in style.body else style.body + b" "
    answer = post(http, style, tampered, style.sign(style.body, now()))
    assert answer.status_code == 401
    assert stored(running) == []


MISSING = [(name, header) for name, headers in SIGNED_HEADERS.items() for header in headers]


@pytest.mark.parametrize(("name", "header"), MISSING, ids=[f"{n}-{h}" for n, h in MISSING])
def test_a_missing_signature_header_is_401(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str, header: str
) -> None:
    style = styles[name]
    headers = style.sign(style.body, now())
    assert header.lower() in {k.lower() for k in headers}
    answer = post(http, style, style.body, without(headers, header))
    assert answer.status_code == 401, answer.text
    assert answer.text.startswith("missing")
    assert stored(running) == []
    assert outcomes(running) == [("rejected", 401)]


def test_every_signed_style_declares_its_signature_headers() -> None:
    assert sorted(SIGNED_HEADERS) == sorted(SIGNED_STYLES)


# seconds from now to sign at; a Pub/Sub token is signed at iat and lives an hour (exp), 30 s leeway
STALE = [
    (name, offset)
    for name in TIMESTAMPED_STYLES
    for offset in ([-7200, -3631, 3600] if name == "gmail" else [-3600, -301, 330, 3600])
]


@pytest.mark.parametrize(("name", "offset"), STALE, ids=[f"{n}{o:+d}" for n, o in STALE])
def test_a_stale_or_future_timestamp_is_401(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str, offset: int
) -> None:
    style = styles[name]
    answer = post(http, style, style.body, style.sign(style.body, now() + offset))
    expected = "stale timestamp"
    if name == "gmail":
        expected = "token expired" if offset < 0 else "token is not valid yet"
    assert (answer.status_code, answer.text) == (401, expected)
    assert stored(running) == []


@pytest.mark.parametrize("name", STYLE_NAMES)
def test_a_timestamp_within_the_tolerance_is_accepted(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style = styles[name]
    answer = post(http, style, style.body, style.sign(style.body, now() - 240))
    assert answer.status_code == 200 and len(stored(running)) == 1


@pytest.mark.parametrize("name", STYLE_NAMES)
def test_a_signed_body_that_is_not_json_is_400(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style = styles[name]
    body = b'{"id": "evt_1", "type": '
    answer = post(http, style, body, style.sign(body, now()))
    assert (answer.status_code, answer.text) == (400, "body is not JSON")
    assert stored(running) == []
    assert outcomes(running) == [("rejected", 400)]


NO_ID_BODIES = {
    "slack": b'{"type":"event_callback","team_id":"T123ABC456","event":{"type":"message","text":"hi"}}',
    "docusign": b'{"event":"envelope-completed","generatedDateTime":"2025-06-01T10:00:00Z","data":{}}',
    "notion": b'{"type":"page.created","entity":{"id":"153104cd","type":"page"}}',
    "tiktok": b'{"client_key":"bwo2m45353a6k85","event":"authorization.removed","create_time":1749416383}',
    "gmail": b'{"message":{"data":"e30="},"subscription":"projects/p/subscriptions/s"}',
    "paypal": b'{"event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"42311647XV020574X"}}',
    "stripe_accounts": b'{"object":"event","type":"customer.updated"}',
    "unsigned": b'{"type":"ping"}',
}


@pytest.mark.parametrize("name", sorted(NO_ID_BODIES))
def test_a_signed_delivery_without_its_event_id_is_400(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style, body = styles[name], NO_ID_BODIES[name]
    answer = post(http, style, body, style.sign(body, now()))
    assert (answer.status_code, answer.text) == (400, "event id not found in the delivery")
    assert stored(running) == []


@pytest.mark.parametrize("name", STYLE_NAMES)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str, method: str
) -> None:
    style = styles[name]
    answer = http.request(method, style.path, content=style.body, headers=style.sign(style.body, now()))
    assert answer.status_code == 405
    assert stored(running) == []


@pytest.mark.parametrize("name", [n for n in STYLE_NAMES if n != "meta"])
def test_a_get_is_405_except_for_metas_handshake(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style = styles[name]
    query = {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "1158201444"}
    answer = http.get(style.path, params=query)
    assert answer.status_code == 405 and "1158201444" not in answer.text
    assert stored(running) == []


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(
    tmp_path: Path, connectors: Path, styles: dict[str, Style], environment: pytest.MonkeyPatch
) -> None:
    with serve(tmp_path, connectors, max_body=1024) as small, small.client() as client:
        for style in styles.values():
            big = style.body[:-1] + b" " * 2048 + style.body[-1:] if style.body else b" " * 2048
            headers = style.sign(big, now())
            declared = client.post(style.path, content=big, headers=headers)
            streamed = client.post(style.path, content=iter([big[:1000], big[1000:]]), headers=headers)
            assert (declared.status_code, streamed.status_code) == (413, 413), style.name
            assert "chunked" in streamed.request.headers.get("transfer-encoding", "")
            fits = client.post(style.path, content=style.body, headers=style.sign(style.body, now()))
            assert fits.status_code == 200, (style.name, fits.text)
        rows = small.service.db.query("SELECT outcome, status, reason FROM webhook_audit WHERE status = 413")
        assert len(rows) == 2 * len(styles)
        assert {(r["outcome"], r["reason"]) for r in rows} == {("rejected", "body too large")}
        assert len(stored(small)) == len(styles)


# ---------------------------------------------------------------- handshakes


def test_metas_subscription_check_echoes_the_challenge(running: RunningService, http: httpx.Client) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY_TOKEN, "hub.challenge": "1158201444"}
    answer = http.get("/webhooks/meta", params=query)
    wrong = http.get("/webhooks/meta", params={**query, "hub.verify_token": "guess"})
    unsubscribe = http.get("/webhooks/meta", params={**query, "hub.mode": "unsubscribe"})
    no_challenge = http.get("/webhooks/meta", params={**query, "hub.challenge": ""})
    no_mode = http.get("/webhooks/meta")
    assert (answer.status_code, answer.text) == (200, "1158201444")
    assert answer.headers["content-type"].startswith("text/plain")
    assert (wrong.status_code, unsubscribe.status_code) == (403, 403)
    assert "1158201444" not in wrong.text + unsubscribe.text
    assert (no_challenge.status_code, no_mode.status_code) == (400, 405)
    assert stored(running) == []
    assert outcomes(running) == [
        ("handshake", 200),
        ("rejected", 403),
        ("rejected", 403),
        ("rejected", 400),
        ("rejected", 405),
    ]
    assert_no_secret_in_audit(running)


SLACK_CHALLENGE = b'{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'


def test_slacks_url_verification_is_answered_with_its_challenge_only_when_signed(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    slack = styles["slack"]
    answer = post(http, slack, SLACK_CHALLENGE, slack.sign(SLACK_CHALLENGE, now()))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    for headers in (
        {"Content-Type": "application/json"},
        slack.forge(SLACK_CHALLENGE, now()),
        slack.sign(SLACK_CHALLENGE, now() - 3600),
    ):
        refused = post(http, slack, SLACK_CHALLENGE, headers)
        assert refused.status_code == 401 and "3eZbrw1a" not in refused.text
    assert stored(running) == []
    assert outcomes(running) == [("handshake", 200), ("rejected", 401), ("rejected", 401), ("rejected", 401)]


def test_notions_verification_token_is_answered_and_kept_encrypted(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    notion = styles["notion"]
    body = json.dumps({"verification_token": NOTION_TOKEN}).encode()
    answer = post(http, notion, body, {"Content-Type": "application/json"})  # Notion cannot sign it yet
    assert (answer.status_code, answer.content) == (200, b"")
    assert stored(running) == []
    name = "webhook_verification_token:notion"
    secrets = ProviderSecrets(running.service.db, running.service.vault)
    assert secrets.get(name) == NOTION_TOKEN
    [row] = running.service.db.query("SELECT secret FROM oauth_keys WHERE name = ?", [name])
    assert NOTION_TOKEN not in row["secret"]
    assert outcomes(running) == [("handshake", 200)]
    for audit_row in audit(running):
        assert NOTION_TOKEN not in json.dumps(audit_row)
    # the token is the signing secret: the events that follow verify with it
    accepted = post(http, notion, notion.body, notion.sign(notion.body, now()))
    assert accepted.status_code == 200 and len(stored(running)) == 1


def test_a_malformed_notion_token_is_400_and_an_event_carrying_one_is_not_a_handshake(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    notion = styles["notion"]
    bad = post(http, notion, b'{"verification_token":""}', {})
    assert bad.status_code == 400
    sneaky = b'{"id":"367cba44","type":"page.created","verification_token":"secret_attacker"}'
    assert post(http, notion, sneaky, {}).status_code == 401
    secrets = ProviderSecrets(running.service.db, running.service.vault)
    assert secrets.get("webhook_verification_token:notion") is None
    assert stored(running) == []


def test_notions_verification_token_is_recorded_before_its_secret_is_configured(
    tmp_path: Path, connectors: Path, styles: dict[str, Style], environment: pytest.MonkeyPatch
) -> None:
    environment.delenv("NOTION_WEBHOOK_SECRET")
    try:
        with serve(tmp_path, connectors) as fresh, fresh.client() as client:
            body = json.dumps({"verification_token": NOTION_TOKEN}).encode()
            answer = client.post("/webhooks/notion", content=body)
            secrets = ProviderSecrets(fresh.service.db, fresh.service.vault)
            token = secrets.get("webhook_verification_token:notion")
    finally:
        environment.setenv("NOTION_WEBHOOK_SECRET", NOTION_TOKEN)
    assert answer.status_code == 200, answer.text
    assert token == NOTION_TOKEN


XERO_INTENT = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"XXOUPNXYZMGUSGXDYFLE"}'


def test_xeros_intent_to_receive_is_200_empty_when_signed_and_401_when_not(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    xero = styles["xero"]
    good = post(http, xero, XERO_INTENT, xero.sign(XERO_INTENT, now()))
    assert (good.status_code, good.content) == (200, b"")
    bad = post(http, xero, XERO_INTENT, xero.forge(XERO_INTENT, now()))
    unsigned = post(http, xero, XERO_INTENT, {"Content-Type": "application/json"})
    assert (bad.status_code, unsigned.status_code) == (401, 401)
    assert stored(running) == []
    assert outcomes(running) == [("handshake", 200), ("rejected", 401), ("rejected", 401)]


def test_a_google_sync_message_is_acknowledged_and_changes_are_stored_by_channel_and_number(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    calendar = styles["calendar"]
    sync = post(http, calendar, b"", calendar_push("sync", "1"))
    assert (sync.status_code, sync.content) == (200, b"")
    assert stored(running) == []
    assert outcomes(running) == [("acknowledged", 200)]
    assert post(http, calendar, b"", calendar_push("sync", "1", token="guess")).status_code == 401
    for number, state in (("2", "exists"), ("3", "not_exists"), ("2", "exists")):
        assert post(http, calendar, b"", calendar_push(state, number)).status_code == 200
    channel = "4ba78bf0-6a47-11e2-bcfd-0800200c9a66"
    assert stored(running) == [
        ("calendar", f"{channel}:2", "exists", None),
        ("calendar", f"{channel}:3", "not_exists", None),
    ]
    event = Inbox(running.service.db).get("calendar", f"{channel}:2")
    assert event is not None and event.headers["x-goog-resource-id"] == "ret08u3rv24htgh289g"
    assert "x-goog-channel-token" not in event.headers
    assert CHANNEL_TOKEN not in json.dumps(event.headers)
    for broken in (calendar_push("exists", "x2"), without(calendar_push("exists"), "X-Goog-Channel-ID")):
        assert post(http, calendar, b"", broken).status_code == 400


# ---------------------------------------------------------------- provider specifics


def test_docusign_accepts_a_delivery_signed_with_any_configured_connect_key(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    docusign = styles["docusign"]
    body = docusign.body
    first, second = b64_hmac(ENV["DOCUSIGN_CONNECT_KEY_1"], body), b64_hmac(DOCUSIGN_SECOND_KEY, body)
    both = {"X-DocuSign-Signature-1": first, "X-DocuSign-Signature-2": second}
    assert post(http, docusign, body, both).status_code == 200
    other = body.replace(b"2025-06-01T10:00:00", b"2025-06-01T11:00:00")
    only_second = {"X-DocuSign-Signature-2": b64_hmac(DOCUSIGN_SECOND_KEY, other)}  # key 1 was removed
    assert post(http, docusign, other, only_second).status_code == 200
    unknown = {"X-DocuSign-Signature-1": b64_hmac("a-key-we-never-had", body)}
    assert post(http, docusign, body, unknown).status_code == 401
    assert [r[1] for r in stored(running)] == [
        "93ba:envelope-completed:2025-06-01T10:00:00.0000000Z",
        "93ba:envelope-completed:2025-06-01T11:00:00.0000000Z",
    ]


def test_standard_webhooks_keeps_one_event_per_webhook_id(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    standard = styles["standard"]
    headers = standard.sign(standard.body, now())
    assert post(http, standard, standard.body, headers).status_code == 200
    other = {**headers, "webhook-id": "msg_other"}  # the id is signed: it cannot be swapped
    assert post(http, standard, standard.body, other).status_code == 401
    assert stored(running) == [("standard", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "invoice.paid", None)]


def test_gmail_push_refuses_tokens_for_another_audience_or_account(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    gmail = styles["gmail"]
    for claims in (
        {"aud": "https://evil.example.com/webhooks/gmail"},
        {"email": "someone@evil.iam.gserviceaccount.com"},
        {"email_verified": False},
        {"iss": "https://evil.example.com"},
    ):
        headers = gmail_bearer(now(), **claims)
        assert post(http, gmail, gmail.body, headers).status_code == 401, claims
    unknown_kid = gmail_bearer(now(), kid="rotated-away")
    assert post(http, gmail, gmail.body, unknown_kid).status_code == 401
    assert stored(running) == []


def test_paypal_refuses_a_certificate_url_off_the_allow_list(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], keys: KeyServer
) -> None:
    paypal = styles["paypal"]
    fetched = dict(keys.hits)
    headers = paypal.sign(paypal.body, now())
    cert_path = headers["PAYPAL-CERT-URL"].removeprefix(keys.url(""))
    for url in (
        f"https://evil.example.com{cert_path}",
        f"http://localhost:{keys.port}{cert_path}",  # loopback, but not on the connector's cert_hosts
        "file:///etc/passwd",
    ):
        assert post(http, paypal, paypal.body, {**headers, "PAYPAL-CERT-URL": url}).status_code == 401
    assert keys.hits == fetched
    assert stored(running) == []


# ---------------------------------------------------------------- per connection


def test_a_per_connection_receiver_verifies_with_that_connections_secret(
    running: RunningService, http: httpx.Client, styles: dict[str, Style]
) -> None:
    style = styles["stripe_accounts"]
    globex_body = style.body.replace(b"evt_1QqZxY2eZvKYlo2C0aB1cD2e", b"evt_globex_1")
    globex = replace(style, path="/webhooks/stripe_accounts/globex", connection_id="globex")
    assert post(http, style, style.body, style.sign(style.body, now())).status_code == 200
    assert post(http, globex, globex_body, style.forge(globex_body, now())).status_code == 200
    assert post(http, globex, globex_body, style.sign(globex_body, now())).status_code == 401  # acme's
    assert post(http, style, globex_body, style.forge(globex_body, now())).status_code == 401
    assert stored(running) == [
        ("stripe_accounts", "evt_1QqZxY2eZvKYlo2C0aB1cD2e", "customer.updated", "acme"),
        ("stripe_accounts", "evt_globex_1", "customer.updated", "globex"),
    ]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/webhooks/stripe_accounts/initech", "unknown connection"),
        ("/webhooks/stripe_accounts", "deliveries go to /webhooks/{connector}/{connection_id}"),
        ("/webhooks/stripe_accounts/" + "a" * 129, "unknown connection"),
        ("/webhooks/slack/acme", "this connector receives on /webhooks/slack"),
        ("/webhooks/nobody", "unknown connector"),
        ("/webhooks/nobody/acme", "unknown connector"),
    ],
)
def test_deliveries_to_an_unknown_or_wrong_route_are_404(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], path: str, reason: str
) -> None:
    style = styles["stripe_accounts"]
    answer = http.post(path, content=style.body, headers=style.sign(style.body, now()))
    assert (answer.status_code, answer.text) == (404, reason)
    assert stored(running) == []


# ---------------------------------------------------------------- never a 500


ODD_HEADERS: list[dict[str, str]] = [
    {},
    {"Content-Type": "application/x-www-form-urlencoded"},
    {"Authorization": "Bearer " + "a" * 10_000},
    {"X-Slack-Request-Timestamp": "9" * 30, "X-Slack-Signature": "v0=" + "f" * 64},
    {"webhook-id": "", "webhook-timestamp": "-1", "webhook-signature": "v1,==== v1,"},
    {"X-DocuSign-Signature-999": "x", "X-DocuSign-Signature-1000": "y"},
    {"PAYPAL-CERT-URL": "http://[::1", "PAYPAL-TRANSMISSION-SIG": "", "PAYPAL-AUTH-ALGO": "SHA256withRSA"},
    {"Stripe-Signature": "t=,v1=,t=1", "TikTok-Signature": "t=1,s=1,s=2"},
    {"X-Goog-Channel-Token": "", "X-Goog-Resource-State": "sync", "X-Goog-Channel-ID": ""},
]
ODD_BODIES = [b"", b"null", b"[]", b'"x"', b"\xff\xfe\x00", b"{" * 500, b'{"events":[]}', b'{"id":{}}']


@pytest.mark.parametrize("name", STYLE_NAMES)
def test_odd_requests_are_never_answered_500(
    running: RunningService, http: httpx.Client, styles: dict[str, Style], name: str
) -> None:
    style = styles[name]
    for headers in ODD_HEADERS:
        for body in ODD_BODIES:
            answer = http.post(style.path, content=body, headers=headers)
            assert answer.status_code in STATUSES, (headers, body, answer.text)
    for query in ({"hub.mode": "subscribe"}, {"hub.challenge": "x" * 5000}, {"a": "\u00e9"}):
        assert http.get(style.path, params=query).status_code in STATUSES
    events = stored(running)
    assert all(connector == "unsigned" for connector, *_ in events), events

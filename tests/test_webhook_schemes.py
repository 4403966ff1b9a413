"""HMAC and channel-token schemes, against deliveries signed exactly as each provider documents."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine.webhooks import (
    HmacVerify,
    Verified,
    WebhookConfigError,
    WebhookRejected,
    WebhooksSpec,
    verify,
)

from .test_webhook_support import NOW

Headers = dict[str, str]


def _hex(key: bytes, message: bytes, digest: Any = hashlib.sha256) -> str:
    return hmac.new(key, message, digest).hexdigest()


def _b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


# ---------------------------------------------------------------- realistic bodies

STRIPE_BODY = json.dumps(
    {
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "object": "event",
        "api_version": "2023-10-16",
        "created": 1686089970,
        "data": {
            "object": {
                "id": "in_1NG8Dt2eZvKYlo2C",
                "object": "invoice",
                "status": "paid",
                "amount_paid": 2000,
            }
        },
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "invoice.paid",
    },
    indent=2,
).encode()
SLACK_BODY = (
    b'{"token":"XXYYZZ","team_id":"T123ABC456","api_app_id":"A123ABC456","event":{"type":"message",'
    b'"channel":"C123ABC456","user":"U123ABC456","text":"Hello world","ts":"1355517523.000005"},'
    b'"type":"event_callback","event_id":"Ev123ABC456","event_time":1355517523}'
)
XERO_BODY = (
    b'{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",'
    b'"resourceId":"717f2bfc-c6d4-41fd-b238-3f2f0c0cf777","eventDateUtc":"2024-06-21T01:15:39.902",'
    b'"eventType":"UPDATE","eventCategory":"CONTACT","tenantId":"c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",'
    b'"tenantType":"ORGANISATION"}],"lastEventSequence":1,"firstEventSequence":1,"entropy":"S0m3r4Nd0mt3xt"}'
)
DOCUSIGN_BODY = (
    b'{"event":"envelope-completed","uri":"/restapi/v2.1/accounts/9f2d/envelopes/93ba","retryCount":0,\r\n'
    b'"configurationId":12345,"apiVersion":"v2.1","generatedDateTime":"2025-06-01T10:00:00.0000000Z",\r\n'
    b'"data":{"accountId":"9f2d","userId":"4c1e","recipientId":"","envelopeId":"93ba",'
    b'"envelopeSummary":{"status":"completed"}}}'
)
NOTION_BODY = (
    b'{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","timestamp":"2024-12-05T23:55:34.285Z",'
    b'"workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b",'
    b'"integration_id":"0ef2e755-4912-8096-91c1-00376a88a5ca","type":"page.properties_updated",'
    b'"authors":[{"id":"c7c11cca-1d73-471d-9b6e-bdef51470190","type":"person"}],"attempt_number":1,'
    b'"entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"},"data":{"updated_properties":["XGe%40"]}}'
)
# Meta signs the payload with non-ASCII escaped (\u00e4): HMAC the raw bytes exactly as received.
META_BODY = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"419561257915477","changes":[{"value":'
    b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",'
    b'"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},'
    b'"wa_id":"16505551234"}],"messages":[{"from":"16505551234",'
    b'"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383",'
    b'"type":"text","text":{"body":"Does it come in \\u00e4\\u00f6\\u00e5?"}}]},"field":"messages"}]}]}'
)
TIKTOK_BODY = (
    b'{"client_key":"bwo2m45353a6k85","event":"authorization.removed","create_time":1749416383,'
    b'"user_openid":"act.example12345Example12345Example","content":"{\\"reason\\": 1}"}'
)
STANDARD_BODY = b'{"type":"invoice.paid","timestamp":"2025-06-01T10:00:00Z","data":{"id":"inv_42"}}'

# ---------------------------------------------------------------- specs as connectors declare them

SPECS: dict[str, dict[str, Any]] = {
    "stripe": {
        "header": "Stripe-Signature",
        "format": "t={timestamp},v1={signature}",
        "signed": "{timestamp}.{body}",
        "tolerance": 300,
    },
    "slack": {
        "header": "X-Slack-Signature",
        "format": "v0={signature}",
        "signed": "v0:{timestamp}:{body}",
        "timestamp_header": "X-Slack-Request-Timestamp",
        "tolerance": 300,
    },
    "xero": {"header": "x-xero-signature", "encoding": "base64"},
    "docusign": {"header": "X-DocuSign-Signature-{n}", "encoding": "base64"},
    "notion": {"header": "X-Notion-Signature", "format": "sha256={signature}"},
    "meta": {"header": "X-Hub-Signature-256", "format": "sha256={signature}"},
    "tiktok": {
        "header": "TikTok-Signature",
        "format": "t={timestamp},s={signature}",
        "signed": "{timestamp}.{body}",
    },
    "standard": {
        "header": "webhook-signature",
        "format": "v1,{signature}",
        "separator": " ",
        "signed": "{id}.{timestamp}.{body}",
        "id_header": "webhook-id",
        "timestamp_header": "webhook-timestamp",
        "encoding": "base64",
        "secret_format": "whsec_base64",
    },
}


def spec_for(provider: str) -> HmacVerify:
    return HmacVerify.model_validate({"scheme": "hmac", "secret": "{{ env.SECRET }}", **SPECS[provider]})


def sign_stripe(secret: str, body: bytes, t: int) -> Headers:
    return {"Stripe-Signature": f"t={t},v1={_hex(secret.encode(), f'{t}.'.encode() + body)}"}


def sign_slack(secret: str, body: bytes, t: int) -> Headers:
    signature = _hex(secret.encode(), f"v0:{t}:".encode() + body)
    return {"X-Slack-Request-Timestamp": str(t), "X-Slack-Signature": f"v0={signature}"}


def sign_xero(secret: str, body: bytes, t: int) -> Headers:
    return {"x-xero-signature": _b64(secret.encode(), body)}


def sign_docusign(secret: str, body: bytes, t: int) -> Headers:
    return {"X-DocuSign-Signature-1": _b64(secret.encode(), body), "X-Authorization-Digest": "HMACSHA256"}


def sign_notion(secret: str, body: bytes, t: int) -> Headers:
    return {"X-Notion-Signature": f"sha256={_hex(secret.encode(), body)}"}


def sign_meta(secret: str, body: bytes, t: int) -> Headers:
    return {"X-Hub-Signature-256": f"sha256={_hex(secret.encode(), body)}"}


def sign_tiktok(secret: str, body: bytes, t: int) -> Headers:
    return {"TikTok-Signature": f"t={t},s={_hex(secret.encode(), f'{t}.'.encode() + body)}"}


def sign_standard(
    secret: str, body: bytes, t: int, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
) -> Headers:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = _b64(key, f"{msg_id}.{t}.".encode() + body)
    return {"webhook-id": msg_id, "webhook-timestamp": str(t), "webhook-signature": f"v1,{signature}"}


@dataclass(frozen=True)
class Provider:
    name: str
    body: bytes
    secret: str
    other_secret: str
    sign: Callable[[str, bytes, int], Headers]
    signature_header: str
    timestamped: bool


PROVIDERS = [
    Provider("stripe", STRIPE_BODY, "whsec_Ek2sT4jX1UuzM9e4b7mUXo0cZd5oVQ8M", "whsec_old", sign_stripe, "Stripe-Signature", True),
    Provider("slack", SLACK_BODY, "8f742231b10e8888abcd99yyyzzz85a5", "0123456789abcdef0123456789abcdef", sign_slack, "X-Slack-Signature", True),
    Provider("xero", XERO_BODY, "oY7zfWY0sGYyWb8jTi3kD7gNqD3dPjN6/0xWvhcqGfk9Y3", "another-key", sign_xero, "x-xero-signature", False),
    Provider("docusign", DOCUSIGN_BODY, "YwbPvHkvaD4r6kW2LKk4H0xxYZw3S0L5hJSnI/2AWYY=", "ZZZ=", sign_docusign, "X-DocuSign-Signature-1", False),
    Provider("notion", NOTION_BODY, "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl", "secret_x", sign_notion, "X-Notion-Signature", False),
    Provider("meta", META_BODY, "6f5b3c1e9d8a7b6c5d4e3f2a1b0c9d8e", "ffffffffffffffffffffffffffffffff", sign_meta, "X-Hub-Signature-256", False),
    Provider("tiktok", TIKTOK_BODY, "d2VsY29tZS10by10aWt0b2stc2VjcmV0", "other", sign_tiktok, "TikTok-Signature", True),
    Provider("standard", STANDARD_BODY, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25kLXNlY3JldC1mb3ItdGVzdHM=", sign_standard, "webhook-signature", True),
]  # fmt: skip
BY_NAME = {p.name: p for p in PROVIDERS}
ALL = pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
TIMESTAMPED = pytest.mark.parametrize(
    "provider", [p for p in PROVIDERS if p.timestamped], ids=lambda p: p.name
)


def check(
    provider: Provider, headers: Headers, body: bytes, secrets: list[str] | None = None, now: float = NOW
) -> Verified:
    return verify(spec_for(provider.name), secrets or [provider.secret], headers, body, now)


def rejected(provider: Provider, headers: Headers, body: bytes, **kwargs: Any) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as info:
        check(provider, headers, body, **kwargs)
    return info.value


# ---------------------------------------------------------------- every provider, the same cases


@ALL
def test_a_delivery_signed_as_documented_is_accepted(provider: Provider) -> None:
    verified = check(provider, provider.sign(provider.secret, provider.body, int(NOW) - 5), provider.body)
    assert verified.scheme == "hmac"
    assert verified.secret_index == 0
    assert verified.timestamp == (int(NOW) - 5 if provider.timestamped else None)


@ALL
def test_header_names_are_case_insensitive(provider: Provider) -> None:
    headers = {k.upper(): v for k, v in provider.sign(provider.secret, provider.body, int(NOW)).items()}
    assert check(provider, headers, provider.body).scheme == "hmac"


@ALL
def test_a_tampered_body_is_rejected(provider: Provider) -> None:
    headers = provider.sign(provider.secret, provider.body, int(NOW))
    for tampered in (provider.body + b" ", provider.body.replace(b"1", b"2", 1), b""):
        error = rejected(provider, headers, tampered)
        assert (error.status, error.reason) == (401, "signature does not match")


@ALL
def test_a_delivery_signed_with_another_secret_is_rejected(provider: Provider) -> None:
    headers = provider.sign(provider.other_secret, provider.body, int(NOW))
    assert rejected(provider, headers, provider.body).status == 401


@ALL
def test_a_missing_signature_header_is_rejected(provider: Provider) -> None:
    headers = provider.sign(provider.secret, provider.body, int(NOW))
    del headers[provider.signature_header]
    error = rejected(provider, headers, provider.body)
    assert error.status == 401 and error.reason.startswith("missing")


@ALL
@pytest.mark.parametrize("value", ["", "garbage", "sha256=", "t=abc,v1=", "v1,", "===", "t=1,t=2,v1=00"])
def test_a_malformed_signature_header_is_rejected(provider: Provider, value: str) -> None:
    headers = provider.sign(provider.secret, provider.body, int(NOW))
    headers[provider.signature_header] = value
    assert rejected(provider, headers, provider.body).status == 401


@ALL
def test_the_second_secret_is_accepted_during_rotation(provider: Provider) -> None:
    headers = provider.sign(provider.secret, provider.body, int(NOW))
    verified = check(provider, headers, provider.body, secrets=[provider.other_secret, provider.secret])
    assert verified.secret_index == 1


@ALL
def test_secrets_that_render_empty_are_skipped_and_none_at_all_is_a_config_error(provider: Provider) -> None:
    headers = provider.sign(provider.secret, provider.body, int(NOW))
    assert check(provider, headers, provider.body, secrets=["", provider.secret]).secret_index == 0
    with pytest.raises(WebhookConfigError):
        verify(spec_for(provider.name), [""], headers, provider.body, NOW)


@TIMESTAMPED
@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**9])
def test_timestamps_beyond_the_tolerance_are_stale(provider: Provider, offset: int) -> None:
    headers = provider.sign(provider.secret, provider.body, int(NOW) + offset)
    error = rejected(provider, headers, provider.body)
    assert (error.status, error.reason) == (401, "stale timestamp")


@TIMESTAMPED
@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_the_tolerance_are_accepted(provider: Provider, offset: int) -> None:
    assert check(provider, provider.sign(provider.secret, provider.body, int(NOW) + offset), provider.body)


@TIMESTAMPED
def test_the_timestamp_is_signed(provider: Provider) -> None:
    """Moving the timestamp into the window breaks the signature: no replay by editing `t`."""
    old = int(NOW) - 3600
    headers = provider.sign(provider.secret, provider.body, old)
    fresh = {k: v.replace(str(old), str(int(NOW))) for k, v in headers.items()}
    assert rejected(provider, fresh, provider.body).reason == "signature does not match"


# ---------------------------------------------------------------- provider specifics


def test_slacks_published_example_verifies() -> None:
    """api.slack.com/authentication/verifying-requests-from-slack, the worked example."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    verified = verify(spec_for("slack"), ["8f742231b10e8888abcd99yyyzzz85a5"], headers, body, 1531420618 + 10)
    assert verified.timestamp == 1531420618


def test_standard_webhooks_published_vector_verifies() -> None:
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert verify(spec_for("standard"), [secret], headers, b'{"test": 2432232314}', 1614265330)


def test_standard_webhooks_accepts_any_of_several_signatures_and_ignores_other_versions() -> None:
    p = BY_NAME["standard"]
    good = sign_standard(p.secret, p.body, int(NOW))
    other = sign_standard(p.other_secret, p.body, int(NOW))["webhook-signature"]
    for value in (
        f"{other} {good['webhook-signature']}",
        f"v1a,c29tZXRoaW5nIGVsc2U= {good['webhook-signature']}",
        f"{good['webhook-signature']}  v2,abc",
    ):
        assert check(p, {**good, "webhook-signature": value}, p.body)
    error = rejected(p, {**good, "webhook-signature": f"{other} v1a,xyz"}, p.body)
    assert error.reason == "signature does not match"


def test_standard_webhooks_id_is_signed_and_required() -> None:
    p = BY_NAME["standard"]
    headers = sign_standard(p.secret, p.body, int(NOW))
    assert rejected(p, {**headers, "webhook-id": "msg_other"}, p.body).reason == "signature does not match"
    del headers["webhook-id"]
    assert rejected(p, headers, p.body).reason == "missing webhook-id header"


def test_a_standard_webhooks_secret_that_is_not_base64_is_a_config_error() -> None:
    p = BY_NAME["standard"]
    with pytest.raises(WebhookConfigError):
        check(p, sign_standard(p.secret, p.body, int(NOW)), p.body, secrets=["whsec_not base64!"])


def test_stripe_accepts_any_v1_during_rotation_and_ignores_v0() -> None:
    p = BY_NAME["stripe"]
    t = int(NOW)
    new = sign_stripe(p.secret, p.body, t)["Stripe-Signature"].split("v1=")[1]
    old = sign_stripe(p.other_secret, p.body, t)["Stripe-Signature"].split("v1=")[1]
    for header in (f"t={t},v1={old},v1={new}", f"v1={new},t={t}", f"t={t},v1={new},v0={old}"):
        assert check(p, {"Stripe-Signature": header}, p.body)
    assert rejected(p, {"Stripe-Signature": f"t={t},v0={new}"}, p.body).status == 401
    assert rejected(p, {"Stripe-Signature": f"v1={new}"}, p.body).status == 401


def test_docusign_accepts_any_signature_header_and_any_key() -> None:
    p = BY_NAME["docusign"]
    second_key = "ZmQ0NzI2NzMtYjQ0NS00ZDY0LWI4ZTMtOGY4ZmU2OTNmY2Rh"
    sig_first = _b64(p.secret.encode(), p.body)
    sig_second = _b64(second_key.encode(), p.body)
    headers = {"X-DocuSign-Signature-1": sig_first, "X-DocuSign-Signature-2": sig_second}
    assert check(p, headers, p.body, secrets=[second_key]).secret_index == 0
    assert check(p, headers, p.body, secrets=["unrelated", second_key]).secret_index == 1
    # a key removed in DocuSign leaves a gap: -2 alone still counts
    assert check(p, {"X-DocuSign-Signature-2": sig_second}, p.body, secrets=[p.secret, second_key])
    assert rejected(p, {"X-DocuSign-Signature-x": sig_first}, p.body).reason.startswith("missing")


def test_meta_signs_the_raw_escaped_bytes() -> None:
    p = BY_NAME["meta"]
    headers = sign_meta(p.secret, p.body, 0)
    assert check(p, headers, p.body)
    decoded = json.dumps(json.loads(p.body), ensure_ascii=False, separators=(",", ":")).encode()
    assert decoded != p.body
    assert rejected(p, headers, decoded).reason == "signature does not match"


def test_hex_signatures_compare_case_insensitively_and_sha1_is_supported() -> None:
    spec = HmacVerify.model_validate(
        {
            "scheme": "hmac",
            "secret": "s",
            "header": "X-Hub-Signature",
            "format": "sha1={signature}",
            "digest": "sha1",
        }
    )
    signature = _hex(b"hub-secret", b"<feed/>", hashlib.sha1)
    assert verify(spec, ["hub-secret"], {"X-Hub-Signature": f"sha1={signature.upper()}"}, b"<feed/>", NOW)
    with pytest.raises(WebhookRejected):
        verify(spec, ["hub-secret"], {"X-Hub-Signature": f"sha256={signature}"}, b"<feed/>", NOW)


def test_verify_accepts_the_whole_webhooks_section() -> None:
    p = BY_NAME["notion"]
    section = WebhooksSpec.model_validate(
        {
            "verify": {"scheme": "hmac", "secret": "x", **SPECS["notion"]},
            "event_id": "id",
            "event_type": "type",
        }
    )
    assert verify(section, [p.secret], sign_notion(p.secret, p.body, 0), p.body, NOW).scheme == "hmac"


def test_rejections_never_mention_the_secret_or_the_signature() -> None:
    p = BY_NAME["stripe"]
    headers = sign_stripe(p.other_secret, p.body, int(NOW))
    error = rejected(p, headers, p.body)
    signature = headers["Stripe-Signature"].split("v1=")[1]
    for text in (str(error), error.reason, repr(error)):
        assert p.secret not in text and p.other_secret not in text and signature not in text


# ---------------------------------------------------------------- channel_token (Google Calendar, Drive)

CHANNEL = {"scheme": "channel_token", "secret": "{{ connection.channel_token }}"}
TOKEN = "target=manifold&connection=maya&nonce=7d1c9e"


def google_push(state: str, number: str = "2", token: str = TOKEN) -> Headers:
    return {
        "X-Goog-Channel-ID": "4ba78bf0-6a47-11e2-bcfd-0800200c9a66",
        "X-Goog-Channel-Token": token,
        "X-Goog-Channel-Expiration": "Tue, 19 Nov 2013 01:13:52 GMT",
        "X-Goog-Resource-ID": "ret08u3rv24htgh289g",
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": number,
    }


def channel(headers: Headers, tokens: list[str] | None = None) -> Verified:
    section = WebhooksSpec.model_validate({"verify": CHANNEL})
    return verify(section, tokens or [TOKEN], headers, b"", NOW)


def test_a_sync_message_is_acknowledged_without_an_event() -> None:
    verified = channel(google_push("sync", "1"))
    assert verified.acknowledge_only and verified.event_id is None
    assert verified.attributes["resource_id"] == "ret08u3rv24htgh289g"


@pytest.mark.parametrize("state", ["exists", "not_exists", "update", "add", "remove", "trash", "change"])
def test_a_change_notification_is_an_event_keyed_by_channel_and_message_number(state: str) -> None:
    verified = channel(google_push(state, "10"))
    assert not verified.acknowledge_only
    assert verified.event_id == "4ba78bf0-6a47-11e2-bcfd-0800200c9a66:10"
    assert verified.event_type == state
    assert verified.attributes["channel_id"] == "4ba78bf0-6a47-11e2-bcfd-0800200c9a66"


def test_a_wrong_or_missing_channel_token_is_401() -> None:
    for headers in (google_push("exists", token="guess"), google_push("exists", token="")):
        with pytest.raises(WebhookRejected) as info:
            channel(headers)
        assert info.value.status == 401
    headers = google_push("exists")
    del headers["X-Goog-Channel-Token"]
    with pytest.raises(WebhookRejected) as info:
        channel(headers)
    assert info.value.reason == "missing X-Goog-Channel-Token header"


def test_a_previous_channel_token_still_verifies_while_channels_overlap() -> None:
    assert channel(google_push("exists"), tokens=["new-token", TOKEN]).secret_index == 1


@pytest.mark.parametrize(
    ("drop", "number"), [("X-Goog-Resource-State", "2"), ("X-Goog-Channel-ID", "2"), (None, "x2"), (None, "")]
)
def test_a_channel_message_without_its_headers_is_400(drop: str | None, number: str) -> None:
    headers = google_push("exists", number)
    if drop:
        del headers[drop]
    with pytest.raises(WebhookRejected) as info:
        channel(headers)
    assert info.value.status == 400


def test_no_verification_accepts_as_is() -> None:
    section = WebhooksSpec.model_validate({"verify": {"scheme": "none"}, "event_id": "id"})
    assert verify(section, [], {}, b"{}", NOW) == Verified("none")

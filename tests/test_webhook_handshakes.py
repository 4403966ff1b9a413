"""Handshakes: Meta's subscribe GET, Slack url_verification, Notion's token, Xero's intent to receive."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from engine.webhooks import (
    Reply,
    WebhookRejected,
    WebhooksSpec,
    answer_handshake,
    meta_subscribe,
    notion_verification_token,
    slack_url_verification,
    verify,
    xero_intent_to_receive,
)

from .test_webhook_support import NOW

META_TOKEN = "meatyhamhock"


def test_meta_subscribe_echoes_the_challenge_when_the_token_matches() -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": META_TOKEN}
    assert meta_subscribe("GET", query, META_TOKEN) == Reply(200, b"1158201444", "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "wrong"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.challenge": "1158201444", "hub.verify_token": META_TOKEN},
    ],
)
def test_meta_subscribe_refuses_a_wrong_token_or_mode_with_403(query: dict[str, str]) -> None:
    reply = meta_subscribe("GET", query, META_TOKEN)
    assert reply is not None and reply.status == 403 and b"1158201444" not in reply.body


def test_meta_subscribe_never_matches_an_unconfigured_token() -> None:
    query = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}
    assert meta_subscribe("GET", query, "") == Reply(403, b"verification failed", "text/plain")


def test_meta_subscribe_ignores_other_requests() -> None:
    assert meta_subscribe("POST", {"hub.mode": "subscribe"}, META_TOKEN) is None
    assert meta_subscribe("GET", {}, META_TOKEN) is None


def test_slack_url_verification_answers_the_challenge_after_verification() -> None:
    secret, ts = "8f742231b10e8888abcd99yyyzzz85a5", str(int(NOW))
    body = b'{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'
    section = WebhooksSpec.model_validate(
        {
            "verify": {
                "scheme": "hmac",
                "secret": "{{ env.SLACK_SIGNING_SECRET }}",
                "header": "X-Slack-Signature",
                "format": "v0={signature}",
                "signed": "v0:{timestamp}:{body}",
                "timestamp_header": "X-Slack-Request-Timestamp",
            },
            "handshake": {"type": "slack_url_verification"},
            "event_id": "event_id",
            "event_type": "event.type",
        }
    )
    signature = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={signature}"}
    before = answer_handshake(section.handshake, method="POST", query={}, body=body, verified=False)
    assert before is None  # never before verification
    assert verify(section, [secret], headers, body, NOW)
    reply = answer_handshake(section.handshake, method="POST", query={}, body=body, verified=True)
    assert reply is not None and reply.status == 200 and reply.content_type == "application/json"
    assert json.loads(reply.body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    with pytest.raises(WebhookRejected):  # an unsigned url_verification never gets its answer
        verify(section, [secret], {}, body, NOW)


def test_slack_events_are_not_handshakes() -> None:
    assert slack_url_verification(b'{"type":"event_callback","event":{"type":"message"}}') is None
    assert slack_url_verification(b"not json") is None
    reply = slack_url_verification(b'{"type":"url_verification"}')
    assert reply is not None and reply.status == 400


def test_notion_verification_token_is_answered_and_handed_back_to_record() -> None:
    body = b'{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}'
    reply = answer_handshake(
        WebhooksSpec.model_validate(
            {
                "verify": {
                    "scheme": "hmac",
                    "secret": "x",
                    "header": "X-Notion-Signature",
                    "format": "sha256={signature}",
                },
                "handshake": {"type": "notion_verification_token"},
                "event_id": "id",
            }
        ).handshake,
        method="POST",
        query={},
        body=body,
        verified=False,
    )
    assert reply is not None and (reply.status, reply.body) == (200, b"")
    assert reply.verification_token == "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
    assert "secret_" not in repr(reply)


def test_notion_events_and_odd_tokens_are_not_taken_for_the_handshake() -> None:
    event = b'{"id":"367cba44","type":"page.created","verification_token":"secret_x"}'
    assert notion_verification_token(event) is None
    assert notion_verification_token(b"[]") is None
    for bad in (
        b'{"verification_token":""}',
        b'{"verification_token":12}',
        b'{"verification_token":"a\\nb"}',
    ):
        reply = notion_verification_token(bad)
        assert reply is not None and reply.status == 400 and reply.verification_token is None


def test_xero_intent_to_receive_gets_200_and_an_empty_body_once_verified() -> None:
    key = "oY7zfWY0sGYyWb8jTi3kD7gNqD3dPjN6/0xWvhcqGfk9Y3"
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"XXOUPNXYZMGUSGXDYFLE"}'
    section = WebhooksSpec.model_validate(
        {
            "verify": {
                "scheme": "hmac",
                "secret": "{{ env.XERO_WEBHOOK_KEY }}",
                "header": "x-xero-signature",
                "encoding": "base64",
            },
            "handshake": {"type": "xero_intent_to_receive"},
            "event_id": {"body_sha256": True},
        }
    )
    good = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    assert verify(section, [key], {"x-xero-signature": good}, body, NOW)
    reply = answer_handshake(section.handshake, method="POST", query={}, body=body, verified=True)
    assert reply == Reply(200)
    bad = base64.b64encode(hmac.new(b"wrong", body, hashlib.sha256).digest()).decode()
    with pytest.raises(WebhookRejected) as info:  # Xero expects exactly 401 for the wrongly signed ones
        verify(section, [key], {"x-xero-signature": bad}, body, NOW)
    assert info.value.status == 401


def test_xero_deliveries_with_events_are_not_handshakes() -> None:
    assert xero_intent_to_receive(b'{"events":[{"resourceId":"1"}],"entropy":"x"}') is None


def test_meta_handshake_runs_before_verification_and_only_for_get() -> None:
    section = WebhooksSpec.model_validate(
        {
            "verify": {
                "scheme": "hmac",
                "secret": "s",
                "header": "X-Hub-Signature-256",
                "format": "sha256={signature}",
            },
            "handshake": {"type": "meta_subscribe", "verify_token": "{{ env.META_VERIFY_TOKEN }}"},
            "event_id": {"body_sha256": True},
        }
    )
    query = {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": META_TOKEN}
    before = answer_handshake(
        section.handshake, method="GET", query=query, body=b"", verified=False, verify_token=META_TOKEN
    )
    assert before == Reply(200, b"42", "text/plain")
    assert answer_handshake(section.handshake, method="GET", query=query, body=b"", verified=True) is None
    assert answer_handshake(None, method="GET", query=query, body=b"", verified=False) is None

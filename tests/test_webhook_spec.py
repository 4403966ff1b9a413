"""The `webhooks:` spec models, rendering, and event identity."""

from __future__ import annotations

import doctest
import hashlib
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

import engine.webhooks.identity
import engine.webhooks.signatures
import engine.webhooks.spec
from engine.templating import compile_template
from engine.webhooks import (
    ChannelTokenVerify,
    HmacVerify,
    JwtVerify,
    RsaCertVerify,
    Verified,
    WebhookConfigError,
    WebhookRejected,
    WebhooksSpec,
    identify,
    render_verify,
    secret_templates,
    verify,
)

# The shapes the report hands to connector authors: each must load as is.
PROVIDER_SECTIONS = {
    "stripe": """
webhooks:
  verify: {scheme: hmac, secret: ["{{ env.STRIPE_WEBHOOK_SECRET }}"], header: Stripe-Signature,
           format: "t={timestamp},v1={signature}", signed: "{timestamp}.{body}", tolerance: 300}
  event_id: id
  event_type: type
  events:
    invoice.payment_succeeded: {}
""",
    "slack": """
webhooks:
  verify: {scheme: hmac, secret: "{{ env.SLACK_SIGNING_SECRET }}", header: X-Slack-Signature,
           format: "v0={signature}", signed: "v0:{timestamp}:{body}",
           timestamp_header: X-Slack-Request-Timestamp, tolerance: 300}
  handshake: {type: slack_url_verification}
  event_id: event_id
  event_type: event.type
""",
    "meta": """
webhooks:
  verify: {scheme: hmac, secret: "{{ env.META_APP_SECRET }}", header: X-Hub-Signature-256,
           format: "sha256={signature}"}
  handshake: {type: meta_subscribe, verify_token: "{{ env.META_VERIFY_TOKEN }}"}
  event_id: {body_sha256: true}
  event_type: entry.0.changes.0.field
""",
    "paypal": """
webhooks:
  verify: {scheme: rsa_cert, webhook_id: "{{ env.PAYPAL_WEBHOOK_ID }}"}
  event_id: id
  event_type: event_type
""",
    "gmail": """
webhooks:
  verify: {scheme: jwt, audience: "{{ env.GMAIL_PUSH_AUDIENCE }}",
           service_account: "{{ env.GMAIL_PUSH_SERVICE_ACCOUNT }}"}
  event_id: message.messageId
  event_type: {value: gmail.history}
""",
    "google_calendar": """
webhooks:
  verify: {scheme: channel_token, secret: "{{ connection.channel_token }}"}
  per_connection: true
""",
    "docusign": """
webhooks:
  verify: {scheme: hmac, secret: ["{{ env.DOCUSIGN_CONNECT_KEY_1 }}", "{{ env.DOCUSIGN_CONNECT_KEY_2 }}"],
           header: "X-DocuSign-Signature-{n}", encoding: base64}
  event_id: [data.envelopeId, event, generatedDateTime]
  event_type: event
""",
    "standard_webhooks": """
webhooks:
  verify: {scheme: hmac, secret: "{{ env.WEBHOOK_SECRET }}", secret_format: whsec_base64,
           header: webhook-signature, format: "v1,{signature}", separator: " ",
           signed: "{id}.{timestamp}.{body}", id_header: webhook-id, timestamp_header: webhook-timestamp,
           encoding: base64}
  event_id: {header: webhook-id}
  event_type: type
""",
}


def load(text: str) -> WebhooksSpec:
    return WebhooksSpec.model_validate(yaml.safe_load(text)["webhooks"])


@pytest.mark.parametrize("name", sorted(PROVIDER_SECTIONS))
def test_the_documented_provider_sections_load(name: str) -> None:
    section = load(PROVIDER_SECTIONS[name])
    assert section.verify.scheme in {"hmac", "jwt", "rsa_cert", "channel_token"}


def test_a_bare_on_key_is_explained() -> None:
    text = "webhooks:\n  verify: {scheme: none}\n  event_id: id\n  on:\n    invoice.paid: {}\n"
    with pytest.raises(ValidationError, match="name the event map `events:`"):
        load(text)


@pytest.mark.parametrize(
    ("verify", "message"),
    [
        ({"header": "X", "format": "sha256="}, "exactly one {signature}"),
        ({"header": "X", "format": "{signature}{nonce}"}, "only {signature}"),
        ({"header": "X", "signed": "{timestamp}"}, "exactly one {body}"),
        ({"header": "X", "format": "t={timestamp},v1={signature}"}, "both read"),
        ({"header": "X", "signed": "{timestamp}.{body}"}, "both read"),
        ({"header": "X", "signed": "{id}.{body}"}, "go together"),
        (
            {
                "header": "X",
                "format": "t={timestamp},v1={signature}",
                "signed": "{timestamp}.{body}",
                "timestamp_header": "T",
            },
            "not both",
        ),
        ({"header": "X-{n}-{n}"}, "one '{n}'"),
        ({"header": "X", "digest": "md5"}, "sha256"),
        ({"header": "X", "tolerance": 0}, "greater than or equal to 1"),
        ({"header": "X", "secret_header": "Y"}, "Extra inputs"),
    ],
)
def test_hmac_specs_that_cannot_work_are_refused(verify: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        HmacVerify.model_validate({"scheme": "hmac", "secret": "s", **verify})


def test_event_id_is_required_unless_the_scheme_supplies_it() -> None:
    with pytest.raises(ValidationError, match="event_id is required"):
        WebhooksSpec.model_validate({"verify": {"scheme": "hmac", "secret": "s", "header": "X"}})
    assert (
        WebhooksSpec.model_validate({"verify": {"scheme": "channel_token", "secret": "t"}}).event_id is None
    )
    with pytest.raises(ValidationError, match="exactly one of"):
        WebhooksSpec.model_validate({"verify": {"scheme": "none"}, "event_id": {"path": "id", "header": "x"}})
    with pytest.raises(ValidationError):
        WebhooksSpec.model_validate({"verify": {"scheme": "magic"}, "event_id": "id"})


def test_models_are_frozen() -> None:
    section = load(PROVIDER_SECTIONS["stripe"])
    with pytest.raises(ValidationError):
        section.per_connection = True  # type: ignore[misc]


def _models(schema: dict[str, Any]) -> dict[str, Any]:
    return {"WebhooksSpec": schema, **schema.get("$defs", {})}


def test_every_field_is_described_for_the_reference_and_the_editor() -> None:
    schema = WebhooksSpec.model_json_schema(by_alias=True, mode="validation")
    for name, model in _models(schema).items():
        for key, prop in model.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key} has no description"


def test_every_model_has_a_docstring() -> None:
    for value in vars(engine.webhooks.spec).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and not value.__name__.startswith("_"):
            assert value.__doc__ and value.__doc__.strip(), value.__name__


def test_render_verify_splits_settings_from_secrets() -> None:
    env = {
        "A": "whsec_new",
        "B": "",
        "AUD": "https://x/webhooks/gmail",
        "SA": "sa@p.iam.gserviceaccount.com",
        "W": "8PT5",
    }

    def render(template: str) -> str:
        return compile_template(template).render({"env": env})

    hmac_spec = HmacVerify(scheme="hmac", secret=["{{ env.A }}", "{{ env.B }}"], header="Stripe-Signature")
    rendered, secrets = render_verify(hmac_spec, render)
    assert rendered is hmac_spec and secrets == ["whsec_new"]
    jwt_spec = JwtVerify(scheme="jwt", audience="{{ env.AUD }}", service_account="{{ env.SA }}")
    rendered_jwt, none = render_verify(jwt_spec, render)
    assert isinstance(rendered_jwt, JwtVerify) and none == []
    assert (rendered_jwt.audience, rendered_jwt.service_account) == (env["AUD"], env["SA"])
    paypal, _ = render_verify(RsaCertVerify(scheme="rsa_cert", webhook_id="{{ env.W }}"), render)
    assert isinstance(paypal, RsaCertVerify) and paypal.webhook_id == "8PT5"
    assert secret_templates(
        ChannelTokenVerify(scheme="channel_token", secret="{{ connection.channel_token }}")
    ) == ["{{ connection.channel_token }}"]


def test_a_secret_may_hold_several_keys_split_by_secret_separator() -> None:
    keys = {"KEYS": " k1==, k2== ,,", "MORE": "k3=="}
    spec = HmacVerify(
        scheme="hmac",
        secret=["{{ env.KEYS }}", "{{ env.MORE }}"],
        secret_separator=",",
        header="X-DocuSign-Signature-{n}",
        encoding="base64",
    )
    _, secrets = render_verify(spec, lambda t: compile_template(t).render({"env": keys}))
    assert secrets == ["k1==", "k2==", "k3=="]


def test_an_unrendered_setting_is_a_config_error_not_a_rejection() -> None:
    spec = JwtVerify(scheme="jwt", audience="{{ env.AUD }}", service_account="sa@p.iam.gserviceaccount.com")
    with pytest.raises(WebhookConfigError, match="render_verify"):
        verify(spec, [], {"Authorization": "Bearer a.b.c"}, b"", 0)


# ---------------------------------------------------------------- identify


def test_identify_reads_body_paths() -> None:
    section = load(PROVIDER_SECTIONS["stripe"])
    body = b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}}'
    assert identify(section, Verified("hmac"), {}, body) == ("evt_1", "invoice.paid")


def test_identify_joins_a_composite_key() -> None:
    section = load(PROVIDER_SECTIONS["docusign"])
    body = b'{"event":"envelope-completed","generatedDateTime":"2025-06-01T10:00:00Z","data":{"envelopeId":"93ba"}}'
    identity = identify(section, Verified("hmac"), {}, body)
    assert identity == ("93ba:envelope-completed:2025-06-01T10:00:00Z", "envelope-completed")


def test_identify_reads_headers_digests_and_constants() -> None:
    standard = load(PROVIDER_SECTIONS["standard_webhooks"])
    assert identify(standard, Verified("hmac"), {"Webhook-Id": "msg_1"}, b'{"type":"a.b"}') == (
        "msg_1",
        "a.b",
    )
    meta = load(PROVIDER_SECTIONS["meta"])
    body = b'{"object":"instagram","entry":[{"changes":[{"field":"comments"}]}]}'
    assert identify(meta, Verified("hmac"), {}, body) == (hashlib.sha256(body).hexdigest(), "comments")
    gmail = load(PROVIDER_SECTIONS["gmail"])
    assert identify(gmail, Verified("jwt"), {}, b'{"message":{"messageId":2070443601311540}}') == (
        "2070443601311540",
        "gmail.history",
    )


def test_identify_prefers_what_the_scheme_supplies() -> None:
    section = load(PROVIDER_SECTIONS["google_calendar"])
    verified = Verified("channel_token", event_id="chan-1:10", event_type="exists")
    assert identify(section, verified, {}, b"") == ("chan-1:10", "exists")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"id": null}',
        b'{"id": {"nested": 1}}',
        b'{"id": true}',
        b'{"id": "%s"}' % (b"x" * 600),
    ],
)
def test_identify_refuses_a_delivery_without_a_usable_id(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        identify(load(PROVIDER_SECTIONS["stripe"]), Verified("hmac"), {}, body)
    assert info.value.status == 400


def test_a_missing_type_is_none() -> None:
    assert identify(load(PROVIDER_SECTIONS["stripe"]), Verified("hmac"), {}, b'{"id": 7}') == ("7", None)


@pytest.mark.parametrize(
    "module", [engine.webhooks.signatures, engine.webhooks.identity, engine.webhooks.spec]
)
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0

"""The `webhooks:` section of a connector spec: how deliveries are verified and identified.

```yaml
webhooks:
  verify: {scheme: hmac, secret: "{{ env.STRIPE_WEBHOOK_SECRET }}", header: Stripe-Signature,
           format: "t={timestamp},v1={signature}", signed: "{timestamp}.{body}", tolerance: 300}
  event_id: id
  event_type: type
  events:
    invoice.payment_succeeded: {}
```

Strings marked *template* are Jinja2 and are rendered by the receiver before verification
(`render_verify`); the single-brace placeholders of `format` and `signed` are not templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .decoding import Encoding
from .events import ANY_EVENT, ConnectionRoute, EventEffect

Template = Annotated[str, Field(description="A Jinja2 template string, e.g. '{{ env.STRIPE_SECRET_KEY }}'.")]
Secrets = Template | list[Template]

PLACEHOLDER = re.compile(r"\{(\w+)\}")
NUMBERED = "{n}"
GOOGLE_ISSUERS = ["accounts.google.com", "https://accounts.google.com"]
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
PAYPAL_CERT_HOSTS = [
    "api.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.paypal.com",
    "api-m.sandbox.paypal.com",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Template fields that are settings, not secrets: rendered into a copy by `render_verify`.
    settings: ClassVar[tuple[str, ...]] = ()


def _placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


# ---------------------------------------------------------------- verification schemes


class HmacVerify(_Strict):
    """An HMAC of the raw body (and maybe a timestamp and id) sent in a header.

    Stripe: `Stripe-Signature: t=1700000000,v1=5257a8...` over `{timestamp}.{body}`, hex.
    Slack: `X-Slack-Signature: v0=a2114d...` over `v0:{timestamp}:{body}` with the timestamp in
    `X-Slack-Request-Timestamp`. Standard Webhooks: `webhook-signature: v1,K5oZ... v1,3rtX...`
    over `{id}.{timestamp}.{body}`, base64, secret `whsec_<base64>`. DocuSign:
    `X-DocuSign-Signature-1`, `-2`, ... base64 of the body's HMAC.
    """

    scheme: Literal["hmac"] = Field(description="HMAC signature scheme.")
    secret: Secrets = Field(
        description="Signing secret (template), or several: during rotation, or DocuSign's several Connect "
        "keys. A delivery signed with any of them is accepted; secrets that render empty are skipped."
    )
    secret_separator: str | None = Field(
        None,
        description="Each rendered secret may hold several, separated by this, e.g. ',': DocuSign's "
        "Connect keys (up to 100) in one variable. Blanks around each are dropped.",
    )
    secret_format: Literal["text", "whsec_base64"] = Field(
        "text",
        description="text: the secret's UTF-8 bytes are the key (Stripe's whsec_ secrets too). "
        "whsec_base64: Standard Webhooks, the key is the base64 after the 'whsec_' prefix.",
    )
    header: str = Field(
        description="Header carrying the signature, e.g. 'Stripe-Signature'. '{n}' stands for a number: "
        "'X-DocuSign-Signature-{n}' reads every -1, -2, ... present."
    )
    format: str = Field(
        "{signature}",
        description="Shape of the header value with {signature} and maybe {timestamp}: "
        "'t={timestamp},v1={signature}' (comma-separated key=value pairs in any order; the signature "
        "key may repeat), 'sha256={signature}', 'v1,{signature}', or '{signature}'.",
    )
    separator: str | None = Field(
        None,
        description="The header holds several signatures separated by this, each in `format` "
        "(Standard Webhooks: ' '); items in another format (another version) are ignored.",
    )
    signed: str = Field(
        "{body}",
        description="What is signed, with {body} (raw bytes), {timestamp} and {id}: '{timestamp}.{body}', "
        "'v0:{timestamp}:{body}', '{id}.{timestamp}.{body}', '{body}'.",
    )
    digest: Literal["sha256", "sha1", "sha512"] = Field("sha256", description="Hash function of the HMAC.")
    encoding: Literal["hex", "base64"] = Field("hex", description="How the HMAC is written in the header.")
    timestamp_header: str | None = Field(
        None,
        description="Header with the signed unix timestamp, e.g. 'X-Slack-Request-Timestamp', when it is "
        "not part of `format`.",
    )
    id_header: str | None = Field(None, description="Header with the signed message id, e.g. 'webhook-id'.")
    tolerance: int = Field(
        300,
        ge=1,
        description="Seconds a signed timestamp may differ from now, in the past or the future; "
        "older or later deliveries are rejected as stale.",
    )

    @field_validator("format")
    @classmethod
    def _check_format(cls, value: str) -> str:
        names = _placeholders(value)
        if names.count("signature") != 1:
            raise ValueError("format needs exactly one {signature}")
        unknown = set(names) - {"signature", "timestamp"}
        if unknown or names.count("timestamp") > 1:
            raise ValueError("format may hold only {signature} and one {timestamp}")
        return value

    @field_validator("signed")
    @classmethod
    def _check_signed(cls, value: str) -> str:
        names = _placeholders(value)
        if names.count("body") != 1:
            raise ValueError("signed needs exactly one {body}")
        if set(names) - {"body", "timestamp", "id"}:
            raise ValueError("signed may hold only {body}, {timestamp} and {id}")
        return value

    @model_validator(mode="after")
    def _check_sources(self) -> HmacVerify:
        in_format = "timestamp" in _placeholders(self.format)
        signs_timestamp = "timestamp" in _placeholders(self.signed)
        if in_format and self.timestamp_header:
            raise ValueError("the timestamp comes from `format` or `timestamp_header`, not both")
        if (in_format or bool(self.timestamp_header)) != signs_timestamp:
            raise ValueError(
                "a timestamp must be both read (format or timestamp_header) and signed ({timestamp})"
            )
        if ("id" in _placeholders(self.signed)) != bool(self.id_header):
            raise ValueError("{id} in `signed` and `id_header` go together")
        if in_format and self.separator:
            raise ValueError("a `separator` list cannot carry {timestamp} in `format`")
        if NUMBERED in self.header and in_format:
            raise ValueError("numbered headers ('{n}') cannot carry {timestamp} in `format`")
        if self.header.count(NUMBERED) > 1 or (set(_placeholders(self.header)) - {"n"}):
            raise ValueError("header may hold one '{n}' and no other placeholder")
        return self

    @property
    def has_timestamp(self) -> bool:
        return "timestamp" in _placeholders(self.signed)


class JwtVerify(_Strict):
    """An OIDC token in `Authorization: Bearer <JWT>`: Google Cloud Pub/Sub push (Gmail).

    RS256, signed by Google's keys at `certs_url` (v1 certs `{kid: PEM}` or a JWKS
    `{"keys": [...]}`); `iss` one of `issuers`, `aud` the subscription's audience, `email` the
    push service account with `email_verified: true`, `exp` and `iat` within `leeway`.
    """

    settings: ClassVar[tuple[str, ...]] = ("audience", "service_account")

    scheme: Literal["jwt"] = Field(description="OIDC JWT scheme.")
    audience: Template = Field(
        description="Expected `aud` (template): the subscription's oidcToken.audience, or the push "
        "endpoint URL when none was set."
    )
    service_account: Template = Field(
        description="Expected `email` (template): the service account the push subscription signs as."
    )
    issuers: list[str] = Field(
        default_factory=lambda: list(GOOGLE_ISSUERS), description="Accepted `iss` values."
    )
    certs_url: str = Field(
        GOOGLE_CERTS_URL, description="Where the signing keys are fetched: {kid: PEM cert} JSON or a JWKS."
    )
    cache_ttl: int = Field(
        3600, ge=0, description="Seconds fetched keys are reused; an unknown kid refetches."
    )
    leeway: int = Field(30, ge=0, le=300, description="Seconds of clock skew allowed on `exp`, `iat`, `nbf`.")


class RsaCertVerify(_Strict):
    """PayPal: SHA256withRSA over `transmission_id|transmission_time|webhook_id|crc32(body)`.

    Headers `PAYPAL-TRANSMISSION-ID`, `PAYPAL-TRANSMISSION-TIME`, `PAYPAL-TRANSMISSION-SIG` (base64),
    `PAYPAL-AUTH-ALGO: SHA256withRSA` and `PAYPAL-CERT-URL`; the certificate is fetched over https
    only from `cert_hosts`, and cached.
    """

    settings: ClassVar[tuple[str, ...]] = ("webhook_id",)

    scheme: Literal["rsa_cert"] = Field(description="PayPal certificate scheme.")
    webhook_id: Template = Field(
        description="This receiver's PayPal webhook id (template); simulator events use 'WEBHOOK_ID'."
    )
    cert_hosts: list[str] = Field(
        default_factory=lambda: list(PAYPAL_CERT_HOSTS),
        description="Hosts PAYPAL-CERT-URL may point at; any other URL is rejected unfetched.",
    )
    cache_ttl: int = Field(86400, ge=0, description="Seconds a fetched certificate is reused.")
    tolerance: int | None = Field(
        None,
        ge=1,
        description="Seconds PAYPAL-TRANSMISSION-TIME may differ from now; none: not checked "
        "(PayPal documents no tolerance; redeliveries are deduplicated by event id).",
    )


class ChannelTokenVerify(_Strict):
    """Google Calendar and Drive push: `X-Goog-Channel-Token` equals the token set at watch time.

    The body is empty. `X-Goog-Resource-State: sync` (the first message of a channel) is
    acknowledged without an event; other states (`exists`, `not_exists`, `update`, ...) are events
    whose id is `X-Goog-Channel-ID:X-Goog-Message-Number` and whose type is the state.
    """

    scheme: Literal["channel_token"] = Field(description="Google push channel token scheme.")
    secret: Secrets = Field(description="The channel token(s) given to watch (template).")
    acknowledge_states: list[str] = Field(
        default_factory=lambda: ["sync"],
        description="Resource states answered 2xx without storing an event.",
    )


class NoVerify(_Strict):
    """Nothing is verified: only for providers that sign nothing. Prefer per-connection URLs and
    treat each delivery as a signal to re-fetch from the API."""

    scheme: Literal["none"] = Field(description="No verification.")


VerifySpec = Annotated[
    HmacVerify | JwtVerify | RsaCertVerify | ChannelTokenVerify | NoVerify, Field(discriminator="scheme")
]
AnyVerify = HmacVerify | JwtVerify | RsaCertVerify | ChannelTokenVerify | NoVerify


# ---------------------------------------------------------------- handshakes


class MetaSubscribe(_Strict):
    """Meta (Instagram, WhatsApp): `GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`;
    the challenge is echoed when the token matches, else 403."""

    type: Literal["meta_subscribe"] = Field(description="Meta verification request.")
    verify_token: Template = Field(description="The Verify Token set in the App Dashboard (template).")


class SlackUrlVerification(_Strict):
    """Slack Events API: a signed POST `{"type": "url_verification", "challenge": ...}` is answered
    with the challenge."""

    type: Literal["slack_url_verification"] = Field(description="Slack url_verification event.")


class NotionVerificationToken(_Strict):
    """Notion: the first, unsigned POST to a new subscription is `{"verification_token": "..."}`.

    It is recorded for an admin to paste back in Notion (and to configure as the signing secret),
    answered 200, and never stored as an event."""

    type: Literal["notion_verification_token"] = Field(description="Notion subscription verification.")


class XeroIntentToReceive(_Strict):
    """Xero: signed POSTs with `"events": []` check the receiver; a valid signature gets 200 with an
    empty body, an invalid one 401 (the normal verification)."""

    type: Literal["xero_intent_to_receive"] = Field(description="Xero intent-to-receive.")


HandshakeSpec = Annotated[
    MetaSubscribe | SlackUrlVerification | NotionVerificationToken | XeroIntentToReceive,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- the section


class EventField(_Strict):
    """Where an event's id or type is read (exactly one of the keys).

    A plain string in the spec is a body path; a list of strings is a composite key of body paths.
    """

    path: str | list[str] | None = Field(
        None,
        description="Body path, e.g. 'id' or 'message.messageId'; several paths join with ':' into "
        "one key, e.g. [data.envelopeId, event, generatedDateTime].",
    )
    header: str | None = Field(None, description="Header holding the value, e.g. 'webhook-id'.")
    value: str | None = Field(None, description="A constant, e.g. an event type for single-type providers.")
    body_sha256: bool = Field(
        False, description="The hex SHA-256 of the raw body: for batches without an id (Meta, Xero)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> EventField:
        given = [self.path is not None, self.header is not None, self.value is not None, self.body_sha256]
        if sum(given) != 1:
            raise ValueError("give exactly one of path, header, value, body_sha256")
        return self


EventSource = str | list[str] | EventField


class WebhooksSpec(_Strict):
    """How deliveries to `/webhooks/{connector}` are verified, identified and applied."""

    verify: VerifySpec = Field(description="How a delivery is authenticated (by `scheme`).")
    env: list[str] = Field(
        default_factory=list,
        description="Env vars only the receiver needs, e.g. [STRIPE_WEBHOOK_SECRET]: syncs run without them; "
        "without them deliveries are answered 503 and diagnostics name them.",
    )
    handshake: HandshakeSpec | None = Field(
        None, description="A provider's subscription check answered by the receiver (by `type`)."
    )
    event_id: EventSource | None = Field(
        None,
        description="Idempotency key of a delivery: a body path, a list of paths (composite), or "
        "{header: ...} / {body_sha256: true}. Not needed when the scheme supplies the id "
        "(channel_token).",
    )
    event_type: EventSource | None = Field(
        None, description="Event type: a body path, {header: ...} or {value: ...}; none: untyped."
    )
    account: str | None = Field(
        None,
        description="Body path of the provider account an event is about, e.g. 'workspace_id' (Notion), "
        "'events.0.tenantId' (Xero): deliveries to the shared URL are filed under the stored connection "
        "with that account id when they arrive, else when they are applied.",
    )
    per_connection: bool = Field(
        False,
        description="Deliveries go to /webhooks/{connector}/{connection_id}: the secret or routing is per "
        "connection.",
    )
    decode: dict[str, Encoding] = Field(
        default_factory=dict,
        description="Body fields holding encoded JSON, decoded before the event's id, type, route and records "
        "are read: path -> encoding. Cloud Pub/Sub push (Gmail): {message.data: b64json}, then "
        "'message.data.emailAddress' reads the notification.",
    )
    route: ConnectionRoute | None = Field(
        None,
        description="Deliveries to the shared URL belong to the connection whose stored account matches a "
        "body value, e.g. Gmail {path: message.data.emailAddress, account: emailAddress}.",
    )
    events: dict[str, EventEffect] = Field(
        default_factory=dict,
        description="Event type -> what it does: `apply` records to models, queue a `sync`. '*' matches "
        "any other type; types without an entry are stored and marked ignored.",
    )

    def applied_streams(self) -> set[str]:
        """Streams whose rows events also write: their syncs merge by `_version` too."""
        return {a.stream for effect in self.events.values() for a in effect.applies}

    def effect(self, event_type: str | None) -> EventEffect | None:
        found = self.events.get(event_type) if event_type is not None else None
        return found or self.events.get(ANY_EVENT)

    @model_validator(mode="before")
    @classmethod
    def _no_bare_on(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("on" in data or True in data):
            raise ValueError("name the event map `events:`, not `on:` (YAML 1.1 reads a bare `on` as true)")
        return data

    @model_validator(mode="after")
    def _id_source(self) -> WebhooksSpec:
        if self.event_id is None and not isinstance(self.verify, ChannelTokenVerify):
            raise ValueError(
                "event_id is required: a body path, a list of paths, {header: ...}, {body_sha256: true}"
            )
        return self


# ---------------------------------------------------------------- rendering


def secret_templates(verify: AnyVerify) -> list[str]:
    """The scheme's secret templates (empty for schemes without one)."""
    secret = getattr(verify, "secret", None)
    if secret is None:
        return []
    return [secret] if isinstance(secret, str) else list(secret)


def render_verify(verify: AnyVerify, render: Callable[[str], str]) -> tuple[AnyVerify, list[str]]:
    """Render a scheme's templates: its non-secret settings into a copy, its secrets into a list.

    >>> spec = JwtVerify(scheme="jwt", audience="{{ env.AUD }}", service_account="sa@p.iam.gserviceaccount.com")
    >>> rendered, secrets = render_verify(spec, lambda s: s.replace("{{ env.AUD }}", "https://x/webhooks/gmail"))
    >>> rendered.audience, secrets
    ('https://x/webhooks/gmail', [])
    """
    names = verify.settings
    rendered = verify.model_copy(update={n: render(getattr(verify, n)) for n in names}) if names else verify
    secrets = [s for s in (render(t) for t in secret_templates(verify)) if s]
    separator = getattr(verify, "secret_separator", None)
    if separator:
        secrets = [part.strip() for s in secrets for part in s.split(separator) if part.strip()]
    return rendered, secrets

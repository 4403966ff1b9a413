"""The `actions:` section of a connector spec: write-back requests, declared.

```yaml
actions:
  create_payment_intent:
    description: Create a PaymentIntent.
    input:                                   # JSON Schema, checked before any request
      type: object
      required: [amount, currency]
      properties: {amount: {type: integer, minimum: 1}, currency: {type: string}}
    request:
      path: /v1/payment_intents
      encoding: form                         # Stripe: form-encoded, bracket notation
      body: {amount: "{{ input.amount }}", currency: "{{ input.currency }}", metadata: "{{ input.metadata }}"}
    idempotency: {header: Idempotency-Key}   # derived from the input: a retried call creates once
    result: {apply: payment_intents}         # the created object lands in that stream's model
    errors: {code: error.code, message: error.message}
```

A body value that is exactly one `{{ expression }}` keeps the expression's type (a number, a
dict for `metadata`, None); values that render to None are left out of the request.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Template = Annotated[str, Field(description="A Jinja2 template string.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ActionRequest(_Strict):
    """One request of an action. Templates see `input`, `config`, `secrets`, `connection`, `now`,
    `idempotency_key`; in a follow-up request `result` (the previous request's record) and
    `results` (every earlier record, in order); in a repeated request `item`."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field("POST", description="HTTP method.")
    path: Template = Field(
        description="Path after base_url, e.g. '/v1/invoices/{{ result.id }}/finalize', or an absolute URL, "
        "e.g. '{{ secrets.incoming_webhook_url }}' (Slack)."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Query parameters (templates).")
    headers: dict[str, Template] = Field(default_factory=dict, description="Extra headers (templates).")
    encoding: Literal["json", "form", "raw"] = Field(
        "json",
        description="json: the body as JSON; form: application/x-www-form-urlencoded with bracket notation "
        "(metadata[key]=v, items[0][price]=p: Stripe); raw: `body` is a template rendered as text.",
    )
    body: Any = Field(None, description="The body: JSON-like with template strings, or a template (raw).")
    content_type: str | None = Field(None, description="Content-Type of a raw body, e.g. 'message/rfc822'.")
    each: Template | None = Field(
        None,
        description="Repeat the request once per element of this list (template), e.g. '{{ input.items }}' "
        "for Stripe's one-invoice-item-per-request; the element is `item`.",
    )

    @model_validator(mode="after")
    def _raw_is_text(self) -> ActionRequest:
        if self.encoding == "raw" and self.body is not None and not isinstance(self.body, str):
            raise ValueError("a raw body is one template string")
        if self.encoding == "form" and self.body is not None and not isinstance(self.body, dict):
            raise ValueError("a form body is a mapping of fields")
        return self


class Idempotency(_Strict):
    """A header that makes a retried create safe: Stripe `Idempotency-Key`, PayPal `PayPal-Request-Id`."""

    header: str = Field(description="Header name, e.g. 'Idempotency-Key'.")
    key: Template | None = Field(
        None,
        description="The key (template); default: a hash of connector, action, connection and input, so the "
        "same call made twice is one create at the provider.",
    )


class ActionResult(_Strict):
    """What the action returns and where it lands."""

    record: str | None = Field(
        None, description="Body path of the resulting object, e.g. 'Invoices.0' (Xero); default: the body."
    )
    apply: str | None = Field(
        None,
        description="A stream of this connector: the record lands through its mapping into its model "
        "(a created Stripe invoice becomes a row of `invoices`).",
    )
    compose: dict[str, Any] | None = Field(
        None,
        description="The result built from templates that see `input`, `result` (the last request's "
        "record), `results` and `now`: for APIs that answer with an id only, e.g. WhatsApp's "
        "{messages: [{id}]} becoming {id, to, text} (the sent message) to `apply`.",
    )
    at: str | None = Field(
        None,
        description="Record path of the result's time (unix seconds or ISO 8601): the applied row's "
        "`_version`, so later webhook updates of the same object (a status) are not older than it. "
        "Unset: when the result was received.",
    )
    merge: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields set on the result record before it lands (templates seeing `input`, `result`, "
        "`now`...): a row that joins the input to the provider's object, e.g. Drive `link_file`: "
        "{record_type: '{{ input.record_type }}', file_id: '{{ result.id }}'}. A single `{{ expression }}` "
        "keeps its type.",
    )
    success_text: str | None = Field(
        None, description="For plain-text APIs (Slack incoming webhooks): the body that means success, 'ok'."
    )


class ActionErrors(_Strict):
    """Where a provider's error says what went wrong."""

    code: str | None = Field(None, description="Body path of the error code, e.g. 'error.code' (Stripe).")
    message: str | None = Field(None, description="Body path of the message, e.g. 'error.message'.")
    detail: str | None = Field(
        None,
        description="Body path of more detail, added to the message, e.g. 'error.error_data.details' "
        "(Meta Graph).",
    )
    text: bool = Field(
        False, description="The error body is plain text naming the error ('invalid_payload')."
    )
    details: str | None = Field(
        None,
        description="Body path of further messages, where '*' steps into every item of a list, e.g. Xero "
        "'Elements.*.ValidationErrors.*.Message': they become the error's `problems`.",
    )
    permanent: list[str] = Field(
        default_factory=list,
        description="Error codes after which retrying cannot help, e.g. Slack [no_service, channel_is_archived].",
    )


class ActionSpec(_Strict):
    description: str = Field("", description="What the action does, for people.")
    input: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"}, description="JSON Schema of the input (draft 2020-12)."
    )
    request: ActionRequest = Field(description="The request made with the input.")
    then: list[ActionRequest] = Field(
        default_factory=list,
        description="Follow-up requests, each seeing the previous `result`, e.g. Stripe's finalize after create.",
    )
    idempotency: Idempotency | None = Field(None, description="The provider's idempotency header, if any.")
    result: ActionResult = Field(
        default_factory=ActionResult, description="What comes back and where it lands."
    )
    errors: ActionErrors = Field(default_factory=ActionErrors, description="How the provider's errors read.")

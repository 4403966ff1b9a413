"""What each event type does, declared under `webhooks.events`: land records, queue syncs.

```yaml
webhooks:
  events:
    invoice.paid:        {apply: {stream: invoices, record: data.object}, at: created}
    payout.failed:       {apply: {stream: payouts, record: data.object}, at: created}
    "*":                 {sync: {streams: [events]}}       # any other type
```

`apply` maps a record found in the event through a stream's own `into`/`fields`, so a webhook
and a poll of the same object land on the same row. `at` is the event's time (a body path; unix
seconds or ISO 8601): the row's `_version`, so an older event never overwrites newer state.
Event types with no entry (and no `"*"`) are stored and marked ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ANY_EVENT = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApplyRecord(_Strict):
    """Map one record (or a list of them) from the event body through a stream's mapping."""

    stream: str = Field(description="A stream of this connector; its `into` and `fields` map the record.")
    record: str | None = Field(
        None, description="Body path of the object, e.g. 'data.object' (Stripe). Empty: the whole body."
    )
    records: str | None = Field(
        None,
        description="Body path of a list of objects, e.g. 'data.items'; `[]` steps go into every "
        "element of a list and flatten: 'entry[].changes[].value.messages' (Meta batches).",
    )
    at: str | None = Field(
        None,
        description="Record path of each record's own time (unix seconds or ISO 8601), e.g. "
        "'timestamp' (WhatsApp): that row's `_version`, instead of the event's `at`.",
    )
    patch: bool = Field(
        False,
        description="Write only the columns the stream maps: an existing row keeps its other columns "
        "(a WhatsApp status update changes a message's status, not its text); a row not there yet "
        "is inserted with just these.",
    )
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Column -> path or mapping (as a stream's `fields`), laid over the stream's "
        "fields for this event's records: for an event object shaped unlike the polled record, "
        "e.g. PayPal's capture resource vs a Transaction Search record.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ApplyRecord:
        if self.record is not None and self.records is not None:
            raise ValueError("give record or records, not both")
        return self


class QueueSync(_Strict):
    """Queue a sync of the event's connection (deduplicated while one is queued)."""

    streams: list[str] = Field(default_factory=list, description="Streams to sync; empty: all.")


class ConnectionRoute(_Strict):
    """Which connection a delivery to the shared URL belongs to: the one whose stored account fact
    (`account`), or account id, equals the value at `path` in the (decoded) body. When none does,
    the event is marked ignored."""

    path: str = Field(description="Body path of the value, e.g. 'message.data.emailAddress'.")
    account: str | None = Field(
        None,
        description="Key of the connection's stored account facts to compare, e.g. 'emailAddress' (kept by "
        "`post_connect`); unset: the connection's account id.",
    )


class EventEffect(_Strict):
    """One event type's effects: records applied to models, and/or a sync queued."""

    apply: ApplyRecord | list[ApplyRecord] = Field(
        default_factory=list, description="Records to land in the models."
    )
    sync: QueueSync | None = Field(None, description="A sync to queue, e.g. Gmail history after a push.")
    at: str | None = Field(
        None,
        description="Body path of the event's time (unix seconds or ISO 8601), e.g. 'created': the rows' "
        "`_version`. Unset: the time the delivery was received.",
    )

    @property
    def applies(self) -> list[ApplyRecord]:
        return self.apply if isinstance(self.apply, list) else [self.apply]

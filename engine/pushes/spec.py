"""The `pushes:` section of a connector spec: rows of the warehouse sent through its actions.

```yaml
pushes:
  invoices:
    description: Stripe invoices into Xero; created once, updated when they change.
    from: {model: invoices, where: {_provider: stripe}}
    action: create_invoices            # Xero creates, or updates when the item has an InvoiceID
    batch: {size: 50, field: invoices} # 50 rows per call: input {invoices: [one input per row]}
    input:                             # templates see `row` (its columns) and `remote` (id or none)
      InvoiceID: "{{ remote }}"
      InvoiceNumber: "{{ row.number }}"
    result: {records: Invoices, remote_id: InvoiceID, error: ValidationErrors}
```

A row is pushed when it has never been, or when the input it renders to has changed since its
last push (a hash is remembered with the remote id). With `update_action`, a row with a remote id
goes through that action instead (Notion: create a page once, then update the same page).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PushSource(_Strict):
    """Which rows are pushed."""

    model: str = Field(description="The unified model (table) read, e.g. 'invoices'.")
    where: dict[str, Scalar] = Field(
        default_factory=dict,
        description="Column values the rows must have, e.g. {_provider: stripe, status: open}.",
    )


class PushBatch(_Strict):
    """Several rows per call, where the provider takes a list (Xero: up to 50 invoices per request)."""

    size: int = Field(ge=1, le=1000, description="Most rows per call.")
    field: str = Field(description="Input field that carries the list of per-row inputs, e.g. 'invoices'.")


class PushResult(_Strict):
    """How the action's result tells each row's remote id (and per-row errors)."""

    records: str | None = Field(
        None,
        description="Path of the per-row results in the action's result, in the order sent (batch), "
        "e.g. 'Invoices'; default: the result itself (one row per call).",
    )
    remote_id: str = Field("id", description="Path of the remote id in a per-row result, e.g. 'InvoiceID'.")
    error: str | None = Field(
        None,
        description="Path of a per-row error in a per-row result; a non-empty value fails that row only, "
        "e.g. 'ValidationErrors' (Xero with summarizeErrors=false).",
    )


class PushSpec(_Strict):
    description: str = Field("", description="What the push does, for people.")
    source: PushSource = Field(alias="from", description="The rows pushed.")
    action: str = Field(description="The action each row (or batch) goes through; it creates, or upserts.")
    update_action: str | None = Field(
        None, description="The action for rows that already have a remote id (Notion: update_page)."
    )
    input: dict[str, Any] = Field(
        description="One row's input to the action (templates see `row`, `remote`: the remembered "
        "remote id, or none before the first push, and `config`: the target connection's config); "
        "values that render to none are left out."
    )
    update_input: dict[str, Any] | None = Field(
        None,
        description="The input of `update_action` (same names as `input`), when it differs: Notion's "
        "update_page takes {page_id: '{{ remote }}', ...} where create_page takes a parent.",
    )
    remote_of: str | None = Field(
        None,
        description="Another push of this connector whose remote ids this one uses: only rows it has "
        "pushed go, with `remote` its id (Xero's payment status read back for pushed invoices).",
    )
    read_back: bool = Field(
        False,
        description="The action reads rather than writes: every row goes each run, whatever changed, and "
        "its result lands through the action's `result.apply`; no remote id is taken from it.",
    )
    batch: PushBatch | None = Field(None, description="Rows per call, for providers that take lists.")
    result: PushResult = Field(default_factory=PushResult, description="How remote ids come back.")

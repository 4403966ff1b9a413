"""Notification rules: "when a row becomes X, run action Y", one YAML file each in rules/.

```yaml
# rules/invoice_paid_to_slack.yaml
name: invoice_paid_to_slack
description: Tell #deals when an invoice is paid.
when: {model: invoices, where: {status: paid}}
do:
  connector: slack
  action: notify
  connection: default
  input:
    text: "Invoice {{ row.number }} paid: {{ row.amount_paid }} {{ row.currency }}"
```

A rule fires once per row that comes to match `where` after the rule exists (rows matching when
it is first evaluated are its baseline, not news); `input` templates see `row` and `rule`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleWhen(_Strict):
    model: str = Field(description="The unified model (table) watched, e.g. 'invoices'.")
    where: dict[str, Scalar] = Field(
        default_factory=dict, description="Column values the row comes to have, e.g. {status: paid}."
    )
    connector: str | None = Field(None, description="Only rows this connector wrote (its `_provider`).")


class RuleDo(_Strict):
    connector: str = Field(description="The connector whose action runs, e.g. 'slack'.")
    action: str = Field(description="The action, e.g. 'notify'.")
    connection: str = Field("default", description="The connection it runs for.")
    input: dict[str, Any] = Field(
        default_factory=dict, description="The action's input; templates see `row` (its columns) and `rule`."
    )


class RuleSpec(_Strict):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="Identifier, snake_case; firings are remembered by it."
    )
    description: str = ""
    when: RuleWhen
    do: RuleDo

"""Link rules (`links/*.yaml`): how messages are linked to CRM records, declared.

```yaml
name: crm_links
description: Emails and WhatsApp messages linked to contacts, brands and their open deals.
rules:
  - name: email_contact          # an address in From/To/Cc equals a contact's email
    link: contact
    from: {model: email_messages, columns: [from_address, to_addresses, cc_addresses], as: email, at: sent_at}
    to: {model: crm_contacts, column: email, as: email}
  - name: email_brand            # an address's domain is a brand's domain
    link: brand
    from: {model: email_messages, columns: [from_address, to_addresses, cc_addresses], as: email_domain, at: sent_at}
    to: {model: crm_brands, column: domain, as: domain}
follow:                          # links through the records linked above
  - name: open_deals
    link: deal
    to: {model: crm_deals, where: {is_open: true}}
    by: {contact: contact_id, brand: brand_id}   # a deal whose contact_id is a linked contact...
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool
Normalizer = Literal["email", "email_domain", "domain", "phone", "text"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LinkSource(_Strict):
    model: str = Field(description="The messages' model, e.g. 'email_messages'.")
    where: dict[str, Scalar] = Field(default_factory=dict, description="Column values the rows must have.")
    columns: list[str] = Field(min_length=1, description="Columns holding the values (text or lists).")
    normalize: Normalizer = Field(alias="as", description="How the values are normalised before comparing.")
    id: str = Field("id", description="The message id column.")
    at: str | None = Field(None, description="The message's time column, copied to the link.")


class LinkTarget(_Strict):
    model: str = Field(description="The CRM model, e.g. 'crm_contacts'.")
    where: dict[str, Scalar] = Field(default_factory=dict)
    column: str = Field(description="The column compared, e.g. 'email'.")
    normalize: Normalizer = Field(alias="as")
    id: str = Field("id", description="The CRM record id column.")


class LinkRule(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    link: str = Field(description="The link type recorded, e.g. 'contact'.")
    source: LinkSource = Field(alias="from")
    target: LinkTarget = Field(alias="to")


class FollowTarget(_Strict):
    model: str
    where: dict[str, Scalar] = Field(default_factory=dict)
    id: str = "id"


class FollowRule(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    link: str = Field(description="The link type recorded, e.g. 'deal'.")
    target: FollowTarget = Field(alias="to")
    by: dict[str, str] = Field(
        min_length=1,
        description="Link type -> the target's column holding that record's id, e.g. {contact: contact_id}.",
    )


class LinkSpec(_Strict):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="The model the links go into, e.g. 'crm_links'."
    )
    description: str = ""
    rules: list[LinkRule] = Field(min_length=1)
    follow: list[FollowRule] = Field(default_factory=list)

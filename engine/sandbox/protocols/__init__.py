"""Providers' protocols, one small class each, as the providers document them.

A paging protocol serves one fixture leaf (a `Snapshot`) for one request (a `Call`). It never
reads the connector's own paging settings: a connector that pages wrongly fails here as it
would in production. Parameters a provider would refuse raise `BadRequest`, rendered in the
provider's error shape (`error_shapes.py`). Every protocol also takes the options `errors`
(an error shape name) and `id_field` (record path of the id, default 'id').

Write protocols (`create`, `update`, `batch_upsert`; `writes.py`; Notion's `notion_page_create`/`_update`) change their collection route's data instead,
so later reads see the change; `slack_webhook` takes deliveries and answers in plain text.

The registry maps the `protocol:` name of a sandbox route to its class.
"""

from engine.sandbox.protocols.base import BadRequest, Protocol
from engine.sandbox.protocols.batches import BatchUpsert
from engine.sandbox.protocols.creates import Create, Retrieve, Update
from engine.sandbox.protocols.docusign import DocuSignEnvelopes
from engine.sandbox.protocols.drive import DriveChanges, DriveFileGet, DriveFiles, DriveStartPageToken
from engine.sandbox.protocols.generic import LinkHeader, OffsetLimit, PageNumber, Single
from engine.sandbox.protocols.gmail import GmailHistory, GmailSend
from engine.sandbox.protocols.google import GooglePageToken
from engine.sandbox.protocols.graph import GraphCursor
from engine.sandbox.protocols.notion import NotionPageCreate, NotionPageUpdate, NotionPostCursor
from engine.sandbox.protocols.paypal import PayPalPages, PayPalTransactionSearch
from engine.sandbox.protocols.slack import SlackCursor
from engine.sandbox.protocols.slack_webhook import SlackWebhook
from engine.sandbox.protocols.stripe import StripeList
from engine.sandbox.protocols.tiktok import TikTokVideoList
from engine.sandbox.protocols.whatsapp import WhatsAppSend
from engine.sandbox.protocols.writes import Collection, WriteProtocol
from engine.sandbox.protocols.xero import XeroList
from engine.sandbox.protocols.youtube import YouTubeList

PROTOCOLS: dict[str, type[Protocol]] = {
    cls.name: cls
    for cls in (
        StripeList,
        GooglePageToken,
        GraphCursor,
        PayPalPages,
        PayPalTransactionSearch,
        NotionPostCursor,
        LinkHeader,
        OffsetLimit,
        PageNumber,
        SlackCursor,
        DocuSignEnvelopes,
        Single,
        Create,
        Update,
        Retrieve,
        NotionPageCreate,
        NotionPageUpdate,
        SlackWebhook,
        WhatsAppSend,
        TikTokVideoList,
        GmailHistory,
        GmailSend,
        XeroList,
        BatchUpsert,
        DriveFiles,
        DriveStartPageToken,
        DriveChanges,
        DriveFileGet,
        YouTubeList,
    )
}

__all__ = ["PROTOCOLS", "BadRequest", "Collection", "Protocol", "WriteProtocol"]

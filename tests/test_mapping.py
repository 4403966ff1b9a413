"""Compiled row mapping into Arrow, on records in the providers' real shapes: Stripe
invoices and charges, PayPal captures, Gmail messages, Google Calendar events, Slack
messages. Also filters, compile-time problems and cast errors."""

from __future__ import annotations

import base64
import copy
import doctest
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest

import engine.mapping
from engine.mapping import CastError, MappingError, RowMapper, compile_filter
from engine.models import ModelSpec, load_models
from engine.spec.models import FieldMapping, RecordFilter

MODELS = load_models()
SYNCED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def fm(**spec: Any) -> FieldMapping:
    return FieldMapping.model_validate(spec)


def rows(mapper: RowMapper, records: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
    return mapper.to_arrow(records, "conn_1", SYNCED, **kwargs).to_pylist()


# ---------------------------------------------------------------- fixtures (real shapes, trimmed)

STRIPE_INVOICE: dict[str, Any] = {
    "id": "in_1OkWbL2eZvKYlo2CQ3cX3Rb0",
    "object": "invoice",
    "amount_due": 2000,
    "amount_paid": 2000,
    "amount_remaining": 0,
    "created": 1700000000,
    "currency": "usd",
    "customer": "cus_P9vEPZ1bJh5K2n",
    "customer_email": "ada@example.com",
    "customer_name": "Ada Lovelace",
    "description": None,
    "due_date": None,
    "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_YWNjdF8x",
    "invoice_pdf": "https://pay.stripe.com/invoice/acct_1/test_YWNjdF8x/pdf",
    "lines": {
        "object": "list",
        "data": [
            {
                "id": "il_1OkWbL2eZvKYlo2C",
                "object": "line_item",
                "amount": 2000,
                "currency": "usd",
                "description": "1 × Pro (at $20.00 / month)",
                "period": {"end": 1702592000, "start": 1700000000},
                "quantity": 1,
            }
        ],
        "has_more": False,
        "url": "/v1/invoices/in_1OkWbL2eZvKYlo2CQ3cX3Rb0/lines",
    },
    "metadata": {"order_id": "6735"},
    "number": "C5B3C1E7-0001",
    "status": "paid",
    "status_transitions": {
        "finalized_at": 1700000100,
        "marked_uncollectible_at": None,
        "paid_at": 1700000200,
        "voided_at": None,
    },
    "subtotal": 2000,
    "tax": None,
    "total": 2000,
}

STRIPE_INVOICE_FIELDS: dict[str, str | FieldMapping] = {
    "id": "id",
    "number": "number",
    "customer_id": "customer",
    "customer_email": "customer_email",
    "customer_name": "customer_name",
    "status": "status",
    "currency": fm(path="currency", **{"as": "upper"}),
    "subtotal": fm(path="subtotal", **{"as": "cents"}),
    "tax": fm(path="tax", **{"as": "cents"}),
    "total": fm(path="total", **{"as": "cents"}),
    "amount_due": fm(path="amount_due", **{"as": "cents"}),
    "amount_paid": fm(path="amount_paid", **{"as": "cents"}),
    "amount_remaining": fm(path="amount_remaining", **{"as": "cents"}),
    "hosted_url": "hosted_invoice_url",
    "pdf_url": "invoice_pdf",
    "issue_date": fm(path="status_transitions.finalized_at", **{"as": "unix_seconds"}),
    "due_date": fm(path="due_date", **{"as": "unix_seconds"}),
    "paid_at": fm(path="status_transitions.paid_at", **{"as": "unix_seconds"}),
    "line_items": fm(path="lines.data", **{"as": "json"}),
    "metadata": fm(path="metadata", **{"as": "json"}),
    "created_at": fm(path="created", **{"as": "unix_seconds"}),
}

PAYPAL_CAPTURE: dict[str, Any] = {
    "id": "2GG279541U471931P",
    "status": "COMPLETED",
    "amount": {"currency_code": "USD", "value": "10.99"},
    "final_capture": True,
    "seller_receivable_breakdown": {
        "gross_amount": {"currency_code": "USD", "value": "10.99"},
        "paypal_fee": {"currency_code": "USD", "value": "0.33"},
        "net_amount": {"currency_code": "USD", "value": "10.66"},
    },
    "invoice_id": "INV-1001",
    "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
    "links": [
        {
            "href": "https://api-m.paypal.com/v2/payments/captures/2GG279541U471931P",
            "rel": "self",
            "method": "GET",
        },
        {"href": "https://api-m.paypal.com/v2/payments/captures/2GG279541U471931P/refund", "rel": "refund"},
    ],
    "create_time": "2024-03-01T10:30:00Z",
    "update_time": "2024-03-01T11:30:05+01:00",
}

GMAIL_MESSAGE: dict[str, Any] = {
    "id": "18c2f1a9b3e4d5f6",
    "threadId": "18c2f1a9b3e4d5f6",
    "labelIds": ["INBOX", "UNREAD", "CATEGORY_PERSONAL"],
    "snippet": "Hi Ada, the invoice is attached.",
    "historyId": "1234567",
    "internalDate": "1700000000123",
    "sizeEstimate": 5321,
    "payload": {
        "partId": "",
        "mimeType": "multipart/alternative",
        "filename": "",
        "headers": [
            {"name": "Delivered-To", "value": "ada@example.com"},
            {"name": "Date", "value": "Tue, 14 Nov 2023 23:13:20 +0100"},
            {"name": "From", "value": "Bob Builder <bob@example.com>"},
            {"name": "To", "value": '"Lovelace, Ada" <ada@example.com>, carol@example.com'},
            {"name": "subject", "value": "Invoice for November"},
            {"name": "Message-ID", "value": "<CAF=abc123@mail.gmail.com>"},
        ],
        "body": {"size": 0},
        "parts": [
            {
                "partId": "0",
                "mimeType": "text/plain",
                "filename": "",
                "headers": [{"name": "Content-Type", "value": 'text/plain; charset="UTF-8"'}],
                "body": {"size": 33, "data": b64url("Hi Ada, the invoice is attached.\r\n")},
            },
            {
                "partId": "1",
                "mimeType": "text/html",
                "filename": "",
                "headers": [{"name": "Content-Type", "value": 'text/html; charset="UTF-8"'}],
                "body": {"size": 40, "data": b64url("<p>Hi Ada, the invoice is attached.</p>")},
            },
        ],
    },
}

GMAIL_FIELDS: dict[str, str | FieldMapping] = {
    "id": "id",
    "thread_id": "threadId",
    "internet_message_id": fm(path="payload.headers", **{"as": "header"}, args={"name": "Message-ID"}),
    "subject": fm(path="payload.headers", **{"as": "header"}, args={"name": "Subject"}),
    "from_address": fm(path="payload.headers", **{"as": "header"}, args={"name": "From"}),
    "to_addresses": fm(path="payload.headers", **{"as": "header"}, args={"name": "To", "addresses": True}),
    "snippet": "snippet",
    "body_text": fm(path="payload.parts[mimeType=text/plain].body.data", **{"as": "base64url"}),
    "body_html": fm(path="payload.parts[mimeType=text/html].body.data", **{"as": "base64url"}),
    "labels": "labelIds",
    "is_read": fm(path="labelIds", **{"as": "contains"}, args={"value": "UNREAD", "negate": True}),
    "size_bytes": "sizeEstimate",
    "sent_at": fm(path="payload.headers", **{"as": "header"}, args={"name": "Date"}),
    "received_at": fm(path="internalDate", **{"as": "unix_ms"}),
}

GOOGLE_EVENTS: list[dict[str, Any]] = [
    {
        "kind": "calendar#event",
        "etag": '"3181161784712000"',
        "id": "7cbh8rpc10lrc0ckih9tafss99",
        "status": "confirmed",
        "htmlLink": "https://www.google.com/calendar/event?eid=N2NiaDhycGMxMGxy",
        "created": "2024-02-20T09:00:00.000Z",
        "updated": "2024-02-21T10:15:30.123Z",
        "summary": "Weekly sync",
        "creator": {"email": "ada@example.com", "self": True},
        "organizer": {"email": "ada@example.com", "displayName": "Ada Lovelace", "self": True},
        "start": {"dateTime": "2024-03-04T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2024-03-04T10:30:00+01:00", "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
        "iCalUID": "7cbh8rpc10lrc0ckih9tafss99@google.com",
        "attendees": [
            {"email": "ada@example.com", "organizer": True, "self": True, "responseStatus": "accepted"},
            {"email": "bob@example.com", "responseStatus": "needsAction"},
        ],
        "hangoutLink": "https://meet.google.com/abc-defg-hij",
    },
    {
        "kind": "calendar#event",
        "id": "1n2b3v4c5x6z",
        "status": "confirmed",
        "created": "2024-02-01T08:00:00.000Z",
        "updated": "2024-02-01T08:00:00.000Z",
        "summary": "Company offsite",
        "start": {"date": "2024-03-07"},
        "end": {"date": "2024-03-09"},
        "iCalUID": "1n2b3v4c5x6z@google.com",
    },
    {  # a cancelled instance of the recurring event: Google sends only a few fields
        "kind": "calendar#event",
        "id": "7cbh8rpc10lrc0ckih9tafss99_20240311T090000Z",
        "status": "cancelled",
        "recurringEventId": "7cbh8rpc10lrc0ckih9tafss99",
        "originalStartTime": {"dateTime": "2024-03-11T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    },
]

GOOGLE_EVENT_FIELDS: dict[str, str | FieldMapping] = {
    "id": "id",
    "calendar_id": fm(value="primary"),
    "ical_uid": "iCalUID",
    "recurring_event_id": "recurringEventId",
    "original_start_at": fm(
        coalesce=["originalStartTime.dateTime", "originalStartTime.date"], **{"as": "iso_timestamp"}
    ),
    "status": "status",
    "title": "summary",
    "html_link": "htmlLink",
    "conference_url": "hangoutLink",
    "all_day": fm(path="start.date", **{"as": "present"}),
    "start_at": fm(path="start.dateTime", **{"as": "iso_timestamp"}),
    "end_at": fm(path="end.dateTime", **{"as": "iso_timestamp"}),
    "start_date": fm(path="start.date", **{"as": "date"}),
    "end_date": fm(path="end.date", **{"as": "date"}),
    "start_time_zone": "start.timeZone",
    "recurrence": "recurrence",
    "organizer_email": "organizer.email",
    "organizer_name": "organizer.displayName",
    "attendees": fm(path="attendees", **{"as": "json"}),
    "transparency": fm(path="transparency", default="opaque"),
    "created_at": "created",
    "updated_at": fm(path="updated", **{"as": "iso_timestamp"}),
}


# ---------------------------------------------------------------- mapping


def test_stripe_invoice_maps_paths_nested_paths_and_transforms() -> None:
    mapper = RowMapper(MODELS["invoices"], STRIPE_INVOICE_FIELDS, "stripe")
    [row] = rows(mapper, [STRIPE_INVOICE])
    assert row["id"] == "in_1OkWbL2eZvKYlo2CQ3cX3Rb0"
    assert row["customer_id"] == "cus_P9vEPZ1bJh5K2n"
    assert row["currency"] == "USD"
    assert row["amount_due"] == Decimal("20.00") and row["tax"] is None
    assert row["issue_date"] == date(2023, 11, 14)  # a timestamp into a date column
    assert row["paid_at"] == datetime(2023, 11, 14, 22, 16, 40, tzinfo=UTC)
    assert row["created_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert orjson.loads(row["line_items"])[0]["id"] == "il_1OkWbL2eZvKYlo2C"
    assert orjson.loads(row["metadata"]) == {"order_id": "6735"}
    assert row["description"] is None and row["updated_at"] is None  # unmapped: null


def test_output_has_the_model_schema_and_system_columns() -> None:
    model = MODELS["invoices"]
    mapper = RowMapper(model, STRIPE_INVOICE_FIELDS, "stripe")
    table = mapper.to_arrow([STRIPE_INVOICE, STRIPE_INVOICE | {"id": "in_2"}], "acct_1MqD", SYNCED)
    assert table.schema == model.arrow_schema()
    assert (
        table.column_names
        == mapper.columns
        == [*model.columns, "_provider", "_connection_id", "_synced_at", "_version", "_raw"]
    )
    assert table.schema.field("amount_due").type == pa.decimal128(18, 2)
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("issue_date").type == pa.date32()
    assert table.column("_provider").to_pylist() == ["stripe", "stripe"]
    assert table.column("_connection_id").to_pylist() == ["acct_1MqD", "acct_1MqD"]
    assert table.column("_synced_at").to_pylist() == [SYNCED, SYNCED]
    assert orjson.loads(table.column("_raw")[0].as_py()) == STRIPE_INVOICE


def test_mapping_never_changes_the_records() -> None:
    records = [copy.deepcopy(STRIPE_INVOICE)]
    RowMapper(MODELS["invoices"], STRIPE_INVOICE_FIELDS, "stripe").to_arrow(records, "c", SYNCED)
    assert records == [STRIPE_INVOICE]


def test_an_empty_page_gives_an_empty_table() -> None:
    table = RowMapper(MODELS["invoices"], STRIPE_INVOICE_FIELDS, "stripe").to_arrow([], "c", SYNCED)
    assert table.num_rows == 0 and table.schema == MODELS["invoices"].arrow_schema()


def test_paypal_capture_maps_decimal_strings_selections_and_constants() -> None:
    fields: dict[str, str | FieldMapping] = {
        "id": "id",
        "kind": fm(value="capture"),
        "status": fm(path="status", **{"as": "lower"}),
        "amount": fm(path="amount.value", **{"as": "decimal"}),
        "fee": "seller_receivable_breakdown.paypal_fee.value",  # text into a decimal column
        "currency": "amount.currency_code",
        "invoice_id": "invoice_id",
        "parent_id": "supplementary_data.related_ids.order_id",
        "receipt_url": "links[rel=self].href",
        "created_at": "create_time",  # ISO text into a timestamp column
        "updated_at": fm(path="update_time", **{"as": "iso_timestamp"}),
    }
    [row] = rows(RowMapper(MODELS["payments"], fields, "paypal"), [PAYPAL_CAPTURE])
    assert row["kind"] == "capture" and row["status"] == "completed"
    assert row["amount"] == Decimal("10.99") and row["fee"] == Decimal("0.33")
    assert row["parent_id"] == "5O190127TN364715T"
    assert row["receipt_url"] == "https://api-m.paypal.com/v2/payments/captures/2GG279541U471931P"
    assert row["created_at"] == datetime(2024, 3, 1, 10, 30, tzinfo=UTC)
    assert row["updated_at"] == datetime(2024, 3, 1, 10, 30, 5, tzinfo=UTC)


def test_gmail_message_picks_headers_and_decodes_bodies() -> None:
    [row] = rows(RowMapper(MODELS["email_messages"], GMAIL_FIELDS, "gmail"), [GMAIL_MESSAGE])
    assert row["subject"] == "Invoice for November"  # header name matched in any case
    assert row["from_address"] == "Bob Builder <bob@example.com>"
    assert row["internet_message_id"] == "<CAF=abc123@mail.gmail.com>"
    assert row["to_addresses"] == ["ada@example.com", "carol@example.com"]
    assert row["body_text"] == "Hi Ada, the invoice is attached.\r\n"
    assert row["body_html"] == "<p>Hi Ada, the invoice is attached.</p>"
    assert row["labels"] == ["INBOX", "UNREAD", "CATEGORY_PERSONAL"]
    assert row["is_read"] is False
    assert row["size_bytes"] == 5321
    assert row["sent_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # RFC 2822 Date header
    assert row["received_at"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def test_google_calendar_events_timed_all_day_and_cancelled() -> None:
    mapper = RowMapper(MODELS["calendar_events"], GOOGLE_EVENT_FIELDS, "google_calendar")
    timed, all_day, cancelled = rows(mapper, GOOGLE_EVENTS)

    assert timed["all_day"] is False
    assert timed["start_at"] == datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
    assert timed["end_at"] == datetime(2024, 3, 4, 9, 30, tzinfo=UTC)
    assert timed["start_date"] is None and timed["start_time_zone"] == "Europe/Berlin"
    assert timed["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO"]
    assert timed["organizer_email"] == "ada@example.com"
    assert [a["email"] for a in orjson.loads(timed["attendees"])] == ["ada@example.com", "bob@example.com"]
    assert timed["created_at"] == datetime(2024, 2, 20, 9, tzinfo=UTC)
    assert timed["updated_at"] == datetime(2024, 2, 21, 10, 15, 30, 123000, tzinfo=UTC)

    assert all_day["all_day"] is True
    assert (all_day["start_date"], all_day["end_date"]) == (date(2024, 3, 7), date(2024, 3, 9))
    assert all_day["start_at"] is None

    assert cancelled["status"] == "cancelled"
    assert cancelled["recurring_event_id"] == "7cbh8rpc10lrc0ckih9tafss99"
    assert cancelled["original_start_at"] == datetime(2024, 3, 11, 9, tzinfo=UTC)
    assert cancelled["title"] is None and cancelled["all_day"] is False
    assert {r["transparency"] for r in (timed, all_day, cancelled)} == {"opaque"}  # default
    assert {r["calendar_id"] for r in (timed, all_day, cancelled)} == {"primary"}  # constant


def test_coalesce_takes_the_first_non_null_path() -> None:
    fields: dict[str, str | FieldMapping] = {
        "id": "id",
        "customer_email": fm(coalesce=["customer_email", "customer_details.email", "receipt_email"]),
    }
    mapper = RowMapper(MODELS["payments"], fields, "stripe")
    records: list[dict[str, Any]] = [
        {"id": "ch_1", "customer_email": "a@example.com", "receipt_email": "x@example.com"},
        {"id": "ch_2", "customer_email": None, "customer_details": {"email": "b@example.com"}},
        {"id": "ch_3", "receipt_email": "c@example.com"},
        {"id": "ch_4"},
    ]
    assert [r["customer_email"] for r in rows(mapper, records)] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        None,
    ]


def test_default_fills_nulls_after_the_transform() -> None:
    fields: dict[str, str | FieldMapping] = {
        "id": "id",
        "is_primary": fm(path="primary", **{"as": "boolean"}, default=False),
        "access_role": fm(path="accessRole", default="reader"),
    }
    mapper = RowMapper(MODELS["calendars"], fields, "google_calendar")
    records: list[dict[str, Any]] = [
        {"id": "ada@example.com", "primary": True, "accessRole": "owner"},
        {"id": "en.usa#holiday"},
    ]
    assert [(r["is_primary"], r["access_role"]) for r in rows(mapper, records)] == [
        (True, "owner"),
        (False, "reader"),
    ]


def test_constants_in_every_spelling() -> None:
    fields: dict[str, str | FieldMapping] = {
        "id": "id",
        "kind": fm(**{"as": "constant"}, args={"value": "charge"}),
        "currency": fm(value="USD"),
        "amount": fm(value=1999, **{"as": "cents"}),
        "metadata": fm(value={"source": "backfill"}),
    }
    [row] = rows(RowMapper(MODELS["payments"], fields, "stripe"), [{"id": "ch_1"}])
    assert (row["kind"], row["currency"], row["amount"]) == ("charge", "USD", Decimal("19.99"))
    assert orjson.loads(row["metadata"]) == {"source": "backfill"}


def test_fields_may_be_plain_dicts() -> None:
    fields: dict[str, Any] = {"id": "id", "amount": {"path": "amount", "as": "cents"}}
    [row] = rows(RowMapper(MODELS["payments"], fields, "stripe"), [{"id": "ch_1", "amount": 5}])
    assert row["amount"] == Decimal("0.05")


def test_whole_column_and_value_by_value_paths_agree() -> None:
    fields: dict[str, str | FieldMapping] = {
        "id": "id",
        "amount": fm(path="amount", **{"as": "cents"}),
        "created_at": fm(path="created", **{"as": "unix_seconds"}),
    }
    mapper = RowMapper(MODELS["payments"], fields, "stripe")
    clean: list[dict[str, Any]] = [
        {"id": "ch_1", "amount": 1999, "created": 1700000000},
        {"id": "ch_2", "amount": None, "created": 0},
    ]
    # A numeric string and a float make Arrow refuse the column: the per-value path takes over.
    mixed: list[dict[str, Any]] = [
        {"id": "ch_1", "amount": "1999", "created": 1700000000.0},
        {"id": "ch_2", "amount": None, "created": 0},
    ]

    def without_raw(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "_raw"} for r in rows(mapper, records)]

    assert without_raw(clean) == without_raw(mixed)
    assert without_raw(clean)[0]["amount"] == Decimal("19.99")


def test_money_is_rounded_to_the_column_scale() -> None:
    fields: dict[str, str | FieldMapping] = {
        "id": "id",
        "amount": fm(path="amount", **{"as": "cents"}, args={"exponent": 3}),
    }
    mapper = RowMapper(MODELS["payments"], fields, "tap")
    got = [r["amount"] for r in rows(mapper, [{"id": "1", "amount": 1234}, {"id": "2", "amount": 1235}])]
    assert got == [Decimal("1.23"), Decimal("1.24")]  # half-even, at DECIMAL(18, 2)


def test_slack_messages_with_a_filter_and_fractional_unix_seconds() -> None:
    keep = compile_filter(
        RecordFilter.model_validate({"field": "subtype", "not_in": ["channel_join", "channel_leave"]})
    )
    assert keep is not None
    history: list[dict[str, Any]] = [
        {
            "type": "message",
            "user": "U061F7AUR",
            "text": "Shipped!",
            "ts": "1700000000.000100",
            "reply_count": 2,
        },
        {
            "type": "message",
            "subtype": "channel_join",
            "user": "U0G9QF9C6",
            "text": "<@U0G9QF9C6> has joined",
            "ts": "1700000001.000200",
        },
    ]
    fields: dict[str, str | FieldMapping] = {
        "id": "ts",
        "channel_id": fm(value="C012AB3CD"),
        "thread_id": "thread_ts",
        "sender_id": "user",
        "message_type": fm(coalesce=["subtype", "type"]),
        "text": "text",
        "reply_count": "reply_count",
        "sent_at": fm(path="ts", **{"as": "unix_seconds"}),
    }
    [row] = rows(RowMapper(MODELS["messages"], fields, "slack"), [m for m in history if keep(m)])
    assert row["id"] == "1700000000.000100" and row["message_type"] == "message"
    assert row["sent_at"] == datetime(2023, 11, 14, 22, 13, 20, 100, tzinfo=UTC)


def test_page_values_fill_slice_columns() -> None:
    fields: dict[str, str | FieldMapping] = {
        **GOOGLE_EVENT_FIELDS,
        "calendar_id": fm(**{"as": "constant"}, args={"value": None}),
    }
    mapper = RowMapper(MODELS["calendar_events"], fields, "google_calendar")
    table = mapper.to_arrow(GOOGLE_EVENTS[:2], "c", SYNCED, page_values={"calendar_id": "ada@example.com"})
    assert table.column("calendar_id").to_pylist() == ["ada@example.com"] * 2
    with pytest.raises(ValueError, match="did you mean 'calendar_id'"):
        mapper.to_arrow(GOOGLE_EVENTS[:1], "c", SYNCED, page_values={"calendar": "x"})


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("spec", "kept"),
    [
        ({"field": "object", "equals": "charge"}, ["ch_1", "ch_2"]),
        ({"field": "object", "not_equals": "charge"}, ["re_1", "pi_1"]),
        ({"field": "object", "in": ["refund", "payment_intent"]}, ["re_1", "pi_1"]),
        ({"field": "object", "not_in": ["refund"]}, ["ch_1", "ch_2", "pi_1"]),
        ({"field": "refunded", "equals": True}, ["ch_2"]),
        ({"field": "outcome.type", "equals": "authorized"}, ["ch_1"]),
        ({"field": "failure_code", "equals": None}, ["ch_1", "ch_2", "re_1", "pi_1"]),  # missing is null
        ({"field": "amount_refunded", "equals": 1}, []),  # 1 is not true
    ],
)
def test_filters(spec: dict[str, Any], kept: list[str]) -> None:
    records: list[dict[str, Any]] = [
        {
            "id": "ch_1",
            "object": "charge",
            "refunded": False,
            "outcome": {"type": "authorized"},
            "failure_code": None,
        },
        {"id": "ch_2", "object": "charge", "refunded": True, "amount_refunded": True},
        {"id": "re_1", "object": "refund"},
        {"id": "pi_1", "object": "payment_intent"},
    ]
    keep = compile_filter(RecordFilter.model_validate(spec))
    assert keep is not None
    assert [r["id"] for r in records if keep(r)] == kept


def test_no_filter_compiles_to_none_and_an_empty_filter_is_refused() -> None:
    assert compile_filter(None) is None
    with pytest.raises(ValueError, match="needs one of: equals, not_equals, in, not_in"):
        compile_filter(RecordFilter(field="object"))


# ---------------------------------------------------------------- compile-time problems


def problems(model: str, fields: dict[str, Any]) -> list[str]:
    with pytest.raises(MappingError) as info:
        RowMapper(MODELS[model], {"id": "id", **fields}, "stripe")
    assert isinstance(info.value, ValueError)
    return [str(p) for p in info.value.problems]


def test_unknown_column_suggests_the_closest() -> None:
    assert problems("invoices", {"amount_du": "amount_due"}) == [
        "fields.amount_du: no column 'amount_du' in model 'invoices' (did you mean 'amount_due'?)"
    ]


def test_system_columns_cannot_be_mapped() -> None:
    assert problems("invoices", {"_raw": "id"}) == [
        "fields._raw: '_raw' is a system column, filled by the engine"
    ]


def test_all_problems_are_listed_with_field_names() -> None:
    with pytest.raises(MappingError) as info:
        RowMapper(
            MODELS["invoices"],
            {
                "id": "id",
                "created_at": fm(path="created", **{"as": "unix_second"}),
                "amount_due": fm(path="amount_due", **{"as": "cents"}, args={"exponant": 0}),
                "status": fm(path="status", coalesce=["status", "state"]),
                "total": fm(default=0),
                "paid_at": fm(path="paid", **{"as": "cents"}),
                "due_date": fm(path="due", default="soon"),
                "tax": fm(path="tax", args={"exponent": 2}),
            },
            "stripe",
        )
    message = str(info.value)
    assert message.startswith("stripe -> invoices: 7 problem(s) in field mapping:")
    for expected in [
        "fields.created_at.as: unknown transform 'unix_second' (did you mean 'unix_seconds'?)",
        "fields.amount_due.args: transform 'cents' has no arg 'exponant' (did you mean 'exponent'?)",
        "fields.status.coalesce: use either path or coalesce, not both",
        "fields.total: needs a path, coalesce (a list of paths) or value (a constant)",
        "fields.paid_at.as: transform 'cents' makes decimal values; column 'paid_at' is timestamp",
        "fields.due_date.default: default does not fit the date column",
        "fields.tax.args: args need a transform (as: ...)",
    ]:
        assert expected in message


def test_primary_key_columns_must_be_mapped() -> None:
    with pytest.raises(
        MappingError, match="primary key column 'calendar_id' of 'calendar_events' is not mapped"
    ):
        RowMapper(MODELS["calendar_events"], {"id": "id"}, "google_calendar")


def test_a_bad_constant_is_caught_at_compile_time() -> None:
    assert any("fields.created_at.value" in p for p in problems("invoices", {"created_at": fm(value="soon")}))


# ---------------------------------------------------------------- cast errors


def test_a_bad_value_names_column_transform_record_and_value() -> None:
    mapper = RowMapper(MODELS["invoices"], STRIPE_INVOICE_FIELDS, "stripe")
    bad = STRIPE_INVOICE | {"id": "in_bad", "amount_due": "20.00"}
    with pytest.raises(CastError) as info:
        mapper.to_arrow([STRIPE_INVOICE, bad], "c", SYNCED)
    message = str(info.value)
    assert "invoices.amount_due (path 'amount_due' as cents), record 1 (id='in_bad')" in message
    assert "cents: cannot convert '20.00' (str): expected whole minor units" in message
    assert info.value.column == "amount_due" and info.value.index == 1
    assert isinstance(info.value, ValueError)


def test_a_value_the_column_type_cannot_hold_is_a_cast_error() -> None:
    mapper = RowMapper(MODELS["invoices"], {"id": "id", "created_at": "created"}, "stripe")
    with pytest.raises(
        CastError, match=r"invoices.created_at \(path 'created'\), record 0.*unix_seconds or unix_ms"
    ):
        mapper.to_arrow([{"id": "in_1", "created": 1700000000}], "c", SYNCED)


def test_money_too_large_for_the_column_is_a_cast_error() -> None:
    mapper = RowMapper(
        MODELS["payments"], {"id": "id", "amount": fm(path="amount", **{"as": "cents"})}, "stripe"
    )
    with pytest.raises(CastError, match="does not fit DECIMAL"):
        mapper.to_arrow([{"id": "ch_1", "amount": 10**19}], "c", SYNCED)


def test_a_null_primary_key_is_a_cast_error() -> None:
    mapper = RowMapper(MODELS["invoices"], {"id": "id"}, "stripe")
    with pytest.raises(CastError, match="invoices.id .*record 1.*primary key column is null"):
        mapper.to_arrow([{"id": "in_1"}, {"object": "invoice"}], "c", SYNCED)


def test_model_built_in_code_maps_too() -> None:
    model = ModelSpec.model_validate(
        {
            "name": "events",
            "description": "Provider events.",
            "primary_key": ["id"],
            "columns": {"id": {"type": "string"}, "count": {"type": "integer"}, "ratio": {"type": "float"}},
        }
    )
    [row] = rows(
        RowMapper(model, {"id": "id", "count": "n", "ratio": "r"}, "x"), [{"id": 7, "n": "3", "r": "0.5"}]
    )
    assert (row["id"], row["count"], row["ratio"]) == ("7", 3, 0.5)


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(engine.mapping)
    assert result.attempted and result.failed == 0

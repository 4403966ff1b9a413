"""Typed transforms: good values, nulls, bad values with clear errors, compile-time checks,
and the Arrow (whole-column) forms agreeing with the per-value forms."""

from __future__ import annotations

import base64
import doctest
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

import engine.transforms
from engine.transforms import (
    TRANSFORMS,
    TransformSpecError,
    TransformValueError,
    compile_transform,
)

GMAIL_HEADERS = [
    {"name": "Delivered-To", "value": "ada@example.com"},
    {"name": "Date", "value": "Tue, 14 Nov 2023 23:13:20 +0100"},
    {"name": "From", "value": "Bob Builder <bob@example.com>"},
    {"name": "To", "value": '"Lovelace, Ada" <ada@example.com>, carol@example.com'},
    {"name": "subject", "value": "Invoice for November"},
]
T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


GOOD: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("unix_seconds", {}, 1700000000, T0),
    ("unix_seconds", {}, 1700000000.5, T0 + timedelta(microseconds=500000)),
    ("unix_seconds", {}, "1700000000", T0),
    ("unix_seconds", {}, "", None),
    ("unix_ms", {}, 1700000000123, T0 + timedelta(milliseconds=123)),
    ("unix_ms", {}, "1700000000123", T0 + timedelta(milliseconds=123)),  # Gmail internalDate
    ("iso_timestamp", {}, "2023-11-14T22:13:20Z", T0),
    ("iso_timestamp", {}, "2023-11-14T22:13:20.000Z", T0),
    ("iso_timestamp", {}, "2023-11-14T23:13:20+01:00", T0),
    ("iso_timestamp", {}, "2023-11-14T17:13:20-0500", T0),
    ("iso_timestamp", {}, "2023-11-14T22:13:20", T0),  # naive: read as UTC
    ("iso_timestamp", {}, "2023-11-14T22:13:20.1234567Z", T0 + timedelta(microseconds=123456)),  # 7 digits
    ("iso_timestamp", {}, "2023-11-14", datetime(2023, 11, 14, tzinfo=UTC)),
    ("iso_timestamp", {}, "2023-11-14T22:13:20z", T0),
    ("rfc2822", {}, "Tue, 14 Nov 2023 23:13:20 +0100", T0),
    ("date", {}, "2024-03-01", date(2024, 3, 1)),
    ("lookup", {"values": {"S": "completed", "D": "declined"}}, "D", "declined"),  # PayPal status codes
    ("lookup", {"values": {"T1107": "refund"}, "default": "transaction"}, "T0200", "transaction"),
    ("lookup", {"values": {"A": "x"}, "keep": True}, "B", "B"),
    ("date", {}, "2024-03-01T23:30:00-05:00", date(2024, 3, 1)),  # the date as written
    ("date", {}, T0, date(2023, 11, 14)),
    ("cents", {}, 1999, Decimal("19.99")),
    ("cents", {}, -50, Decimal("-0.50")),
    ("cents", {}, "1999", Decimal("19.99")),
    ("cents", {"exponent": 0}, 500, Decimal("500")),  # JPY
    ("cents", {"exponent": 3}, 1234, Decimal("1.234")),  # KWD
    ("decimal", {}, "10.99", Decimal("10.99")),  # PayPal amount.value
    ("decimal", {}, 10, Decimal("10")),
    ("decimal", {}, 0.1, Decimal("0.1")),
    ("decimal", {}, Decimal("1.5"), Decimal("1.5")),
    ("lower", {}, "COMPLETED", "completed"),
    ("upper", {}, "eur", "EUR"),
    ("base64url", {}, b64url("Hi Ada, the invoice is attached.\r\n"), "Hi Ada, the invoice is attached.\r\n"),
    ("base64url", {}, b64url("Grüße 👋"), "Grüße 👋"),  # '-' and '_' in the alphabet, no padding
    ("base64url", {}, base64.urlsafe_b64encode(b"padded").decode(), "padded"),
    ("base64url", {"errors": "replace"}, base64.urlsafe_b64encode(b"\xffok").decode(), "\ufffdok"),
    ("header", {"name": "Subject"}, GMAIL_HEADERS, "Invoice for November"),
    ("header", {"name": "FROM"}, GMAIL_HEADERS, "Bob Builder <bob@example.com>"),
    ("header", {"name": "Reply-To"}, GMAIL_HEADERS, None),
    ("header", {"name": "To", "addresses": True}, GMAIL_HEADERS, ["ada@example.com", "carol@example.com"]),
    ("constant", {"value": "charge"}, "anything", "charge"),
    (
        "json",
        {},
        {"email": "ada@example.com", "optional": False},
        '{"email":"ada@example.com","optional":false}',
    ),
    ("json", {}, "text", '"text"'),
    ("string", {}, 42, "42"),
    ("string", {}, True, "true"),
    ("string", {}, Decimal("1.50"), "1.50"),
    ("string", {}, date(2024, 3, 1), "2024-03-01"),
    ("integer", {}, "1024", 1024),  # YouTube statistics.viewCount
    ("integer", {}, 3.0, 3),
    ("integer", {}, "3.0", 3),
    ("float", {}, "2.5", 2.5),
    ("float", {}, 2, 2.0),
    ("boolean", {}, "TRUE", True),
    ("boolean", {}, "no", False),
    ("boolean", {}, 1, True),
    ("boolean", {}, False, False),
    ("join", {}, ["INBOX", "UNREAD"], "INBOX, UNREAD"),
    ("join", {"sep": ";"}, ["a", None, 3], "a;3"),
    ("split", {}, "ada@example.com, ,bob@example.com", ["ada@example.com", "bob@example.com"]),
    ("first", {}, ["INBOX", "UNREAD"], "INBOX"),
    ("first", {}, [], None),
    ("contains", {"value": "UNREAD"}, ["INBOX", "UNREAD"], True),
    ("contains", {"value": "UNREAD", "negate": True}, ["INBOX"], True),
    ("present", {}, "2024-03-01", True),
    ("present", {}, "", False),
    ("equals", {"value": "application/vnd.google-apps.folder"}, "application/vnd.google-apps.folder", True),
    ("equals", {"value": 1}, "1", False),
    ("iso_duration", {}, "PT4M13S", 253.0),
    ("iso_duration", {}, "P1DT2H", 93600.0),
    ("iso_duration", {}, "PT0.5S", 0.5),
    (
        "prefix",
        {"text": "https://www.youtube.com/watch?v="},
        "dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    ),
    ("strip", {"chars": "@"}, "@acmestudio", "acmestudio"),
    ("strip", {}, "  padded ", "padded"),
]


@pytest.mark.parametrize(("name", "args", "value", "expected"), GOOD)
def test_transform_converts_good_values(name: str, args: dict[str, Any], value: Any, expected: Any) -> None:
    assert compile_transform(name, args)(value) == expected


def test_timestamps_come_out_aware_and_in_utc() -> None:
    for name, value in [("unix_seconds", 1), ("unix_ms", 1), ("iso_timestamp", "2024-03-01T10:00:00+05:30")]:
        result = compile_transform(name)(value)
        assert result.tzinfo is not None and result.utcoffset() == timedelta(0)


REQUIRED_ARGS: dict[str, dict[str, Any]] = {
    "header": {"name": "Subject"},
    "constant": {"value": "x"},
    "contains": {"value": "x"},
    "lookup": {"values": {"S": "completed"}, "default": "other"},
    "equals": {"value": "x"},
    "prefix": {"text": "x"},
}


@pytest.mark.parametrize("name", sorted(set(TRANSFORMS) - {"present", "constant"}))
def test_nulls_pass_through(name: str) -> None:
    assert compile_transform(name, REQUIRED_ARGS.get(name))(None) is None


def test_present_and_constant_look_at_nulls() -> None:
    assert compile_transform("present")(None) is False
    assert compile_transform("constant", {"value": "charge"})(None) == "charge"


BAD: list[tuple[str, dict[str, Any], Any]] = [
    ("unix_seconds", {}, "yesterday"),
    ("unix_seconds", {}, True),
    ("unix_seconds", {}, 10**20),
    ("unix_ms", {}, {"seconds": 1}),
    ("iso_timestamp", {}, "14/11/2023"),
    ("iso_timestamp", {}, 1700000000),
    ("rfc2822", {}, "not a date"),
    ("date", {}, "2024-02-30"),
    ("date", {}, 20240301),
    ("cents", {}, 19.99),
    ("cents", {}, "abc"),
    ("cents", {}, "19.99"),
    ("cents", {}, True),
    ("decimal", {}, "1,234.50"),
    ("decimal", {}, "NaN"),
    ("decimal", {}, [1]),
    ("lower", {}, 42),
    ("upper", {}, ["eur"]),
    ("base64url", {}, "not*base64"),
    ("base64url", {}, base64.urlsafe_b64encode(b"\xff\xfe").decode()),
    ("base64url", {}, 12),
    ("header", {"name": "Subject"}, {"Subject": "Hi"}),
    ("string", {}, {"a": 1}),
    ("integer", {}, 2.5),
    ("integer", {}, True),
    ("integer", {}, "twelve"),
    ("float", {}, "abc"),
    ("float", {}, False),
    ("boolean", {}, "maybe"),
    ("boolean", {}, 2),
    ("join", {}, "a,b"),
    ("split", {}, ["a"]),
    ("first", {}, "abc"),
    ("contains", {"value": "UNREAD"}, "UNREAD"),
    ("iso_duration", {}, "4 minutes"),
    ("iso_duration", {}, "PT"),
    ("iso_duration", {}, "P1H"),
    ("iso_duration", {}, 253),
]


@pytest.mark.parametrize(("name", "args", "value"), BAD)
def test_bad_values_raise_a_clear_value_error(name: str, args: dict[str, Any], value: Any) -> None:
    with pytest.raises(ValueError) as info:
        compile_transform(name, args)(value)
    assert isinstance(info.value, TransformValueError)
    message = str(info.value)
    assert message.startswith(f"{name}: cannot convert ")
    assert repr(value)[:20] in message and f"({type(value).__name__})" in message


def test_bad_value_in_the_message_is_truncated() -> None:
    with pytest.raises(TransformValueError) as info:
        compile_transform("integer")("x" * 5000)
    assert len(str(info.value)) < 300
    assert "..." in str(info.value)


def test_iso_timestamp_hints_at_epoch_transforms() -> None:
    with pytest.raises(TransformValueError, match="unix_seconds or unix_ms"):
        compile_transform("iso_timestamp")(1700000000)


# ---------------------------------------------------------------- compile time


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("unix_second", None, "unknown transform 'unix_second' (did you mean 'unix_seconds'?)"),
        ("timestamp", None, "unknown transform 'timestamp'"),
        ("cents", {"exponant": 0}, "has no arg 'exponant' (did you mean 'exponent'?); it takes: exponent"),
        ("lower", {"locale": "tr"}, "'lower' has no arg 'locale'; it takes no args"),
        ("header", {}, "transform 'header' needs args: {name: ...}"),
        ("header", {"nmae": "Subject"}, "(did you mean 'name'?)"),
        ("cents", {"exponent": "2"}, "arg 'exponent' must be int, got '2' (str)"),
        ("cents", {"exponent": True}, "arg 'exponent' must be int"),
        ("cents", {"exponent": 12}, "exponent must be between 0 and 8"),
        ("join", {"sep": 1}, "arg 'sep' must be str"),
        ("base64url", {"errors": "loose"}, "errors must be 'strict', 'replace' or 'ignore'"),
    ],
)
def test_misconfigured_transforms_fail_at_compile_time(
    name: str, args: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(TransformSpecError) as info:
        compile_transform(name, args)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_transform_lists_the_known_ones() -> None:
    with pytest.raises(TransformSpecError) as info:
        compile_transform("nope")
    for name in ("unix_seconds", "cents", "header"):
        assert name in str(info.value)


def test_every_transform_documents_an_example() -> None:
    for name, transform in TRANSFORMS.items():
        assert transform.factory.__doc__ and ">>>" in transform.factory.__doc__, name


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(engine.transforms)
    assert result.attempted > len(TRANSFORMS) and result.failed == 0


# ---------------------------------------------------------------- Arrow forms

ARROW_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("unix_seconds", {}, [1700000000, None, 0, -86400]),
    ("unix_seconds", {}, ["1700000000", None]),
    ("unix_ms", {}, ["1700000000123", "1"]),
    ("unix_ms", {}, [1700000000123, None]),
    ("iso_timestamp", {}, ["2023-11-14T22:13:20Z", "2023-11-14T23:13:20.5+01:00", None]),
    ("cents", {}, [1999, -5, None, 0]),
    ("cents", {"exponent": 0}, [500, None]),
    ("cents", {"exponent": 3}, [1234]),
    ("decimal", {}, ["10.99", "-0.5", None]),
    ("decimal", {}, [10, None]),
]


@pytest.mark.parametrize(("name", "args", "values"), ARROW_CASES)
def test_arrow_form_agrees_with_per_value_form(name: str, args: dict[str, Any], values: list[Any]) -> None:
    transform = compile_transform(name, args)
    assert transform.arrow is not None
    made = transform.arrow(pa.array(values))
    assert made is not None
    assert made.to_pylist() == [transform(v) for v in values]


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("unix_seconds", [1.5, 2.5]),  # floats: per value
        ("unix_seconds", [253402300800]),  # past year 9999: per value, which refuses it
        ("cents", ["1999"]),
        ("iso_timestamp", [1]),
    ],
)
def test_arrow_form_declines_inputs_it_does_not_handle(name: str, values: list[Any]) -> None:
    transform = compile_transform(name)
    assert transform.arrow is not None
    assert transform.arrow(pa.array(values)) is None


def test_arrow_form_raises_on_values_it_cannot_parse() -> None:
    transform = compile_transform("iso_timestamp")
    assert transform.arrow is not None
    with pytest.raises(pa.ArrowInvalid):
        transform.arrow(pa.array(["2023-11-14T22:13:20", "14/11/2023"]))


def test_offsets_other_than_utc_are_converted() -> None:
    value = compile_transform("iso_timestamp")("2024-03-01T09:00:00-08:00")
    assert value == datetime(2024, 3, 1, 17, tzinfo=UTC)
    assert value.tzinfo == UTC

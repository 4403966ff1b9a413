"""Typed transforms for field mappings: `created_at: {path: created, as: unix_seconds}`.

Each transform is a small factory registered under its YAML name. It takes the
mapping's `args` as keyword arguments and returns a converter; the factory runs once,
when the connector is compiled, and the converter runs per value.

Rules every transform follows:
- nulls pass through as None (except `present` and `constant`, which look at nulls);
- parsing transforms (timestamps, dates, numbers) read an empty string as null;
- a value a transform cannot convert raises `TransformValueError` (a `ValueError`)
  naming the transform and the value, truncated;
- unknown transforms, unknown or missing args and args of the wrong type raise
  `TransformSpecError` at compile time, with a "did you mean" suggestion.

>>> compile_transform("cents")(1999)
Decimal('19.99')
>>> compile_transform("header", {"name": "subject"})([{"name": "Subject", "value": "Hi"}])
'Hi'
"""

from __future__ import annotations

import binascii
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, NoReturn

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import ManifoldError
from engine.models import did_you_mean

Convert = Callable[[Any], Any]
ArrowConvert = Callable[[pa.Array], "pa.Array | None"]


@dataclass(frozen=True)
class Converter:
    """What a factory returns when its transform also has an Arrow (whole-column) form.

    `arrow` gets a column's raw values as Arrow inferred them and returns the converted
    array, or None when it does not handle that input type; it may raise an Arrow error
    on values it can't convert. Either way the mapper falls back to `per_value`, so the
    Arrow form only has to agree with `per_value` where it succeeds.
    """

    per_value: Convert
    arrow: ArrowConvert | None = None

    def __call__(self, value: Any) -> Any:
        return self.per_value(value)


class TransformSpecError(ManifoldError, ValueError):
    """A transform is misnamed or misconfigured; raised when the mapping is compiled."""


class TransformValueError(ManifoldError, ValueError):
    """A value a transform cannot convert."""

    def __init__(self, transform: str, value: Any, reason: str):
        self.transform = transform
        self.value = value
        self.reason = reason
        super().__init__(f"{transform}: cannot convert {preview(value)}: {reason}")


def preview(value: Any, limit: int = 80) -> str:
    """`repr` of a value with its type, truncated: `'abc' (str)`."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"


@dataclass(frozen=True)
class Transform:
    """A registered transform: its name, its factory and the column type it produces."""

    name: str
    factory: Callable[..., Convert | Converter]
    output: str | None = None  # column type of the result; None: whatever comes in
    null_safe: bool = False  # the converter is called with nulls too

    @property
    def params(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.factory).parameters)

    def compile(self, args: Mapping[str, Any] | None = None) -> CompiledTransform:
        args = dict(args or {})
        params = self.params
        for arg in args:
            if arg not in params:
                takes = f"it takes: {', '.join(params)}" if params else "it takes no args"
                raise TransformSpecError(
                    f"transform {self.name!r} has no arg {arg!r}{did_you_mean(arg, params)}; {takes}"
                )
        for param in params.values():
            if param.name not in args and param.default is inspect.Parameter.empty:
                raise TransformSpecError(f"transform {self.name!r} needs args: {{{param.name}: ...}}")
            if param.name in args and not _arg_ok(param.annotation, args[param.name]):
                raise TransformSpecError(
                    f"transform {self.name!r}: arg {param.name!r} must be {param.annotation}, "
                    f"got {preview(args[param.name])}"
                )
        try:
            made = self.factory(**args)
        except ValueError as exc:
            raise TransformSpecError(f"transform {self.name!r}: {exc}") from None
        if isinstance(made, Converter):
            return CompiledTransform(self.name, args, self.output, self.null_safe, made.per_value, made.arrow)
        return CompiledTransform(self.name, args, self.output, self.null_safe, made)


def _arg_ok(annotation: Any, value: Any) -> bool:
    expected = {"int": int, "str": str, "bool": bool}.get(str(annotation))
    if expected is None:
        return True
    if expected is int and isinstance(value, bool):
        return False
    return isinstance(value, expected)


@dataclass(frozen=True)
class CompiledTransform:
    """A transform with its args bound. Call it on one value; the mapper uses `convert` in bulk.

    `convert` skips the null check and raises bare exceptions: use it only on non-null
    values (unless `null_safe`) and call the compiled transform itself to get a clean error.
    """

    name: str
    args: dict[str, Any]
    output: str | None
    null_safe: bool
    convert: Convert = field(repr=False)
    arrow: ArrowConvert | None = field(default=None, repr=False)

    def __call__(self, value: Any) -> Any:
        if value is None and not self.null_safe:
            return None
        try:
            return self.convert(value)
        except TransformValueError:
            raise
        except Exception as exc:  # a converter's own error: give it the transform's name
            raise TransformValueError(self.name, value, str(exc) or type(exc).__name__) from None


TRANSFORMS: dict[str, Transform] = {}


Factory = Callable[..., Convert | Converter]


def transform(
    name: str, *, output: str | None = None, null_safe: bool = False
) -> Callable[[Factory], Factory]:
    """Register a transform factory under its YAML name."""

    def register(factory: Factory) -> Factory:
        TRANSFORMS[name] = Transform(name, factory, output, null_safe)
        return factory

    return register


def compile_transform(name: str, args: Mapping[str, Any] | None = None) -> CompiledTransform:
    """Look up and configure a transform once; raises `TransformSpecError` when it can't."""
    found = TRANSFORMS.get(name)
    if found is None:
        raise TransformSpecError(
            f"unknown transform {name!r}{did_you_mean(name, TRANSFORMS)}; known: {', '.join(sorted(TRANSFORMS))}"
        )
    return found.compile(args)


# ---------------------------------------------------------------- shared parsers


def _fail(reason: str) -> NoReturn:
    raise ValueError(reason)


def _number(value: Any) -> int | float:
    cls = value.__class__
    if cls is int or cls is float:
        return value
    if cls is str:
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if cls is Decimal:
        return float(value)
    return _fail("expected a number")


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 text (or a datetime/date) -> an aware UTC datetime; naive times are read as UTC."""
    cls = value.__class__
    if cls is str:
        if not value:
            return None
        text = value[:-1] + "Z" if value[-1] == "z" else value
        parsed = datetime.fromisoformat(text)
    elif cls is datetime:
        parsed = value
    elif cls is date:
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        return _fail("expected an ISO 8601 string; for epoch numbers use unix_seconds or unix_ms")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def parse_date(value: Any) -> date | None:
    """ISO date text (or a date/datetime) -> a date, as written: no time-zone conversion."""
    cls = value.__class__
    if cls is str:
        if not value:
            return None
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value[:-1] + "Z" if value[-1] == "z" else value).date()
    if cls is datetime:
        return value.date()
    if cls is date:
        return value
    return _fail("expected an ISO 8601 date string")


def parse_decimal(value: Any) -> Decimal | None:
    cls = value.__class__
    if cls is Decimal:
        result = value
    elif cls is str:
        if not value:
            return None
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return _fail("expected a decimal number")
    elif cls is int:
        return Decimal(value)
    elif cls is float:
        result = Decimal(repr(value))  # 0.1 -> Decimal('0.1'), not its binary expansion
    else:
        return _fail("expected a number or a numeric string")
    if not result.is_finite():
        return _fail("not a finite number")
    return result


def to_string(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        return value
    if cls is bool:
        return "true" if value else "false"
    if cls is int or cls is float or cls is Decimal:
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return _fail("expected text or a number; use as: json for objects and lists")


def to_integer(value: Any) -> int | None:
    cls = value.__class__
    if cls is int:
        return value
    if cls is str:
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        number = parse_decimal(text)
        if number is None:
            return None
    elif cls is float or cls is Decimal:
        number = value
    else:
        return _fail("expected a whole number")
    if number == int(number):
        return int(number)
    return _fail("expected a whole number")


def to_float(value: Any) -> float | None:
    cls = value.__class__
    if cls is float:
        return value
    if cls is int or cls is Decimal:
        return float(value)
    if cls is str:
        return float(value) if value else None
    return _fail("expected a number")


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def to_boolean(value: Any) -> bool | None:
    cls = value.__class__
    if cls is bool:
        return value
    if cls is int and value in (0, 1):
        return bool(value)
    if cls is str:
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if not text:
            return None
    return _fail("expected true/false, yes/no or 1/0")


def to_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def to_string_list(value: Any) -> list[str | None]:
    if isinstance(value, list | tuple):
        return [None if item is None else to_string(item) for item in value]
    return _fail("expected a list; use as: split for delimited text")


# ---------------------------------------------------------------- timestamps and dates


_TIMESTAMP = pa.timestamp("us", tz="UTC")
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799  # what Python's datetime can hold


def _epoch_arrow(units_per_second: int) -> ArrowConvert:
    factor = 1_000_000 // units_per_second

    def arrow(values: pa.Array) -> pa.Array | None:
        if pa.types.is_string(values.type):
            values = values.cast(pa.int64())
        if not pa.types.is_int64(values.type):
            return None
        low, high = pc.min_max(values).values()
        if low.is_valid and (
            low.as_py() < _MIN_SECONDS * units_per_second or high.as_py() > _MAX_SECONDS * units_per_second
        ):
            return None
        return pc.multiply_checked(values, factor).cast(_TIMESTAMP)

    return arrow


@transform("unix_seconds", output="timestamp")
def unix_seconds() -> Converter:
    """Unix seconds (int, float or numeric text) -> UTC datetime. Stripe: `created: 1700000000`.

    >>> unix_seconds()(1700000000)
    datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    """
    fromtimestamp = datetime.fromtimestamp

    def convert(value: Any) -> datetime | None:
        if value.__class__ is int:
            return fromtimestamp(value, UTC)
        if value == "":
            return None
        return fromtimestamp(_number(value), UTC)

    return Converter(convert, _epoch_arrow(1))


@transform("unix_ms", output="timestamp")
def unix_ms() -> Converter:
    """Unix milliseconds -> UTC datetime. Gmail: `internalDate: "1700000000123"`.

    >>> unix_ms()("1700000000123")
    datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=datetime.timezone.utc)
    """
    fromtimestamp = datetime.fromtimestamp

    def convert(value: Any) -> datetime | None:
        if value == "":
            return None
        return fromtimestamp(_number(value) / 1000, UTC)

    return Converter(convert, _epoch_arrow(1000))


@transform("iso_timestamp", output="timestamp")
def iso_timestamp() -> Converter:
    """ISO 8601 -> UTC datetime: 'Z', offsets and bare dates (midnight UTC); naive is UTC.

    Google Calendar: `updated: "2024-03-01T09:30:00.000Z"`.

    >>> iso_timestamp()("2024-03-01T10:30:00+01:00")
    datetime.datetime(2024, 3, 1, 9, 30, tzinfo=datetime.timezone.utc)
    """

    def arrow(values: pa.Array) -> pa.Array | None:
        return values.cast(_TIMESTAMP) if pa.types.is_string(values.type) else None

    return Converter(parse_timestamp, arrow)


def parse_email_date(value: Any) -> datetime | None:
    """RFC 2822 date text (email `Date` headers) -> an aware UTC datetime."""
    if value.__class__ is not str:
        return _fail("expected an RFC 2822 date string")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return _fail("expected an RFC 2822 date, e.g. 'Tue, 14 Nov 2023 22:13:20 +0000'")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@transform("rfc2822", output="timestamp")
def rfc2822() -> Convert:
    """RFC 2822 date -> UTC datetime. Gmail: the `Date` header, 'Tue, 14 Nov 2023 23:13:20 +0100'.

    >>> rfc2822()("Tue, 14 Nov 2023 23:13:20 +0100")
    datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    """
    return parse_email_date


_MS_JSON_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")


def parse_ms_json_date(value: Any) -> datetime | None:
    """A Microsoft JSON date (.NET's DataContractJsonSerializer, Xero) -> an aware UTC datetime.

    '/Date(1699999999000+0000)/': milliseconds since the epoch, in UTC; the optional offset only
    names the writer's time zone and does not move the instant. Empty text is null.
    """
    if value.__class__ is not str:
        return _fail("expected a Microsoft JSON date string, e.g. '/Date(1699999999000+0000)/'")
    if not value:
        return None
    found = _MS_JSON_DATE.fullmatch(value.strip())
    if found is None:
        return _fail("expected a Microsoft JSON date, e.g. '/Date(1699999999000+0000)/'")
    return datetime.fromtimestamp(int(found[1]) / 1000, UTC)


@transform("ms_json_date", output="timestamp")
def ms_json_date() -> Convert:
    """Microsoft JSON date -> UTC datetime. Xero: `UpdatedDateUTC: "/Date(1699999999000+0000)/"`.

    Into a `date` column it keeps the UTC date (Xero's `Date` and `DueDate` are UTC midnights).

    >>> ms_json_date()("/Date(1699999999000+0000)/")
    datetime.datetime(2023, 11, 14, 22, 13, 19, tzinfo=datetime.timezone.utc)
    """
    return parse_ms_json_date


@transform("date", output="date")
def date_() -> Convert:
    """ISO date -> date; a date-time keeps the date as written. Google: `start: {date: "2024-03-01"}`.

    >>> date_()("2024-03-01")
    datetime.date(2024, 3, 1)
    """
    return parse_date


# ---------------------------------------------------------------- numbers and money


@transform("cents", output="decimal")
def cents(exponent: int = 2) -> Converter:
    """Integer minor units -> Decimal in major units. Stripe: `amount_due: 1999` -> 19.99.

    `args: {exponent: 0}` for zero-decimal currencies (JPY), 3 for KWD.

    >>> cents()(1999), cents(exponent=0)(500)
    (Decimal('19.99'), Decimal('500'))
    """
    if not 0 <= exponent <= 8:
        raise ValueError("exponent must be between 0 and 8")
    shift = -exponent

    def convert(value: Any) -> Decimal | None:
        cls = value.__class__
        if cls is int:
            return Decimal(value).scaleb(shift)
        if cls is str and value.strip().lstrip("+-").isdigit():
            return Decimal(int(value)).scaleb(shift)
        if cls is float and value.is_integer():
            return Decimal(int(value)).scaleb(shift)
        if value == "":
            return None
        _fail("expected whole minor units, e.g. 1999 for 19.99 (use as: decimal for amounts like '19.99')")

    def arrow(values: pa.Array) -> pa.Array | None:
        if not pa.types.is_int64(values.type):
            return None
        # The integers are the decimal's unscaled values: 1999 at scale 2 is 19.99.
        return values.cast(pa.decimal128(19, 0)).view(pa.decimal128(19, exponent))

    return Converter(convert, arrow)


@transform("decimal", output="decimal")
def decimal() -> Converter:
    """A number or numeric text -> Decimal. PayPal: `amount: {value: "10.99"}`.

    >>> decimal()("10.99")
    Decimal('10.99')
    """

    def arrow(values: pa.Array) -> pa.Array | None:
        if pa.types.is_int64(values.type):
            return values.cast(pa.decimal128(19, 0))
        if pa.types.is_string(values.type):
            return values.cast(pa.decimal128(38, 9))
        return values if pa.types.is_decimal(values.type) else None

    return Converter(parse_decimal, arrow)


@transform("integer", output="integer")
def integer() -> Convert:
    """-> int; numeric text and whole floats are accepted. YouTube: `viewCount: "1024"`.

    >>> integer()("1024")
    1024
    """
    return to_integer


@transform("float", output="float")
def float_() -> Convert:
    """-> float; numeric text is accepted.

    >>> float_()("2.5")
    2.5
    """
    return to_float


_ISO_DURATION = re.compile(
    r"\AP(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?\Z"
)
_DURATION_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}


@transform("iso_duration", output="float")
def iso_duration() -> Convert:
    """ISO 8601 duration -> seconds (float). YouTube: `contentDetails.duration: "PT4M13S"` -> 253.0.

    >>> iso_duration()("PT1H2M3.5S"), iso_duration()("P1DT1S")
    (3723.5, 86401.0)
    """

    def convert(value: Any) -> float:
        found = _ISO_DURATION.match(value) if value.__class__ is str and value not in ("P", "PT") else None
        if found is None or value.endswith("T"):
            return _fail("expected an ISO 8601 duration like 'PT4M13S'")
        return float(sum(float(v) * _DURATION_SECONDS[k] for k, v in found.groupdict().items() if v))

    return convert


@transform("boolean", output="boolean")
def boolean() -> Convert:
    """-> bool from true/false, yes/no, 1/0 (any case).

    >>> boolean()("TRUE"), boolean()(0)
    (True, False)
    """
    return to_boolean


# ---------------------------------------------------------------- text


@transform("string", output="string")
def string() -> Convert:
    """-> text: numbers as written, booleans as 'true'/'false', dates as ISO 8601.

    >>> string()(42), string()(True)
    ('42', 'true')
    """
    return to_string


@transform("lower", output="string")
def lower() -> Convert:
    """Lowercase text. PayPal: `status: "COMPLETED"` -> 'completed'.

    >>> lower()("COMPLETED")
    'completed'
    """

    def convert(value: Any) -> str:
        return value.lower() if value.__class__ is str else _fail("expected text")

    return convert


@transform("upper", output="string")
def upper() -> Convert:
    """Uppercase text. Stripe: `currency: "eur"` -> 'EUR'.

    >>> upper()("eur")
    'EUR'
    """

    def convert(value: Any) -> str:
        return value.upper() if value.__class__ is str else _fail("expected text")

    return convert


_URLSAFE = str.maketrans("-_", "+/")


@transform("base64url", output="string")
def base64url(errors: str = "strict") -> Convert:
    """base64url (or base64) -> UTF-8 text; padding optional. Gmail: `payload.body.data`.

    `args: {errors: replace}` keeps text that is not valid UTF-8 (with U+FFFD).

    >>> base64url()("SGVsbG8sIHdvcmxkIQ")
    'Hello, world!'
    """
    if errors not in ("strict", "replace", "ignore"):
        raise ValueError("errors must be 'strict', 'replace' or 'ignore'")

    def convert(value: Any) -> str:
        if value.__class__ is not str:
            return _fail("expected base64url text")
        data = value.translate(_URLSAFE).rstrip("=")
        try:
            raw = binascii.a2b_base64(data + "=" * (-len(data) % 4), strict_mode=True)
        except binascii.Error as exc:
            return _fail(f"not base64url: {exc}")
        try:
            return raw.decode("utf-8", errors)
        except UnicodeDecodeError:
            return _fail("decoded bytes are not UTF-8 (use args: {errors: replace})")

    return convert


@transform("header")
def header(name: str, addresses: bool = False) -> Convert:
    """The value of a named entry in a name/value list; the name is matched in any case.

    Gmail: `subject: {path: payload.headers, as: header, args: {name: Subject}}`. With
    `addresses: true` an address header becomes its list of email addresses:
    `to_addresses: {path: payload.headers, as: header, args: {name: To, addresses: true}}`.

    >>> headers = [{"name": "Subject", "value": "Hi"}, {"name": "To", "value": "Ada <ada@example.com>, bob@example.com"}]
    >>> header("subject")(headers), header("to", addresses=True)(headers)
    ('Hi', ['ada@example.com', 'bob@example.com'])
    """
    wanted = name.lower()

    def convert(value: Any) -> Any:
        if value.__class__ is not list:
            _fail("expected a list of {name, value} objects")
        for item in value:
            if item.__class__ is dict:
                key = item.get("name")
                if key.__class__ is str and key.lower() == wanted:
                    found = item.get("value")
                    if addresses and found is not None:
                        return [address for _, address in getaddresses([to_string(found)]) if address]
                    return found
        return None

    return convert


@transform("prefix", output="string")
def prefix(text: str) -> Convert:
    """`text` put before the value: a link from an id. YouTube: `permalink: {path: id, as: prefix,
    args: {text: "https://www.youtube.com/watch?v="}}`.

    >>> prefix("https://www.youtube.com/watch?v=")("dQw4w9WgXcQ")
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ'
    """
    return lambda value: text + to_string(value)


@transform("strip", output="string")
def strip(chars: str = " ") -> Convert:
    """Text without these characters at either end. YouTube: `customUrl: "@acmestudio"` -> 'acmestudio'
    with `args: {chars: "@"}`.

    >>> strip("@")("@acmestudio")
    'acmestudio'
    """
    return lambda value: to_string(value).strip(chars)


@transform("join", output="string")
def join(sep: str = ", ", field: str = "") -> Convert:
    """A list -> text joined by `sep` (nulls skipped); with `field`, each item's field is joined.

    Notion rich text: `title: {path: title, as: join, args: {sep: "", field: plain_text}}`.

    >>> join(sep=";")(["a", "b", None])
    'a;b'
    >>> join(sep="", field="plain_text")([{"plain_text": "Q3 "}, {"plain_text": "plan"}])
    'Q3 plan'
    """

    def convert(value: Any) -> str:
        if not isinstance(value, list | tuple):
            return _fail("expected a list")
        if field:
            value = [item.get(field) if isinstance(item, dict) else None for item in value]
        return sep.join(to_string(item) for item in value if item is not None)

    return convert


@transform("split", output="string_list")
def split(sep: str = ",") -> Convert:
    """Delimited text -> a list of trimmed, non-empty strings.

    >>> split()("ada@example.com, bob@example.com")
    ['ada@example.com', 'bob@example.com']
    """
    if not sep:
        raise ValueError("sep must not be empty")

    def convert(value: Any) -> list[str]:
        if value.__class__ is not str:
            return _fail("expected text")
        return [part for part in (piece.strip() for piece in value.split(sep)) if part]

    return convert


# ---------------------------------------------------------------- structure


@transform("json", output="json")
def json() -> Convert:
    """Any value -> a JSON document (text). Google Calendar: `attendees: [...]`.

    >>> json()({"email": "ada@example.com", "optional": False})
    '{"email":"ada@example.com","optional":false}'
    """
    return to_json


@transform("first")
def first() -> Convert:
    """The first element of a list, or None for an empty list.

    >>> first()(["INBOX", "UNREAD"])
    'INBOX'
    """

    def convert(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return _fail("expected a list")
        return value[0] if value else None

    return convert


@transform("contains", output="boolean")
def contains(value: Any, negate: bool = False) -> Convert:
    """Whether a list holds `value` (or not, with `negate: true`).

    Gmail: `is_read: {path: labelIds, as: contains, args: {value: UNREAD, negate: true}}`.

    >>> contains("UNREAD", negate=True)(["INBOX", "UNREAD"])
    False
    """
    wanted = value

    def convert(items: Any) -> bool:
        if not isinstance(items, list | tuple):
            return _fail("expected a list")
        return (wanted in items) is not negate

    return convert


@transform("equals", output="boolean")
def equals(value: Any) -> Convert:
    """Whether the value equals `value` (a missing value stays null).

    Google Drive: `is_folder: {path: mimeType, as: equals, args: {value: application/vnd.google-apps.folder}}`.

    >>> equals("application/vnd.google-apps.folder")("application/pdf")
    False
    """
    wanted = value
    return lambda found: found == wanted


@transform("present", output="boolean", null_safe=True)
def present() -> Convert:
    """True when the value is set: not null, not an empty string, list or object.

    Google Calendar: `all_day: {path: start.date, as: present}`.

    >>> present()("2024-03-01"), present()(None)
    (True, False)
    """

    def convert(value: Any) -> bool:
        return value is not None and value != "" and value != [] and value != {}

    return convert


@transform("constant", null_safe=True)
def constant(value: Any) -> Convert:
    """Always `value`, whatever the record holds. `kind: {as: constant, value: charge}`.

    >>> constant("charge")(None)
    'charge'
    """
    return lambda _: value


@transform("count", output="integer")
def count() -> Convert:
    """How many items a list holds. Gmail: `message_count: {path: messages, as: count}`.

    >>> count()([{"id": "a"}, {"id": "b"}])
    2
    """

    def convert(value: Any) -> int:
        if not isinstance(value, list | tuple):
            return _fail("expected a list")
        return len(value)

    return convert


@transform("lookup", output="string")
def lookup(values: dict[str, Any], default: Any = None, keep: bool = False) -> Convert:
    """A provider's code -> a word, from a table; codes not in it become `default`, or stay as
    they are with `keep: true`.

    PayPal Transaction Search: `status: {path: transaction_info.transaction_status, as: lookup,
    args: {values: {S: completed, P: pending, V: reversed, D: declined, F: partially_refunded}}}`.

    >>> lookup({"S": "completed", "P": "pending"})("S"), lookup({}, default="other")("X")
    ('completed', 'other')
    """
    table = {str(k): v for k, v in values.items()}

    def convert(value: Any) -> Any:
        code = str(value)
        if code in table:
            return table[code]
        return code if keep else default

    return convert

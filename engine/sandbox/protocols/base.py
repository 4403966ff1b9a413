"""The protocol contract: options, error replies, and helpers the protocols share."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from engine.sandbox.error_shapes import ERROR_SHAPES
from engine.sandbox.messages import Call, Reply, json_reply
from engine.sandbox.store import Entry, Snapshot

COMMON_OPTIONS = frozenset({"errors", "id_field"})


class BadRequest(Exception):
    """A request the provider would refuse; becomes an error reply in the provider's shape."""

    def __init__(self, message: str, *, status: int = 400, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param


class Protocol:
    """Base: option checking and error replies. Subclasses implement `handle`."""

    name: ClassVar[str]
    error_style: ClassVar[str] = "generic"
    holds_list: ClassVar[bool] = True  # fixture leaves are lists (False: one object)
    newest_first: ClassVar[bool] = False  # records upserted through the control API go first
    keyed_fixture: ClassVar[bool] = True  # fixture keyed by the path placeholders (False: one leaf)
    public: ClassVar[bool] = False  # served without the connector's auth (the URL is the credential)
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.defaults) - COMMON_OPTIONS)
        if unknown:
            known = ", ".join(sorted({*self.defaults, *COMMON_OPTIONS}))
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for protocol {self.name} (known: {known})"
            )
        style = options.get("errors", self.error_style)
        if style not in ERROR_SHAPES:
            raise ValueError(f"unknown error shape {style!r} (known: {', '.join(ERROR_SHAPES)})")
        self.options = {**self.defaults, **options}
        self._shape = ERROR_SHAPES[style]

    def handle(self, call: Call, data: Snapshot) -> Reply:
        raise NotImplementedError

    def error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        return json_reply(self._shape(status, message, code, param), status, headers)


def int_param(
    source: Mapping[str, Any],
    name: str,
    default: int,
    *,
    low: int | None = 1,
    high: int | None = None,
    clamp: bool = False,
    status: int = 400,
    code: str | None = None,
) -> int:
    """An integer parameter: out of range is refused, or clamped to `high` when `clamp`."""
    raw = source.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise BadRequest(f"Invalid integer: {raw}", status=status, code=code, param=name)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid integer: {raw}", status=status, code=code, param=name) from None
    if low is not None and value < low:
        raise BadRequest(f"Invalid {name}: must be at least {low}", status=status, code=code, param=name)
    if high is not None and value > high:
        if clamp:
            return high
        raise BadRequest(f"Invalid {name}: must be at most {high}", status=status, code=code, param=name)
    return value


def take(
    entries: Sequence[Entry], start: int, limit: int, keep: Callable[[Entry], bool]
) -> tuple[list[int], int | None]:
    """Indices of up to `limit` kept entries from `start`, and the index of the next kept one (None: no more)."""
    page: list[int] = []
    for index in range(max(start, 0), len(entries)):
        if keep(entries[index]):
            if len(page) == limit:
                return page, index
            page.append(index)
    return page, None


def not_deleted(entry: Entry) -> bool:
    return not entry.deleted


def b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def b64decode(token: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError):
        return None


def raws(data: Snapshot, indices: Sequence[int]) -> list[bytes]:
    return [data.entries[i].raw for i in indices]


def pages(count: int, size: int) -> int:
    return -(-count // size)

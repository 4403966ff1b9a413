"""Incremental styles: what a slice sends from its saved state, and what it saves when done.

- `cursor`: records carry a cursor field; its high-water mark is sent next time
  (Stripe `created[gte]`), minus an optional lookback; or in a header (Xero `If-Modified-Since`).
- `server_token`: the provider hands out a token on the last page (Google Calendar
  `nextSyncToken` -> `syncToken`); a configured status (410) means it expired and the
  slice falls back to a full sync on its own.
- `change_feed`: later runs read another endpoint from a stored token (Gmail history.list
  from a `historyId`); the first token comes from a request made before the full run
  (users.getProfile) or from the full run's records. The reader (engine/extract.py) asks
  `feeding(saved)` which request and records path a run uses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Protocol

from .pages import Page
from .paths import compile_path
from .spec.models import ChangeFeedIncremental, CursorIncremental, IncrementalSpec, ServerTokenIncremental
from .transforms import parse_ms_json_date


class IncrementalStyle(Protocol):
    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        """Params this run sends, from the saved slice state."""
        ...

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        """Headers this run sends, from the saved slice state (Xero `If-Modified-Since`)."""
        ...

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        """Base params the provider forbids in an incremental request."""
        ...

    def observe(self, records: list[Any], high: Any) -> Any:
        """Fold a page's records into the run's high-water mark."""
        ...

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        """The slice state once the run has read every page."""
        ...

    def expired(self, status: int) -> bool: ...


def _as_unix(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    text = str(value)
    if text.startswith("/Date("):  # Microsoft JSON date (Xero): '/Date(1699999999000+0000)/'
        moment = parse_ms_json_date(text)
        if moment is not None:
            return int(moment.timestamp())
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


class CursorStyle:
    def __init__(self, spec: CursorIncremental):
        self.spec = spec
        self._get = compile_path(spec.field)

    def _format(self, value: Any) -> Any:
        if self.spec.format == "unix_seconds":
            return _as_unix(value) - self.spec.lookback
        if self.spec.format == "iso":
            moment = datetime.fromtimestamp(_as_unix(value) - self.spec.lookback, UTC)
            return moment.isoformat().replace("+00:00", "Z")
        if self.spec.format == "http_date":
            moment = datetime.fromtimestamp(_as_unix(value) - self.spec.lookback, UTC)
            return format_datetime(moment, usegmt=True)
        if self.spec.lookback and isinstance(value, int | float):
            return value - self.spec.lookback
        return value

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        cursor = saved.get("cursor")
        if cursor is None or self.spec.param is None:
            return {}
        return {self.spec.param: self._format(cursor)}

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        cursor = saved.get("cursor")
        if cursor is None or self.spec.header is None:
            return {}
        return {self.spec.header: str(self._format(cursor))}

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        return []

    def observe(self, records: list[Any], high: Any) -> Any:
        get = self._get
        values = [v for v in (get(r) for r in records) if v is not None]
        if not values:
            return high
        top = max(values)
        return top if high is None or top > high else high

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        cursor = saved.get("cursor")
        if high is not None and (cursor is None or high > cursor):
            cursor = high
        return {} if cursor is None else {"cursor": cursor}

    def expired(self, status: int) -> bool:
        return False


class TokenStyle:
    def __init__(self, spec: ServerTokenIncremental):
        self.spec = spec
        self._get = compile_path(spec.token)

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        token = saved.get("token")
        return {} if token is None else {self.spec.param: token}

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        return {}

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        return self.spec.drop_params if saved.get("token") is not None else []

    def observe(self, records: list[Any], high: Any) -> Any:
        return high

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        token = self._get(last_page.body)
        if token is None:
            token = saved.get("token")
        return {} if token is None else {"token": token}

    def expired(self, status: int) -> bool:
        return status in self.spec.expired_status


def _token_key(value: Any) -> tuple[int, Any]:
    """Numeric strings (Gmail's uint64 history ids) compare as numbers, others as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    text = str(value)
    return (0, int(text)) if text.isdigit() else (1, text)


class FeedStyle:
    """`change_feed`: full runs read the stream's request, later runs the feed's."""

    def __init__(self, spec: ChangeFeedIncremental):
        self.spec = spec
        self._next = compile_path(spec.token)
        self.records = compile_path(spec.records)
        self.start_token = compile_path(spec.start.token) if spec.start else None
        self._record_token = compile_path(spec.record_token) if spec.record_token else None

    def feeding(self, saved: dict[str, Any]) -> bool:
        """True when this run reads the feed (a token is stored)."""
        return saved.get("token") is not None

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        token = saved.get("token")
        return {} if token is None else {self.spec.param: token}

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        return []

    def observe(self, records: list[Any], high: Any) -> Any:
        if self._record_token is None:
            return high
        values = [v for v in (self._record_token(r) for r in records) if v is not None]
        for value in values:
            if high is None or _token_key(value) > _token_key(high):
                high = value
        return high

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        if self.feeding(saved):
            token = self._next(last_page.body)
            if token is None:
                token = saved.get("token")
        else:
            token = high  # the start request's token, or the largest record token
        return {} if token is None else {"token": token}

    def expired(self, status: int) -> bool:
        return status in self.spec.expired_status


class FullStyle:
    """No incremental: every run reads everything."""

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        return {}

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        return {}

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        return []

    def observe(self, records: list[Any], high: Any) -> Any:
        return high

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        return {}

    def expired(self, status: int) -> bool:
        return False


def build_incremental(spec: IncrementalSpec | None) -> IncrementalStyle:
    if spec is None:
        return FullStyle()
    if isinstance(spec, CursorIncremental):
        return CursorStyle(spec)
    if isinstance(spec, ChangeFeedIncremental):
        return FeedStyle(spec)
    return TokenStyle(spec)

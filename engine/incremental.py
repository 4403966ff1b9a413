"""Incremental styles: what a slice sends from its saved state, and what it saves when done.

- `cursor`: records carry a cursor field; its high-water mark is sent next time
  (Stripe `created[gte]`), minus an optional lookback; or in a header (Xero `If-Modified-Since`);
  or put into the JSON body at a path (Notion's `filter.last_edited_time.on_or_after`).
- `server_token`: the provider hands out a token on the last page (Google Calendar
  `nextSyncToken` -> `syncToken`); a configured status (410) means it expired and the
  slice falls back to a full sync on its own. With `start`, a full run asks for the first
  token before it lists (Drive `changes/startPageToken`) and saves it when done; with
  `changes`, later runs read that feed instead of the listing (extract.py).
- `change_feed`: later runs read another endpoint from a stored token (Gmail history.list
  from a `historyId`); the first token comes from a request made before the full run
  (users.getProfile) or from the full run's records. The reader (engine/extract.py) asks
  `feeding(saved)` which request and records path a run uses.
- `windows`: bounded date windows sent as two parameters (PayPal Transaction Search's
  `start_date`/`end_date`, at most 31 days); one run reads window after window up to now, and
  the saved state is the end of the last completed window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Protocol

from .pages import Page
from .paths import compile_path
from .spec.models import (
    ChangeFeedIncremental,
    CursorIncremental,
    IncrementalSpec,
    ServerTokenIncremental,
    WindowsIncremental,
    duration_seconds,
)
from .transforms import parse_ms_json_date


class IncrementalStyle(Protocol):
    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        """Params this run sends, from the saved slice state."""
        ...

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        """Headers this run sends, from the saved slice state (Xero `If-Modified-Since`)."""
        ...

    def start_json(self, saved: dict[str, Any]) -> dict[str, Any]:
        """JSON merged into the request body this run, from the saved slice state."""
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

    def advance(
        self, run_params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """After a run's last page: the slice state to save, and the params of the next run in
        this same sync (None: the slice is done). Only `windows` runs more than once."""
        ...


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`; objects merge at every depth, other values replace.

    >>> deep_merge({"filter": {"timestamp": "last_edited_time"}}, {"filter": {"on": 1}, "page_size": 2})
    {'filter': {'timestamp': 'last_edited_time', 'on': 1}, 'page_size': 2}
    """
    out = dict(base)
    for key, value in over.items():
        mine = out.get(key)
        out[key] = deep_merge(mine, value) if isinstance(mine, dict) and isinstance(value, dict) else value
    return out


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

    def start_json(self, saved: dict[str, Any]) -> dict[str, Any]:
        cursor = saved.get("cursor")
        if cursor is None or self.spec.body_path is None:
            return {}
        placed: dict[str, Any] = {}
        node = placed
        *parents, last = self.spec.body_path.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[last] = self._format(cursor)
        return deep_merge(self.spec.body, placed)

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

    def advance(
        self, run_params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return state, None


class TokenStyle:
    def __init__(self, spec: ServerTokenIncremental):
        self.spec = spec
        self._get = compile_path(spec.token)

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        token = saved.get("token")
        return {} if token is None else {self.spec.param: token}

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        return {}

    def start_json(self, saved: dict[str, Any]) -> dict[str, Any]:
        return {}

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        return self.spec.drop_params if saved.get("token") is not None else []

    def observe(self, records: list[Any], high: Any) -> Any:
        return high

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        """The last page's token; else the one asked before the listing (`start`, carried in
        `high`); else the saved one."""
        token = self._get(last_page.body)
        if token is None:
            token = high if high is not None else saved.get("token")
        return {} if token is None else {"token": token}

    def expired(self, status: int) -> bool:
        return status in self.spec.expired_status

    def advance(
        self, run_params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return state, None


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

    def start_json(self, saved: dict[str, Any]) -> dict[str, Any]:
        return {}

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        return {}

    def advance(
        self, run_params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return state, None

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

    def start_json(self, saved: dict[str, Any]) -> dict[str, Any]:
        return {}

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        return []

    def observe(self, records: list[Any], high: Any) -> Any:
        return high

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        return {}

    def expired(self, status: int) -> bool:
        return False

    def advance(
        self, run_params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return state, None


def _moment(value: Any) -> datetime:
    """An ISO 8601 date or time (or a datetime/date) -> an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WindowStyle:
    """Date windows of at most `step`, each starting `overlap` before the previous one ended.

    >>> now = datetime(2025, 3, 1, tzinfo=UTC)
    >>> style = WindowStyle(WindowsIncremental(type="windows", start_param="start_date",
    ...     end_param="end_date", step="31d", overlap="3h", start="2025-01-01"), clock=lambda: now)
    >>> style.start_params({})
    {'start_date': '2025-01-01T00:00:00Z', 'end_date': '2025-02-01T00:00:00Z'}
    >>> style.advance(style.start_params({}), {})
    ({'cursor': '2025-02-01T00:00:00Z'}, {'start_date': '2025-01-31T21:00:00Z', 'end_date': '2025-03-01T00:00:00Z'})

    The state is `{"cursor": <end of the last completed window, ISO 8601 UTC>}`; a run ends
    with the window that ends at its `now` (fixed when the run starts).
    """

    def __init__(
        self,
        spec: WindowsIncremental,
        *,
        clock: Callable[[], datetime] | None = None,
        render: Callable[[str], Any] | None = None,
    ):
        self.spec = spec
        self.step = timedelta(seconds=duration_seconds(spec.step))
        self.overlap = timedelta(seconds=duration_seconds(spec.overlap))
        self.lookback = timedelta(seconds=duration_seconds(spec.initial_lookback))
        self._clock = clock or (lambda: datetime.now(UTC))
        self._render = render
        self._now: datetime | None = None

    @property
    def now(self) -> datetime:
        """The run's now, read once: every window of the run ends at most here."""
        if self._now is None:
            self._now = self._clock().astimezone(UTC).replace(microsecond=0)
        return self._now

    def first_start(self) -> datetime:
        configured = self._render(self.spec.start) if self.spec.start and self._render else self.spec.start
        if configured not in (None, ""):
            return min(_moment(configured), self.now)
        return self.now - self.lookback

    def window(self, start: datetime) -> dict[str, Any]:
        end = min(start + self.step, self.now)
        return {self.spec.start_param: self.format(start), self.spec.end_param: self.format(end)}

    def format(self, moment: datetime) -> Any:
        kind = self.spec.format
        if kind == "iso":
            return _iso(moment)
        if kind == "iso_millis":
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if kind == "date":
            return moment.astimezone(UTC).strftime("%Y-%m-%d")
        if kind == "unix_seconds":
            return int(moment.timestamp())
        return moment.astimezone(UTC).strftime(kind)

    def parse(self, value: Any) -> datetime:
        """A bound as sent -> the moment (to know where a checkpointed window ends)."""
        kind = self.spec.format
        if kind == "unix_seconds":
            return datetime.fromtimestamp(int(value), UTC)
        if kind in ("iso", "iso_millis", "date"):
            return _moment(value)
        parsed = datetime.strptime(str(value), kind)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def start_json(self, saved: dict[str, Any]) -> dict[str, Any]:
        return {}

    def start_headers(self, saved: dict[str, Any]) -> dict[str, str]:
        return {}

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        cursor = saved.get("cursor")
        start = self.first_start() if cursor is None else min(_moment(cursor) - self.overlap, self.now)
        return self.window(start)

    def dropped_params(self, saved: dict[str, Any]) -> list[str]:
        return []

    def observe(self, records: list[Any], high: Any) -> Any:
        return high

    def finish(self, saved: dict[str, Any], high: Any, last_page: Page) -> dict[str, Any]:
        return {k: v for k, v in saved.items() if k != "checkpoint"}

    def expired(self, status: int) -> bool:
        return False

    def advance(
        self, run_params: dict[str, Any], state: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        sent = run_params[self.spec.end_param]
        end = self.parse(sent)
        done = {**state, "cursor": _iso(end)}
        # A coarse format ('date') reads back before now: the window sent as now is the last.
        if end >= self.now or sent == self.format(self.now):
            return done, None
        return done, self.window(end - self.overlap)


def build_incremental(
    spec: IncrementalSpec | None,
    *,
    clock: Callable[[], datetime] | None = None,
    render: Callable[[str], Any] | None = None,
) -> IncrementalStyle:
    """`clock` (the run's now) and `render` (a template -> its value) serve `windows`."""
    if spec is None:
        return FullStyle()
    if isinstance(spec, CursorIncremental):
        return CursorStyle(spec)
    if isinstance(spec, ChangeFeedIncremental):
        return FeedStyle(spec)
    if isinstance(spec, WindowsIncremental):
        return WindowStyle(spec, clock=clock, render=render)
    return TokenStyle(spec)

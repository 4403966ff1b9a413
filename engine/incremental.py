"""Incremental styles: what a slice sends from its saved state, and what it saves when done.

- `cursor`: records carry a cursor field; its high-water mark is sent next time
  (Stripe `created[gte]`), minus an optional lookback; or put into the JSON body at a path
  (Notion's `filter.last_edited_time.on_or_after`).
- `server_token`: the provider hands out a token on the last page (Google Calendar
  `nextSyncToken` -> `syncToken`); a configured status (410) means it expired and the
  slice falls back to a full sync on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from .pages import Page
from .paths import compile_path
from .spec.models import CursorIncremental, IncrementalSpec, ServerTokenIncremental


class IncrementalStyle(Protocol):
    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        """Params this run sends, from the saved slice state."""
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
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


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
        if self.spec.lookback and isinstance(value, int | float):
            return value - self.spec.lookback
        return value

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        cursor = saved.get("cursor")
        if cursor is None or self.spec.param is None:
            return {}
        return {self.spec.param: self._format(cursor)}

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


class TokenStyle:
    def __init__(self, spec: ServerTokenIncremental):
        self.spec = spec
        self._get = compile_path(spec.token)

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
        token = saved.get("token")
        return {} if token is None else {self.spec.param: token}

    def start_json(self, saved: dict[str, Any]) -> dict[str, Any]:
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


class FullStyle:
    """No incremental: every run reads everything."""

    def start_params(self, saved: dict[str, Any]) -> dict[str, Any]:
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


def build_incremental(spec: IncrementalSpec | None) -> IncrementalStyle:
    if spec is None:
        return FullStyle()
    if isinstance(spec, CursorIncremental):
        return CursorStyle(spec)
    return TokenStyle(spec)

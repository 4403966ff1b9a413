"""What flows between the HTTP layer, pagination and extraction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class RequestPatch:
    """Changes one page's request makes to the stream's base request.

    A patch is also the paging checkpoint: it is JSON-serialisable and saved with the
    rows of the page before it, so a killed sync resumes at the next page.
    `url` replaces the whole URL (next-URL paging); `params` and `json` are merged in.
    """

    url: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "params": self.params, "json": self.json}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestPatch:
        return cls(
            url=data.get("url"), params=dict(data.get("params") or {}), json=dict(data.get("json") or {})
        )


@dataclass
class Page:
    """A parsed response page."""

    url: str
    status: int
    headers: httpx.Headers
    body: Any
    records: list[Any]
    number: int = 1

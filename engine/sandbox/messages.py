"""What flows between the sandbox's HTTP plumbing, its router and the protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from engine.sandbox.store import SyncTokens


@dataclass(frozen=True)
class Call:
    """One request as a protocol sees it.

    `api_path` is the path as on the real API (`/v1/invoices`); `url` is the absolute sandbox
    URL of that path, without the query (`http://127.0.0.1:PORT/stripe/v1/invoices`).
    `params` is the URL query. `body` is the parsed JSON body, or for a form-encoded body its
    pairs nested as Stripe reads them (`forms.nest`), whose raw pairs are in `form`.
    `headers` have lower-case names; `path_params` are the route's decoded placeholders:

        POST /v1/invoices/in_1/finalize  (route /v1/invoices/{id}/finalize)  auto_advance=false
        -> path_params {"id": "in_1"}, body {"auto_advance": "false"},
           form (("auto_advance", "false"),), headers {"content-type": "application/x-www-form-urlencoded", ...}
    """

    method: str
    api_path: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    tokens: SyncTokens | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    form: tuple[tuple[str, str], ...] | None = None
    path_params: Mapping[str, str] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        """The query parameters, the last value winning."""
        return dict(self.params)

    def link(self, **changes: str | int | None) -> str:
        """This URL with its query changed: `call.link(page=2)`; None removes a parameter."""
        items: list[tuple[str, str]] = []
        for name, value in self.params:
            if name not in changes:
                items.append((name, value))
        for name, new in changes.items():
            if new is not None:
                items.append((name, str(new)))
        return f"{self.url}?{urlencode(items)}" if items else self.url


@dataclass
class Reply:
    """A response before it is written: status, body bytes, headers, and how to misbehave."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    truncate: bool = False


def json_reply(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, orjson.dumps(value), dict(headers or {}))


def splice(fields: Mapping[str, Any], key: str, raws: Sequence[bytes]) -> bytes:
    """`orjson.dumps({**fields, key: records})` from records serialised once, ahead of time.

    >>> splice({"object": "list"}, "data", [b'{"id":"a"}'])
    b'{"object":"list","data":[{"id":"a"}]}'
    """
    member = orjson.dumps(key) + b":[" + b",".join(raws) + b"]"
    head = orjson.dumps(dict(fields))
    if head == b"{}":
        return b"{" + member + b"}"
    return head[:-1] + b"," + member + b"}"


def json_list(raws: Sequence[bytes]) -> bytes:
    return b"[" + b",".join(raws) + b"]"

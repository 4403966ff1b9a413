"""Pagination strategies: one small class per `paging.type`, one registry, one loop guard.

Strategies are stateless. Each one turns "the patch this page was fetched with" and
"the page that came back" into the patch for the next page, so the patch alone is
the resume checkpoint:

>>> from engine.spec.models import OffsetPaging
>>> paginator = build_paginator(OffsetPaging(type="offset", limit=2))
>>> paginator.first()
RequestPatch(url=None, params={'offset': 0, 'limit': 2}, json={})

The stream driver loops `first()` -> fetch -> `next(patch, page)` until `next` returns
None, and calls `PageGuard.check` on every patch before fetching it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from engine.errors import PagingError
from engine.pages import Page, RequestPatch
from engine.paths import compile_path
from engine.redact import redact_url
from engine.spec.models import (
    BodyCursorPaging,
    BodyCursorPostPaging,
    LastRecordCursorPaging,
    LinkHeaderPaging,
    NextUrlPaging,
    NoPaging,
    OffsetPaging,
    PageNumberPaging,
    PageTokenPaging,
    PagingSpec,
)


class Paginator(Protocol):
    """The two-method contract every strategy keeps."""

    def first(self) -> RequestPatch:
        """The patch for the first page."""
        ...

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        """The patch for the page after `page` (fetched with `current`), or None when done."""
        ...


# ---------------------------------------------------------------- helpers


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _truthy(value: Any) -> bool:
    """`has_more` as providers send it: a bool, but now and then "false" or 0."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _with_param(current: RequestPatch, name: str, value: Any) -> RequestPatch:
    """`current` with one query parameter set; the others are kept."""
    return RequestPatch(url=current.url, params={**current.params, name: value}, json=dict(current.json))


def _resolve(url: str, page: Page) -> str:
    """Relative next links are resolved against the URL of the page that carried them."""
    return str(httpx.URL(page.url).join(url)) if page.url else url


def _int(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PagingError(f"{what} is {value!r}, not a number; check the path in the paging spec") from None


# ---------------------------------------------------------------- strategies


class NoPaginator:
    """One request, one page."""

    def __init__(self, spec: NoPaging) -> None:
        self.spec = spec

    def first(self) -> RequestPatch:
        return RequestPatch()

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        return None


class BodyCursorPaginator:
    """A cursor in the body goes back as a query parameter. Slack `conversations.list`:

        {"ok": true, "channels": [...], "response_metadata": {"next_cursor": "dGVhbTpDMDYx"}}

    `cursor: response_metadata.next_cursor, param: cursor` -> `?cursor=dGVhbTpDMDYx`.
    Slack ends with `"next_cursor": ""`; others send null, drop the key, or set `more` false.
    """

    def __init__(self, spec: BodyCursorPaging) -> None:
        self.param = spec.param
        self.cursor = compile_path(spec.cursor)
        self.more = compile_path(spec.more) if spec.more else None

    def first(self) -> RequestPatch:
        return RequestPatch()

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        if self.more is not None and not _truthy(self.more(page.body)):
            return None
        cursor = self.cursor(page.body)
        if _missing(cursor):
            return None
        return _with_param(current, self.param, cursor)


class LastRecordCursorPaginator:
    """The last record's id is the cursor. Stripe list objects:

        {"object": "list", "url": "/v1/customers", "has_more": true,
         "data": [{"id": "cus_1", ...}, {"id": "cus_2", ...}]}

    `param: starting_after, field: id, more: has_more` -> `?starting_after=cus_2`.
    """

    def __init__(self, spec: LastRecordCursorPaging) -> None:
        self.param = spec.param
        self.field_name = spec.field
        self.field = compile_path(spec.field)
        self.more = compile_path(spec.more)

    def first(self) -> RequestPatch:
        return RequestPatch()

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        if not page.records or not _truthy(self.more(page.body)):
            return None
        cursor = self.field(page.records[-1])
        if _missing(cursor):
            # Stopping here would silently drop the rest of the stream.
            raise PagingError(
                f"the last record of page {page.number} has no {self.field_name!r} to page on; "
                "check paging.field"
            )
        return _with_param(current, self.param, cursor)


class PageTokenPaginator:
    """Google's next-page token. Calendar `events.list`:

        {"kind": "calendar#events", "items": [...], "nextPageToken": "CigKGjRj..."}

    -> `?pageToken=CigKGjRj...`. The last page has no `nextPageToken` (it has `nextSyncToken`).
    """

    def __init__(self, spec: PageTokenPaging) -> None:
        self.param = spec.param
        self.token = compile_path(spec.token)

    def first(self) -> RequestPatch:
        return RequestPatch()

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        token = self.token(page.body)
        if _missing(token):
            return None
        return _with_param(current, self.param, token)


class NextUrlPaginator:
    """A full next-page URL in the body. Graph API:

        {"data": [...], "paging": {"cursors": {"after": "QVFI..."},
                                   "next": "https://graph.facebook.com/v19.0/me/posts?after=QVFI..."}}

    PayPal invoices v2 (HATEOAS), with `path: links[rel=next].href`:

        {"items": [...], "links": [{"href": "https://api-m.paypal.com/v2/invoicing/invoices?page=2",
                                    "rel": "next", "method": "GET"}]}

    The URL carries every parameter, so the patch has none of its own.
    """

    def __init__(self, spec: NextUrlPaging) -> None:
        self.path = compile_path(spec.path)

    def first(self) -> RequestPatch:
        return RequestPatch()

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        url = self.path(page.body)
        if _missing(url):
            return None
        return RequestPatch(url=_resolve(str(url), page))


# One link-value of an RFC 8288 Link header: <uri> followed by ;-separated params.
_LINK = re.compile(
    r"""\s*<(?P<uri>[^>]*)>(?P<params>(?:\s*;\s*[^;,=\s]+\s*(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)\s*(?:,|$)"""
)
_LINK_PARAM = re.compile(
    r"""\s*;\s*(?P<name>[^;,=\s]+)\s*(?:=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^;,\s]*)))?"""
)


def parse_link_header(value: str) -> dict[str, str]:
    """Map each rel to its URI. Handles several links, quoted or bare rels and rel lists.

    >>> parse_link_header('<https://x/?page=2>; rel="next", <https://x/?page=9>; rel="last"')
    {'next': 'https://x/?page=2', 'last': 'https://x/?page=9'}
    >>> parse_link_header('<https://x/?page=9>; rel="next last"')
    {'next': 'https://x/?page=9', 'last': 'https://x/?page=9'}
    """
    links: dict[str, str] = {}
    for link in _LINK.finditer(value):
        for param in _LINK_PARAM.finditer(link["params"]):
            if param["name"].lower() != "rel":
                continue
            rel = param["quoted"] if param["quoted"] is not None else param["token"] or ""
            for name in rel.split():
                links.setdefault(name.lower(), link["uri"].strip())
            break  # RFC 8288 3.3: only the first rel parameter counts
    return links


class LinkHeaderPaginator:
    """RFC 8288 Link header. GitHub:

        Link: <https://api.github.com/repositories/1300192/issues?page=2>; rel="next",
              <https://api.github.com/repositories/1300192/issues?page=5>; rel="last"

    The last page has no `rel="next"`. Relative URIs are resolved against the page's URL.
    """

    def __init__(self, spec: LinkHeaderPaging) -> None:
        self.rel = spec.rel.lower()

    def first(self) -> RequestPatch:
        return RequestPatch()

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        header = ", ".join(page.headers.get_list("link"))
        url = parse_link_header(header).get(self.rel)
        if not url:
            return None
        return RequestPatch(url=_resolve(url, page))


class OffsetPaginator:
    """Offset and limit parameters. E.g. a Jira-style search:

        {"startAt": 0, "maxResults": 100, "total": 250, "issues": [...]}

    `offset_param: startAt, limit_param: maxResults, total: total`. The next offset grows by
    the records actually received. Stops on an empty page, a short page or at the total.
    """

    def __init__(self, spec: OffsetPaging) -> None:
        self.offset_param = spec.offset_param
        self.limit_param = spec.limit_param
        self.limit = spec.limit
        self.total_path = spec.total
        self.total = compile_path(spec.total) if spec.total else None
        self.short_page_ends = spec.short_page_ends or self.total is None

    def first(self) -> RequestPatch:
        return RequestPatch(params={self.offset_param: 0, self.limit_param: self.limit})

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        received = len(page.records)
        if received == 0 or (received < self.limit and self.short_page_ends):
            return None
        offset = (_int(current.params.get(self.offset_param), f"param {self.offset_param!r}") or 0) + received
        if self.total is not None:
            total = _int(self.total(page.body), f"total at {self.total_path!r}")
            if total is not None and offset >= total:
                return None
        return _with_param(current, self.offset_param, offset)


class PageNumberPaginator:
    """A page number parameter. E.g. Zendesk-style:

        {"tickets": [...], "page": 2, "per_page": 100, "total_pages": 7}

    `param: page, size_param: per_page, total_pages: total_pages`. Stops on an empty page,
    at the total page count, or on a short page: the latter only when the page size is
    known (`size_param` set, or `size` given explicitly), since a provider's own default
    size may be smaller than ours.
    """

    def __init__(self, spec: PageNumberPaging) -> None:
        self.param = spec.param
        self.start = spec.start
        self.size_param = spec.size_param
        self.size = spec.size
        self.size_known = spec.size_param is not None or "size" in spec.model_fields_set
        self.total_path = spec.total_pages
        self.total_pages = compile_path(spec.total_pages) if spec.total_pages else None

    def first(self) -> RequestPatch:
        params: dict[str, Any] = {self.param: self.start}
        if self.size_param:
            params[self.size_param] = self.size
        return RequestPatch(params=params)

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        if not page.records or (self.size_known and len(page.records) < self.size):
            return None
        number = _int(current.params.get(self.param), f"param {self.param!r}")
        number = self.start if number is None else number
        if self.total_pages is not None:
            total = _int(self.total_pages(page.body), f"total pages at {self.total_path!r}")
            if total is not None and number - self.start + 1 >= total:
                return None
        return _with_param(current, self.param, number + 1)


class BodyCursorPostPaginator:
    """A cursor sent back in the POST JSON body. Notion `POST /v1/search`:

        {"object": "list", "results": [...], "next_cursor": "fe2cc560-...", "has_more": true}

    `cursor: next_cursor, body_field: start_cursor, more: has_more` -> `{"start_cursor": "fe2cc560-..."}`.
    TikTok-style bodies (`data.cursor` + `data.has_more`) work the same way.
    """

    def __init__(self, spec: BodyCursorPostPaging) -> None:
        self.body_field = spec.body_field
        self.cursor = compile_path(spec.cursor)
        self.more = compile_path(spec.more) if spec.more else None

    def first(self) -> RequestPatch:
        return RequestPatch()

    def next(self, current: RequestPatch, page: Page) -> RequestPatch | None:
        if self.more is not None and not _truthy(self.more(page.body)):
            return None
        cursor = self.cursor(page.body)
        if _missing(cursor):
            return None
        return RequestPatch(
            url=current.url, params=dict(current.params), json={**current.json, self.body_field: cursor}
        )


# ---------------------------------------------------------------- registry

PAGINATORS: dict[str, Callable[[Any], Paginator]] = {
    "none": NoPaginator,
    "body_cursor": BodyCursorPaginator,
    "last_record_cursor": LastRecordCursorPaginator,
    "page_token": PageTokenPaginator,
    "next_url": NextUrlPaginator,
    "link_header": LinkHeaderPaginator,
    "offset": OffsetPaginator,
    "page_number": PageNumberPaginator,
    "post_body_cursor": BodyCursorPostPaginator,
}
"""`paging.type` in the YAML -> the strategy class that serves it."""


def build_paginator(spec: PagingSpec) -> Paginator:
    """The strategy for a stream's `paging:` spec."""
    try:
        factory = PAGINATORS[spec.type]
    except KeyError:
        raise PagingError(f"no paginator for paging type {spec.type!r}") from None
    return factory(spec)


# ---------------------------------------------------------------- guard


def _show(value: Any, limit: int = 80) -> str:
    """A cursor as printed in a message: strings quoted, long ones cut."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(text) if isinstance(value, str) else text


def _describe(patch: RequestPatch) -> tuple[str, str]:
    """What kind of position a patch holds, and its value as safe to print."""
    if patch.url is not None:
        return "next URL", _show(redact_url(patch.url), 200)
    values = {**patch.params, **patch.json}
    return "cursor", ", ".join(f"{name}={_show(value)}" for name, value in values.items()) or "(none)"


class PageGuard:
    """Stops a stream that loops or runs away. The driver checks every patch before fetching it.

    >>> guard = PageGuard(page_cap=1000)
    >>> guard.check(RequestPatch())
    >>> guard.check(RequestPatch(params={"cursor": "abc"}))
    >>> guard.pages
    2

    A third `RequestPatch(params={"cursor": "abc"})` raises "paging repeated cursor
    cursor='abc' on page 3: ...".
    """

    def __init__(self, page_cap: int) -> None:
        self.page_cap = page_cap
        self.pages = 0
        self._seen: set[str] = set()

    def check(self, patch: RequestPatch) -> None:
        """Raise PagingError if `patch` was fetched before in this run, or the page cap is reached."""
        page = self.pages + 1
        if page > self.page_cap:
            raise PagingError(
                f"page cap {self.page_cap} reached: the stream already read {self.pages} pages; "
                "raise http.page_cap if the provider really has more"
            )
        key = json.dumps(patch.to_dict(), sort_keys=True, default=str)
        if key in self._seen:
            kind, shown = _describe(patch)
            raise PagingError(
                f"paging repeated {kind} {shown} on page {page}: the provider sent the same "
                f"{kind} twice; stopping so the stream cannot loop"
            )
        self._seen.add(key)
        self.pages = page

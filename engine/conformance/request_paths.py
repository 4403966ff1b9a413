"""A connector's request path as the provider sees it, before any value is known.

The full path is the base URL's path followed by the request path (or an absolute URL's path);
every Jinja expression is kept as one EXPRESSION character, which stands for one path segment:

>>> request_path("/v1/invoices/{{ results[0].id }}/finalize", "https://api.stripe.com").path
'/v1/invoices/\\x00/finalize'
>>> request_path("/envelopes", "{{ config.base_uri }}/restapi/v2.1/accounts/{{ config.account_id }}").path
'/restapi/v2.1/accounts/\\x00/envelopes'

A base URL that starts with an expression starts with the origin (`{{ config.base_uri }}`); a
request path does only when the expression names a URL (`{{ config.api_url }}/...`): otherwise
it is a segment (`{{ config.ig_user_id }}/media`). A path that is one expression
(`{{ secrets.incoming_webhook_url }}`) cannot be checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EXPRESSION = "\x00"
_JINJA = re.compile(r"\{\{(.*?)\}\}", re.S)
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_URL_WORDS = re.compile(r"url|uri|host|origin|endpoint", re.I)


@dataclass(frozen=True)
class RequestPath:
    """`path`: the full path with EXPRESSION for each expression, or None when it cannot be known."""

    written: str
    path: str | None
    query: list[str] = field(default_factory=list)
    reason: str = ""

    def shown(self) -> str:
        return (self.path or self.written).replace(EXPRESSION, "{…}")


def _tokens(template: str) -> tuple[str, list[str]]:
    expressions = [m.group(1).strip() for m in _JINJA.finditer(template)]
    return _JINJA.sub(EXPRESSION, template), expressions


def _after_origin(text: str, expressions: list[str], *, assume_origin: bool) -> str | None:
    origin = _ORIGIN.match(text)
    if origin:
        return text[origin.end() :]
    if text.startswith(EXPRESSION) and (assume_origin or _URL_WORDS.search(expressions[0])):
        return text[1:]
    return None


def base_path(base_url: str) -> str:
    """'https://api.xero.com/api.xro/2.0' -> '/api.xro/2.0'."""
    text, expressions = _tokens(base_url)
    after = _after_origin(text, expressions, assume_origin=True)
    return (text if after is None else after).split("?", 1)[0].rstrip("/")


def request_path(path: str, base_url: str) -> RequestPath:
    if "{%" in path:
        return RequestPath(path, None, reason="the path uses a template block ({% ... %})")
    text, expressions = _tokens(path)
    if text.strip() == EXPRESSION:
        return RequestPath(path, None, reason="the whole URL is an expression, known only at run time")
    after = _after_origin(text, expressions, assume_origin=False)
    full = after if after is not None else base_path(base_url) + "/" + text.lstrip("/")
    full, _, query = full.partition("?")
    names = [part.split("=", 1)[0] for part in query.split("&") if part]
    return RequestPath(path, "/" + full.lstrip("/"), names)

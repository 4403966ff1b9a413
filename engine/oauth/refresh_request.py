"""Refreshing by a request made with the current access token (`auth.refresh`), not a grant.

Instagram's long-lived tokens (60 days) are refreshed with
`GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token&access_token=...`,
answered `{"access_token": "...", "token_type": "bearer", "expires_in": 5183944}`. Failures become
`TokenRequestError`s like a refused grant: transient for 429/5xx and unreachable hosts, else the
connection is disconnected by the caller.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import orjson

from ..paths import get_path
from ..redact import Redactor, redact_url
from .client import OAuthClient
from .errors import TokenRequestError
from .post_connect import send_with_token
from .spec import TokenRefreshRequest
from .tokens import TokenSet, expires_at_from

EXCERPT = 200


def refresh_by_request(client: OAuthClient, spec: TokenRefreshRequest, tokens: TokenSet) -> TokenSet:
    """The tokens with the answer's access token and expiry; the refresh token (if any) is kept."""
    extra = {"token": {"access_token": tokens.access_token, "token_type": tokens.token_type}}
    request = spec.request
    url = client.url(request.url, "api", extra)
    redact = Redactor([*tokens.secrets(), *client.secrets()])
    where = f"{client.connector}: the token refresh ({request.method} {redact(redact_url(url))})"
    try:
        response = send_with_token(client, request, url, tokens.access_token, extra)
    except httpx.HTTPError as exc:
        raise TokenRequestError(
            f"{where} could not be sent ({type(exc).__name__}); try again later",
            error="unreachable",
            transient=True,
        ) from None
    body = _json(response)
    status = response.status_code
    if status >= 300:
        error: Any = get_path(body, "error") if isinstance(body, dict) else None
        message: Any = get_path(body, "error_description") if isinstance(body, dict) else None
        if isinstance(error, dict):  # Graph: {"error": {"message", "type", "code"}}
            message, error = error.get("message"), error.get("code") or error.get("type")
        code = str(error) if error else f"http_{status}"
        detail = redact(str(message or response.text))[:EXCERPT].replace("\n", " ").strip()
        raise TokenRequestError(
            f"{where} was refused ({status} {code}): {detail}",
            status=status,
            error=code,
            transient=status >= 500 or status == 429,
        )
    token = get_path(body, spec.access_token) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenRequestError(
            f"{where} answered without a token at '{spec.access_token}' (check auth.refresh.access_token)",
            status=status,
            error="invalid_response",
        )
    lifetime = get_path(body, spec.expires_in) if spec.expires_in else None
    return replace(tokens, access_token=token, expires_at=expires_at_from(lifetime, client.clock()))


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None

"""Post-connect steps: requests made with the new token right after the code exchange.

Xero's tenant lookup, as YAML declares it:

    post_connect:
      - name: tenant lookup
        request: {url: https://api.xero.com/connections}
        store: {account_id: 0.tenantId, config: {tenant_id: 0.tenantId}, account: {tenant_name: 0.tenantName}}

Templates see `token` (`access_token`, `token_type`), `env`/`secrets`, `config`,
`connection` and `account` (what earlier steps stored). A step may replace the access
token (Meta's short-lived -> long-lived exchange).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
import orjson

from ..paths import get_path
from ..redact import Redactor, redact_url
from .client import OAuthClient
from .errors import OAuthError
from .spec import PostConnectRequest, PostConnectStep
from .tokens import TokenSet, expires_at_from

EXCERPT = 200
# Selections compare text: `[is_default=true]` must match the JSON `true` that Python reads as True.


@dataclass
class Connected:
    """What connecting produced: the tokens and what the steps stored."""

    tokens: TokenSet
    account_id: str | None = None
    account: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


def run_post_connect(client: OAuthClient, steps: list[PostConnectStep], tokens: TokenSet) -> Connected:
    """Run every step in order; raises OAuthError (redacted) when one fails."""
    done = Connected(tokens, tokens.account_id, dict(tokens.account))
    for index, step in enumerate(steps):
        label = step.name or f"post_connect[{index}]"
        body = _send(client, step, done, label)
        _store(step, body, done, f"{client.connector}: post-connect step '{label}'", client.clock())
    return done


def send_with_token(
    client: OAuthClient, spec: PostConnectRequest, url: str, access_token: str, extra: dict[str, Any]
) -> httpx.Response:
    """Send one templated request made with an access token (a post-connect step, a refresh by
    request): params, headers, form or JSON body rendered with `extra`; the token as bearer when
    `spec.bearer`. Raises httpx.HTTPError when it cannot be sent."""
    headers = {k: str(v) for k, v in client.render(spec.headers, extra).items()}
    headers.setdefault("Accept", "application/json")
    if spec.bearer:
        headers["Authorization"] = f"Bearer {access_token}"
    return client.http.request(
        spec.method,
        url,
        params={k: str(v) for k, v in client.render(spec.params, extra).items()} or None,
        headers=headers,
        data={k: str(v) for k, v in client.render(spec.form, extra).items()} if spec.form else None,
        content=orjson.dumps(client.render(spec.json_body, extra)) if spec.json_body is not None else None,
    )


def _send(client: OAuthClient, step: PostConnectStep, done: Connected, label: str) -> Any:
    extra = {
        "token": {"access_token": done.tokens.access_token, "token_type": done.tokens.token_type},
        "account": {"id": done.account_id, **done.account},
        "config": {**client.context["config"], **done.config},
    }
    spec = step.request
    url = client.url(spec.url, "api", extra)
    redact = Redactor([*done.tokens.secrets(), *client.secrets()])
    where = f"{client.connector}: post-connect step '{label}' ({spec.method} {redact(redact_url(url))})"
    try:
        response = send_with_token(client, spec, url, done.tokens.access_token, extra)
    except httpx.HTTPError as exc:
        raise OAuthError(f"{where} failed: {type(exc).__name__}; try connecting again") from None
    if response.status_code >= 300:
        excerpt = redact(response.text)[:EXCERPT].replace("\n", " ").strip()
        raise OAuthError(f"{where} answered {response.status_code}: {excerpt}")
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise OAuthError(f"{where} did not answer JSON") from None


def _store(step: PostConnectStep, body: Any, done: Connected, where: str, now: datetime) -> None:
    store = step.store

    def pick(path: str) -> Any:
        value = get_path(body, path)
        if value is None and step.required:
            raise OAuthError(f"{where}: the answer has no value at '{path}' (check post_connect.store)")
        return value

    if store.account_id:
        value = pick(store.account_id)
        done.account_id = None if value is None else str(value)
    for key, path in store.account.items():
        done.account[key] = pick(path)
    for key, path in store.config.items():
        done.config[key] = pick(path)
    if store.access_token:
        token = pick(store.access_token)
        if isinstance(token, str) and token:
            expires = get_path(body, store.expires_in) if store.expires_in else None
            done.tokens = replace(done.tokens, access_token=token, expires_at=expires_at_from(expires, now))

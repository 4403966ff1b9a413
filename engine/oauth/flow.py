"""The authorization code flow: the redirect to the provider, then the callback.

    url = authorize_url(spec, "xero", "acme", "https://app.example/oauth/xero/callback",
                        states=states, env=os.environ)
    # ... the user approves; the provider redirects to the callback with ?code=...&state=...
    record = complete(spec, "xero", code, state, states=states, store=store, env=os.environ)

`complete` checks the state (signed, single use, unexpired, bound to this connector),
exchanges the code (with the PKCE verifier kept encrypted with the state), runs the
post-connect steps and stores the connection: credentials encrypted, token expiry,
scopes, account id, connected. A provider's `error=access_denied` is recorded on the
connection and raised as OAuthError.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ..control import ConnectionRecord, ConnectionStore
from ..control.db import now_utc
from .client import OAuthClient, UrlRewrite
from .errors import OAuthError, TokenRequestError
from .post_connect import run_post_connect
from .spec import OAuth2AuthCode
from .state import OAuthStates, PendingConnect

_PRINTABLE = str.maketrans({c: " " for c in map(chr, range(32))})


def authorize_url(
    spec: OAuth2AuthCode,
    connector: str,
    connection_id: str,
    redirect_uri: str,
    *,
    states: OAuthStates,
    env: Mapping[str, str],
    config: Mapping[str, Any] | None = None,
    owner_id: str | None = None,
    rewrite: UrlRewrite | None = None,
) -> str:
    """The provider's authorize URL for connecting `connection_id`, with a fresh state.

    `redirect_uri` is the service's own callback (never taken from the caller's request:
    no open redirect); the state is bound to it.
    """
    with OAuthClient(
        spec, connector, env=env, config=config, connection_id=connection_id, rewrite=rewrite
    ) as client:
        verifier = secrets.token_urlsafe(64) if spec.pkce == "S256" else None
        state = states.issue(
            connector, connection_id, redirect_uri, owner_id=owner_id, code_verifier=verifier
        )
        params: dict[str, str] = {
            str(k): str(v) for k, v in client.render(spec.extra_authorize_params).items()
        }
        params.update({"response_type": "code", spec.param_names.client_id: client.client_id})
        params["redirect_uri"] = redirect_uri
        if spec.scopes:
            params["scope"] = spec.scope_separator.join(spec.scopes)
        params["state"] = state
        if verifier:
            params["code_challenge"] = create_s256_code_challenge(verifier)
            params["code_challenge_method"] = "S256"
        base = client.url(spec.authorize_url, "authorize")
    return base + ("&" if "?" in base else "?") + urlencode(params)


def complete(
    spec: OAuth2AuthCode,
    connector: str,
    code: str | None,
    state: str,
    *,
    states: OAuthStates,
    store: ConnectionStore,
    env: Mapping[str, str],
    config: Mapping[str, Any] | None = None,
    error: str | None = None,
    error_description: str | None = None,
    redirect_uri: str | None = None,
    rewrite: UrlRewrite | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ConnectionRecord:
    """Finish a connect from the callback's query; returns the stored, connected record.

    Raises OAuthStateError (nothing stored) for a bad state, OAuthError (recorded on the
    connection as last_error) when the provider refused or the exchange or a step failed.
    """
    pending = states.consume(state, connector=connector, redirect_uri=redirect_uri)
    if error:
        reason = _clean(error, 64)
        detail = f": {_clean(error_description, 200)}" if error_description else ""
        message = f"{connector}: the provider refused the connection ({reason}){detail}"
        _record_failure(store, pending, message)
        raise OAuthError(message)
    if not code:
        message = f"{connector}: the callback carried neither a code nor an error"
        _record_failure(store, pending, message)
        raise OAuthError(message)
    existing = store.get(connector, pending.connection_id)
    base_config = {**(existing.config if existing else {}), **(config or {})}
    with OAuthClient(
        spec,
        connector,
        env=env,
        config=base_config,
        connection_id=pending.connection_id,
        rewrite=rewrite,
        transport=transport,
    ) as client:
        try:
            tokens = client.token_endpoint.authorization_code(
                code, pending.redirect_uri, pending.code_verifier
            )
            done = run_post_connect(client, spec.post_connect, tokens)
        except (TokenRequestError, OAuthError) as exc:
            _record_failure(store, pending, str(exc))
            raise
    record = ConnectionRecord(
        connector=connector,
        id=pending.connection_id,
        owner_id=pending.owner_id or (existing.owner_id if existing else None),
        account_id=done.account_id,
        account=done.account,
        config={**base_config, **done.config},
        credentials=done.tokens.credentials(),
        scopes=list(done.tokens.scopes),
        connected=True,
        last_sync_at=existing.last_sync_at if existing else None,
        token_expires_at=done.tokens.expires_at.isoformat() if done.tokens.expires_at else None,
    )
    return store.save(record)


def _record_failure(store: ConnectionStore, pending: PendingConnect, message: str) -> None:
    """On the connection: a reconnect that failed keeps the old credentials; a first one is
    stored as not connected, so the admin page shows what went wrong."""
    existing = store.get(pending.connector, pending.connection_id)
    if existing is not None:
        store.mark_error(pending.connector, pending.connection_id, message)
        return
    blank = ConnectionRecord(pending.connector, pending.connection_id, owner_id=pending.owner_id)
    store.save(replace(blank, connected=False, last_error=message, last_error_at=now_utc()))


def _clean(text: str | None, limit: int) -> str:
    """Provider-sent text (it arrives in the callback's query): one line, bounded."""
    return (text or "").translate(_PRINTABLE).strip()[:limit]

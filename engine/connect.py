"""`manifold connect`: the OAuth authorization-code flow from a terminal.

Prints the provider's authorize URL, waits on a 127.0.0.1 listener for the browser's
redirect, then exchanges the code, runs the post-connect steps and stores the connection.
"""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from .control import ConnectionRecord, ConnectionStore, Vault, open_control
from .errors import ConfigError
from .oauth import OAuthStates, authorize_url, complete, sandbox_rewrite
from .oauth.spec import OAuth2AuthCode
from .runner import sandbox_environ
from .spec.loader import LoadedConnector, is_enabled


class _Listener(ThreadingHTTPServer):
    query: dict[str, str] | None = None
    arrived = threading.Event()


class _Callback(BaseHTTPRequestHandler):
    server: _Listener

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/callback":
            self.send_error(404)
            return
        self.server.query = dict(parse_qsl(urlsplit(self.path).query))
        failed = "error" in self.server.query
        body = (
            b"<html><body><h1>Manifold</h1><p>"
            + (
                b"The provider refused the connection."
                if failed
                else b"Connected. You can close this window."
            )
            + b"</p></body></html>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:  # no request lines in the terminal
        pass


def connect(
    loaded: LoadedConnector,
    connection_id: str,
    *,
    port: int = 0,
    timeout: float = 300,
    sandbox_url: str | None = None,
    announce: Any = print,
) -> ConnectionRecord:
    """Run the whole flow; returns the stored connection (its credentials never printed)."""
    spec = loaded.spec
    auth = spec.auth
    if not isinstance(auth, OAuth2AuthCode):
        raise ConfigError(
            f"{spec.name} does not connect with OAuth (auth type {auth.type}); nothing to connect"
        )
    env = sandbox_environ(loaded) if sandbox_url else dict(os.environ)
    if not is_enabled(spec, env):
        raise ConfigError(f"{spec.name} is disabled: set {spec.flag}=true to enable it")
    rewrite = sandbox_rewrite(sandbox_url, spec.name) if sandbox_url else None
    db = open_control()
    vault = Vault()
    store, states = ConnectionStore(db, vault), OAuthStates(db, vault)
    listener = _Listener(("127.0.0.1", port), _Callback)
    listener.arrived = threading.Event()
    thread = threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}/callback"
    try:
        url = authorize_url(
            auth, spec.name, connection_id, redirect_uri, states=states, env=env, rewrite=rewrite
        )
        announce(f"Open this URL to connect {spec.title} ({connection_id}):\n{url}")
        if not listener.arrived.wait(timeout):
            raise ConfigError(
                f"no answer from the provider within {timeout:.0f} s; run manifold connect again"
            )
    finally:
        listener.shutdown()
        listener.server_close()
    query = listener.query or {}
    return complete(
        auth,
        spec.name,
        query.get("code"),
        query.get("state", ""),
        states=states,
        store=store,
        env=env,
        error=query.get("error"),
        error_description=query.get("error_description"),
        redirect_uri=redirect_uri,
        rewrite=rewrite,
    )


def connect_in_sandbox(loaded: LoadedConnector, connection_id: str, sandbox_url: str) -> ConnectionRecord:
    """Connect through the sandbox's OAuth server without a browser (the demo): its authorize
    endpoint approves at once, and its redirect carries the code; the callback is never visited.
    Connecting again replaces the connection's tokens, which a restarted sandbox no longer knows."""

    spec = loaded.spec
    auth = spec.auth
    if not isinstance(auth, OAuth2AuthCode):
        raise ConfigError(f"{spec.name} does not connect with OAuth (auth type {auth.type})")
    env = sandbox_environ(loaded)
    rewrite = sandbox_rewrite(sandbox_url, spec.name)
    redirect_uri = "http://127.0.0.1/callback"
    db = open_control()
    try:
        vault = Vault()
        store, states = ConnectionStore(db, vault), OAuthStates(db, vault)
        url = authorize_url(
            auth, spec.name, connection_id, redirect_uri, states=states, env=env, rewrite=rewrite
        )
        location = httpx.get(url, follow_redirects=False, timeout=10).headers.get("location", "")
        query = dict(parse_qsl(urlsplit(location).query))
        return complete(
            auth,
            spec.name,
            query.get("code"),
            query.get("state", ""),
            states=states,
            store=store,
            env=env,
            error=query.get("error"),
            redirect_uri=redirect_uri,
            rewrite=rewrite,
        )
    finally:
        db.close()


def store_secrets(
    loaded: LoadedConnector,
    connection_id: str,
    values: dict[str, str],
    *,
    store: ConnectionStore,
    owner_id: str | None = None,
) -> ConnectionRecord:
    """Connect by secrets a person supplies (`connection_secrets`, e.g. Slack's webhook URL)."""
    spec = loaded.spec
    wanted = set(spec.connection_secrets)
    if not is_enabled(spec, os.environ):
        raise ConfigError(f"{spec.name} is disabled: set {spec.flag}=true to enable it")
    if not wanted:
        raise ConfigError(f"{spec.name} takes no connection secrets")
    if set(values) != wanted or not all(v.strip() for v in values.values()):
        raise ConfigError(f"{spec.name} needs exactly these secrets, non-empty: {', '.join(sorted(wanted))}")
    existing = store.get(spec.name, connection_id)
    record = ConnectionRecord(
        connector=spec.name,
        id=connection_id,
        owner_id=owner_id or (existing.owner_id if existing else None),
        config=existing.config if existing else {},
        credentials={k: v.strip() for k, v in values.items()},
        connected=True,
        last_sync_at=existing.last_sync_at if existing else None,
    )
    return store.save(record)


def configure(
    loaded: LoadedConnector, connection_id: str, values: dict[str, Any], *, store: ConnectionStore
) -> ConnectionRecord:
    """Set values of a stored connection's config (Notion's data source ids for its pushes),
    checked against the connector's config schema; other values and the credentials stay."""
    import dataclasses

    from .runtime import check_config

    spec = loaded.spec
    existing = store.get(spec.name, connection_id)
    if existing is None:
        known = ", ".join(r.id for r in store.list(spec.name)) or "none"
        raise ConfigError(
            f"no {spec.name} connection '{connection_id}' (connections: {known}); connect it first"
        )
    config = {**existing.config, **values}
    check_config(loaded, config)
    return store.save(dataclasses.replace(existing, config=config))

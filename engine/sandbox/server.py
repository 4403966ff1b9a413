"""`Sandbox`: the sandbox app behind a real HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from engine.errors import ConfigError
from engine.oauth.spec import OAuth2AuthCode, OAuth2ClientCredentials, SandboxOAuth
from engine.sandbox.app import SandboxApp
from engine.sandbox.error_shapes import generic
from engine.sandbox.faults import FaultKind, FaultRule
from engine.sandbox.messages import Reply, json_reply
from engine.sandbox.oauth import OAuthServer
from engine.spec.models import ConnectorSpec

HOST = "127.0.0.1"


class Sandbox:
    """A local HTTP server emulating providers' paging protocols from connector specs and fixtures.

    >>> with Sandbox([(spec, Path("connectors/stripe.yaml"))]) as sandbox:  # doctest: +SKIP
    ...     base = sandbox.base_url_for("stripe", "https://api.stripe.com/v1")
    ...     # base == "http://127.0.0.1:PORT/stripe/v1"; GET base + "/invoices" pages like Stripe

    Each connector is served under /{name} + the route paths of its `sandbox:` section;
    the control API is under /_sandbox and mirrored by the methods below.
    """

    def __init__(
        self, connectors: list[tuple[ConnectorSpec, Path]], *, port: int = 0, log_size: int = 10_000
    ):
        self.app = SandboxApp(connectors, log_size=log_size)
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self, port: int | None = None) -> str:
        """Bind 127.0.0.1 (port 0: any free port), serve in a daemon thread, return the URL."""
        if self._server is not None:
            return self.url
        server = _Server((HOST, self.port if port is None else port), _Handler)
        server.app = self.app
        self.port = server.server_address[1]
        self.app.origin = f"http://{HOST}:{self.port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self.app.origin

    def base_url_for(self, connector_name: str, real_base_url: str) -> str:
        """The sandbox URL standing in for a connector's real base URL.

        ("stripe", "https://api.stripe.com/v1") -> "http://127.0.0.1:PORT/stripe/v1"
        """
        if connector_name not in self.app.sites:
            served = ", ".join(self.app.sites) or "none"
            raise ConfigError(
                f"connector {connector_name!r} has no sandbox section (sandbox serves: {served})"
            )
        path = urlsplit(real_base_url).path.rstrip("/")
        return f"{self.url}/{connector_name}{path}"

    # ------------------------------------------------------------ control (same as /_sandbox)

    def add_fault(
        self,
        connector: str | None,
        kind: FaultKind,
        path: str = "",
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        times: int = 1,
        after: int = 0,
    ) -> FaultRule:
        """Inject a fault; see `engine.sandbox.faults` for the kinds."""
        rule = FaultRule(kind, connector, path, status, retry_after, delay, times, after)
        return self.app.add_fault(rule)

    def faults(self) -> list[FaultRule]:
        return self.app.faults.rules()

    def clear_faults(self) -> None:
        self.app.faults.clear()

    def upsert(self, connector: str, route: str, record: Any, key: str | list[str] | None = None) -> int:
        """Insert or replace a record (by id) in a route's fixture; returns its version."""
        return self.app.upsert(connector, route, record, key)

    def delete(self, connector: str, route: str, record_id: str, key: str | list[str] | None = None) -> int:
        """Mark a record deleted (Google shows it as status 'cancelled'); returns the new version."""
        return self.app.delete(connector, route, record_id, key)

    def expire_tokens(self, connector: str) -> None:
        """Forget the connector's sync tokens: the next use of one is a 410."""
        self.app.expire_tokens(connector)

    def enable_oauth(
        self,
        connector: str,
        auth: OAuth2AuthCode | OAuth2ClientCredentials,
        settings: SandboxOAuth | None = None,
    ) -> OAuthServer:
        """Serve an OAuth server for a connector (automatic when its `auth:` is an OAuth kind)."""
        return self.app.oauth.enable(connector, auth, settings)

    def revoke_grants(self, connector: str) -> None:
        """OAuth: revoke every grant; refreshes answer 400 invalid_grant, issued tokens 401."""
        self.app.oauth.server(connector).revoke()

    def expire_access_tokens(self, connector: str) -> None:
        """OAuth: every issued access token expires now (refresh tokens keep working)."""
        self.app.oauth.server(connector).expire()

    def deny_authorization(self, connector: str, deny: bool = True) -> None:
        """OAuth: the authorize endpoint redirects with error=access_denied while on."""
        self.app.oauth.server(connector).denying = deny

    def records(self, connector: str, route: str, key: str | list[str] | None = None) -> list[Any]:
        """A route's records as it holds them now (what a create or update left), deleted ones left out.

        `route` is a route path; a write route's path reads its collection.
        """
        return self.app.records(connector, route, key)

    def requests(self, connector: str | None = None) -> list[dict[str, Any]]:
        """The request log, oldest first: {connector, method, path, query, body, form, headers, status}.

        `query` is the URL query (with a repeated parameter, every pair in order is also in
        `query_pairs`); `body` the parsed JSON body, or a form body nested as Stripe
        reads it (`metadata[k]=v` -> {"metadata": {"k": "v"}}), whose raw pairs are in `form`
        (a list of (name, value); None without a form body); `headers` keeps content-type,
        accept, idempotency-key, paypal-request-id, prefer, stripe-version, stripe-account and
        notion-version when sent, and "authorization": True/False (whether it was sent).
        OAuth endpoints' secrets are masked.
        """
        return [r for r in list(self.app.log) if connector is None or r["connector"] == connector]

    def clear_requests(self) -> None:
        self.app.log.clear()

    def reset(self) -> None:
        """Fixtures back to their files; faults, tokens and the request log cleared."""
        self.app.reset()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: SandboxApp

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]):
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def track(self, connection: socket.socket, *, open: bool) -> None:
        with self._lock:
            if open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Keep-alive connections would otherwise outlive the server."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open=True)

    def finish(self) -> None:
        self.server.track(self.connection, open=False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply = self.server.app.handle(self.command, self.path, headers, body)
        except Exception as exc:  # a sandbox bug: answer rather than drop the connection
            reply = json_reply(generic(500, f"sandbox error: {exc!r}", None, None), 500)
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.body[: len(reply.body) // 2] if reply.truncate else reply.body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass

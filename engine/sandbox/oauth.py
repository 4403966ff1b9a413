"""An OAuth 2.0 authorization server per connector, inside the sandbox.

    GET  /{connector}/oauth/authorize  approves at once: 302 to redirect_uri?code=...&state=...
                                       (error=access_denied while denial is switched on)
    POST /{connector}/oauth/token      authorization_code (PKCE S256 checked), refresh_token
                                       (rotating), client_credentials, fb_/ig_exchange_token,
                                       ig_refresh_token (Instagram's long-lived refresh);
                                       also at each path of `sandbox.oauth.exchange_paths`

It expects what the connector's `auth:` declares, rendered with `sandbox.env`: the client id
and secret, a form or JSON body (`token_body`), Basic or form client authentication, renamed parameters (TikTok `client_key`),
PKCE, refresh-token rotation, long-lived tokens (no refresh token, no expiry).
`sandbox.oauth` (`engine.oauth.spec.SandboxOAuth`) tunes lifetimes and extra token fields.

With OAuth on, the connector's data routes require `Authorization: Bearer <a token this
server issued and that is still valid>` (the `require_headers` value, if one is given for
Authorization, is accepted as well); other `require_headers` are checked as before.
Post-connect lookups are ordinary routes: Xero's `/connections` or DocuSign's
`/oauth/userinfo` with `protocol: single` and a fixture.

Switches (Sandbox methods, and the control API):

    POST /_sandbox/oauth/revoke  {"connector"}                 grants revoked: refresh -> 400 invalid_grant
    POST /_sandbox/oauth/expire  {"connector"}                 access tokens expire now: data routes -> 401
    POST /_sandbox/oauth/deny    {"connector", "deny": true}   authorize redirects with error=access_denied
    GET  /_sandbox/oauth                                       -> {connector: {grants, live_tokens, ...}}
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import orjson
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from engine.oauth.spec import OAuth2AuthCode, OAuth2ClientCredentials, SandboxOAuth
from engine.sandbox.messages import Reply, json_reply
from engine.sandbox.routes import Site
from engine.spec.models import ConnectorSpec
from engine.templating import compile_template

Params = tuple[tuple[str, str], ...]
MASK = "***"
_SECRET_PARAMS = frozenset(
    {"code", "code_verifier", "refresh_token", "access_token", "fb_exchange_token", "client_secret"}
)


@dataclass
class _Code:
    redirect_uri: str
    scope: str
    challenge: str | None
    expires: float


@dataclass
class _Grant:
    id: int
    scope: str
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class _Access:
    grant: _Grant | None
    expires: float | None  # None: never (long-lived)


@dataclass
class OAuthServer:
    """One connector's authorization server: the client it expects, grants and tokens issued."""

    connector: str
    client_id: str
    client_secret: str = field(repr=False)
    spec: OAuth2AuthCode | OAuth2ClientCredentials
    settings: SandboxOAuth
    clock: Callable[[], float] = time.time
    denying: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict, repr=False)
    _grants: dict[str, _Grant] = field(default_factory=dict, repr=False)  # by refresh token
    _access: dict[str, _Access] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_grant: int = 0

    # ------------------------------------------------------------ routing

    def handles(self, method: str, api_path: str) -> bool:
        if api_path == "/oauth/authorize":
            return method == "GET"
        return api_path == "/oauth/token" or api_path in self.settings.exchange_paths

    def handle(self, method: str, api_path: str, headers: Mapping[str, str], params: Params) -> Reply:
        with self._lock:
            if api_path == "/oauth/authorize":
                return self._authorize(dict(params))
            if method != "POST" and api_path == "/oauth/token":
                return _oauth_error(405, "invalid_request", "the token endpoint takes POST")
            return self._token(headers, dict(params))

    # ------------------------------------------------------------ authorize

    def _authorize(self, query: dict[str, str]) -> Reply:
        names = self.spec.param_names
        redirect = query.get("redirect_uri", "")
        if query.get(names.client_id) != self.client_id:
            return _oauth_error(400, "invalid_client", f"unknown {names.client_id}")
        if urlsplit(redirect).scheme not in ("http", "https"):
            return _oauth_error(400, "invalid_request", "redirect_uri must be an absolute http(s) URL")
        state = {"state": query["state"]} if "state" in query else {}
        challenge = query.get("code_challenge")
        if self.denying:
            return _redirect(
                redirect, error="access_denied", error_description="The user denied access", **state
            )
        if query.get("response_type") != "code":
            return _redirect(redirect, error="unsupported_response_type", **state)
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return _redirect(redirect, error="invalid_request", error_description="use S256", **state)
        if isinstance(self.spec, OAuth2AuthCode) and self.spec.pkce == "S256" and challenge is None:
            return _redirect(
                redirect, error="invalid_request", error_description="code_challenge required", **state
            )
        code = "sbx-code-" + secrets.token_urlsafe(18)
        scope = query.get("scope", "")
        self._codes[code] = _Code(redirect, scope, challenge, self.clock() + self.settings.code_ttl)
        self._count("authorize")
        return _redirect(redirect, code=code, **state)

    # ------------------------------------------------------------ token

    def _token(self, headers: Mapping[str, str], form: dict[str, str]) -> Reply:
        grant_type = form.get("grant_type", "")
        if grant_type in ("fb_exchange_token", "ig_exchange_token"):
            return self._exchange(form)
        wrong_body = self._body_format(headers)
        if wrong_body is not None:
            return wrong_body
        if grant_type == "ig_refresh_token":
            return self._refresh_long_lived(form)
        refused = self._authenticate(headers, form)
        if refused is not None:
            return refused
        self._count(grant_type or "none")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type == "client_credentials":
            return self._issue(None, form.get("scope", ""), refresh=False)
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _body_format(self, headers: Mapping[str, str]) -> Reply | None:
        """The token request's body as the connector's `auth.token_body` says the provider takes it."""
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if self.spec.token_body == "json" and kind != "application/json":
            return _oauth_error(
                400, "invalid_request", "the token endpoint takes a JSON body (application/json)"
            )
        if self.spec.token_body == "form" and kind == "application/json":
            return _oauth_error(
                400,
                "invalid_request",
                "the token endpoint takes a form body (application/x-www-form-urlencoded)",
            )
        return None

    def _authenticate(self, headers: Mapping[str, str], form: dict[str, str]) -> Reply | None:
        names = self.spec.param_names
        if self.spec.token_auth_method == "client_secret_basic":
            pair = _basic(headers.get("authorization", ""))
            ok = pair is not None and _same(pair[0], self.client_id) and _same(pair[1], self.client_secret)
            why = "client authentication failed (expected HTTP Basic)"
        else:
            ok = _same(form.get(names.client_id, ""), self.client_id) and _same(
                form.get(names.client_secret, ""), self.client_secret
            )
            why = f"client authentication failed (expected {names.client_id} and {names.client_secret})"
        if ok:
            return None
        return _oauth_error(401, "invalid_client", why, {"WWW-Authenticate": 'Basic realm="sandbox"'})

    def _code_grant(self, form: dict[str, str]) -> Reply:
        code = self._codes.pop(form.get("code", ""), None)  # single use
        if code is None or code.expires < self.clock():
            return _oauth_error(400, "invalid_grant", "the authorization code is invalid, used or expired")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri does not match the authorization request")
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not _same(create_s256_code_challenge(verifier), code.challenge):
                return _oauth_error(400, "invalid_grant", "code_verifier does not match the code_challenge")
        self._next_grant += 1
        grant = _Grant(self._next_grant, code.scope)
        by_request = isinstance(self.spec, OAuth2AuthCode) and self.spec.refresh is not None
        return self._issue(grant, code.scope, refresh=not self._long_lived() and not by_request)

    def _refresh_grant(self, form: dict[str, str]) -> Reply:
        grant = self._grants.get(form.get("refresh_token", ""))
        if grant is None or grant.revoked:
            return _oauth_error(400, "invalid_grant", "the refresh token is invalid, revoked or spent")
        if self._rotates():
            del self._grants[grant.refresh_token or ""]
            return self._issue(grant, grant.scope, refresh=True)
        return self._issue(grant, grant.scope, refresh=False)

    def _exchange(self, form: dict[str, str]) -> Reply:
        """Meta: a short-lived token for a long-lived one (the client secret as a parameter)."""
        if not _same(form.get(self.spec.param_names.client_secret, ""), self.client_secret):
            return _oauth_error(400, "invalid_client", "client_secret is wrong or missing")
        current = self._access.get(form.get("fb_exchange_token") or form.get("access_token") or "")
        if current is None or not self._valid(current):
            return _oauth_error(400, "invalid_grant", "the token to exchange is invalid or expired")
        self._count("exchange")
        token = "sbx-ll-" + secrets.token_urlsafe(24)
        self._access[token] = _Access(current.grant, self.clock() + self.settings.long_lived_ttl)
        ttl = math.ceil(self.settings.long_lived_ttl)
        return json_reply({"access_token": token, "token_type": "bearer", "expires_in": ttl})

    def _refresh_long_lived(self, form: dict[str, str]) -> Reply:
        """Instagram: a valid long-lived token (no client secret) for a new one, 60 days again."""
        current = self._access.get(form.get("access_token") or "")
        if current is None or not self._valid(current):
            return _oauth_error(400, "invalid_grant", "the token to refresh is invalid or expired")
        self._count("refresh")
        token = "sbx-ll-" + secrets.token_urlsafe(24)
        self._access[token] = _Access(current.grant, self.clock() + self.settings.long_lived_ttl)
        ttl = math.ceil(self.settings.long_lived_ttl)
        return json_reply({"access_token": token, "token_type": "bearer", "expires_in": ttl})

    def _issue(self, grant: _Grant | None, scope: str, *, refresh: bool) -> Reply:
        token = "sbx-at-" + secrets.token_urlsafe(24)
        lives = not self._long_lived() or grant is None
        ttl = self.settings.access_token_ttl
        self._access[token] = _Access(grant, self.clock() + ttl if lives else None)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if lives:
            body["expires_in"] = math.ceil(ttl)
        if grant is not None and refresh:
            grant.refresh_token = "sbx-rt-" + secrets.token_urlsafe(24)
            self._grants[grant.refresh_token] = grant
            body["refresh_token"] = grant.refresh_token
        if scope:
            body["scope"] = scope
        return json_reply({**body, **self.settings.token_extra})

    # ------------------------------------------------------------ data routes and switches

    def valid_bearer(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            access = self._access.get(token.strip())
            return access is not None and self._valid(access)

    def revoke(self) -> None:
        """Every grant revoked: refreshes answer invalid_grant, issued tokens stop working."""
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True
            for access in self._access.values():
                if access.grant is not None:
                    access.grant.revoked = True
            self._access.clear()

    def expire(self) -> None:
        """Every access token expires now (refresh tokens keep working)."""
        with self._lock:
            self._access.clear()

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._grants.clear()
            self._access.clear()
            self.counts.clear()
            self.denying = False

    def status(self) -> dict[str, Any]:
        with self._lock:
            live = sum(1 for a in self._access.values() if self._valid(a))
            return {
                "grants": sum(1 for g in self._grants.values() if not g.revoked),
                "live_tokens": live,
                "denying": self.denying,
                "requests": dict(self.counts),
            }

    def _valid(self, access: _Access) -> bool:
        if access.grant is not None and access.grant.revoked:
            return False
        return access.expires is None or access.expires > self.clock()

    def _long_lived(self) -> bool:
        return isinstance(self.spec, OAuth2AuthCode) and self.spec.long_lived

    def _rotates(self) -> bool:
        if self.settings.refresh_token_rotates is not None:
            return self.settings.refresh_token_rotates
        return isinstance(self.spec, OAuth2AuthCode) and self.spec.refresh_token_rotates

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


class OAuthServers:
    """The OAuth servers of every connector that has one; the sandbox app's one hook."""

    def __init__(
        self, connectors: list[tuple[ConnectorSpec, Path]], *, clock: Callable[[], float] = time.time
    ):
        self.clock = clock
        self.servers: dict[str, OAuthServer] = {}
        self._sandbox_values: dict[str, dict[str, Any]] = {}
        for spec, _file in connectors:
            if spec.sandbox is None:
                continue
            self._sandbox_values[spec.name] = {"env": spec.sandbox.env, "config": spec.sandbox.config}
            auth: object = spec.auth
            if isinstance(auth, OAuth2AuthCode | OAuth2ClientCredentials):
                settings = getattr(spec.sandbox, "oauth", None) or SandboxOAuth()
                self.enable(spec.name, auth, settings)

    def enable(
        self,
        connector: str,
        auth: OAuth2AuthCode | OAuth2ClientCredentials,
        settings: SandboxOAuth | None = None,
    ) -> OAuthServer:
        """Serve OAuth for a connector (its `auth:` rendered with its `sandbox.env` and `config`)."""
        if connector not in self._sandbox_values:
            raise ValueError(
                f"no sandbox connector {connector!r} (serving: {', '.join(self._sandbox_values)})"
            )
        values = self._sandbox_values[connector]
        context = {
            "env": values["env"],
            "secrets": values["env"],
            "config": values["config"],
            "connection": {"id": "sandbox"},
        }
        server = OAuthServer(
            connector,
            compile_template(auth.client_id).render(context),
            compile_template(auth.client_secret).render(context),
            auth,
            settings or SandboxOAuth(),
            self.clock,
        )
        self.servers[connector] = server
        return server

    def server(self, connector: str) -> OAuthServer:
        found = self.servers.get(connector)
        if found is None:
            raise ValueError(
                f"connector {connector!r} has no sandbox OAuth server (serving: {', '.join(self.servers)})"
            )
        return found

    def handle(
        self, connector: str, method: str, api_path: str, headers: Mapping[str, str], params: Params
    ) -> Reply | None:
        """The reply when this is an OAuth endpoint, else None."""
        server = self.servers.get(connector)
        if server is None or not server.handles(method, api_path):
            return None
        return server.handle(method, api_path, headers, params)

    def authorised(self, site: Site, headers: Mapping[str, str]) -> bool:
        """A data route's auth check: an issued bearer token where OAuth is on, else require_headers."""
        server = self.servers.get(site.name)
        if server is None:
            return site.authorised(headers)
        others = {k: v for k, v in site.require_headers.items() if k.lower() != "authorization"}
        if not all(headers.get(name.lower()) == value for name, value in others.items()):
            return False
        static = next((v for k, v in site.require_headers.items() if k.lower() == "authorization"), None)
        given = headers.get("authorization")
        return (static is not None and given == static) or server.valid_bearer(given)

    def control(self, method: str, endpoint: str, body: bytes) -> Reply:
        """/_sandbox/oauth/... (endpoint without the /_sandbox prefix)."""
        try:
            data: Any = orjson.loads(body) if body else {}
            if method == "GET" and endpoint.rstrip("/") == "/oauth":
                return json_reply({name: server.status() for name, server in self.servers.items()})
            if method != "POST" or not isinstance(data, dict):
                raise ValueError('POST a JSON object: {"connector": ...}')
            server = self.server(str(data.get("connector", "")))
            match endpoint.rstrip("/"):
                case "/oauth/revoke":
                    server.revoke()
                case "/oauth/expire":
                    server.expire()
                case "/oauth/deny":
                    server.denying = bool(data.get("deny", True))
                case _:
                    return json_reply({"error": f"no control endpoint {method} /_sandbox{endpoint}"}, 404)
        except (ValueError, orjson.JSONDecodeError) as exc:
            return json_reply({"error": str(exc)}, 400)
        return json_reply({"ok": True})

    def reset(self) -> None:
        for server in self.servers.values():
            server.reset()


def masked(params: Params) -> dict[str, str]:
    """Request parameters for the sandbox's request log, secrets masked."""
    return dict(masked_pairs(params))


def masked_pairs(params: Params) -> list[tuple[str, str]]:
    """The same, keeping every pair in order (the log's raw form pairs)."""
    return [(k, MASK if k in _SECRET_PARAMS or "secret" in k else v) for k, v in params]


def _oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> Reply:
    return json_reply({"error": error, "error_description": description}, status, headers)


def _redirect(redirect_uri: str, **params: str) -> Reply:
    separator = "&" if urlsplit(redirect_uri).query else "?"
    location = redirect_uri + separator + urlencode(params)
    return Reply(302, b"", {"Location": location, "Cache-Control": "no-store"}, content_type="text/plain")


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (unquote(user), unquote(password)) if sep else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())

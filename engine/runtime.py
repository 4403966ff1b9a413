"""One connector run's fixed parts, built once: connection, template context, auth, HTTP client.

Requests are rendered here, once per stream slice (run, partition or parent record),
never per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import httpx
import jsonschema

from .auth import Authenticator, build_auth
from .control import ConnectionRecord, ConnectionStore, Vault, open_control
from .errors import ConfigError
from .http import HttpClient, PreparedRequest
from .oauth import ClientCredentialsAuthenticator, OAuth2Authenticator, TokenSet, UrlRewrite
from .oauth.spec import OAuth2AuthCode, OAuth2ClientCredentials
from .pages import RequestPatch
from .redact import Redactor
from .spec.loader import LoadedConnector, missing_env
from .spec.models import RequestSpec, StreamSpec
from .templating import CompiledTemplate, compile_template, render_value


@dataclass(frozen=True)
class Connection:
    """Who the data belongs to: an id and its validated config."""

    id: str = "default"
    config: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # config may hold tokens
        return f"Connection(id={self.id!r}, config_keys={sorted(self.config)})"


def stored_connection(connector: str, connection_id: str) -> ConnectionRecord:
    """The connection `manifold connect` stored; a clear error when there is none or it is broken."""
    store = ConnectionStore(open_control(), Vault())
    record = store.get(connector, connection_id)
    if record is None:
        raise ConfigError(
            f"{connector}: no connection '{connection_id}'; connect it first: "
            f"manifold connect {connector} --connection {connection_id}"
        )
    if not record.connected:
        raise ConfigError(
            f"{connector}: connection '{connection_id}' is disconnected ({record.last_error or 'no reason recorded'}"
            f", at {record.last_error_at}); reconnect: manifold connect {connector} --connection {connection_id}"
        )
    return record


def check_config(loaded: LoadedConnector, config: Mapping[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(loaded.spec.config)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.path))
    if errors:
        lines = "; ".join(f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors[:5])
        raise ConfigError(
            f"{loaded.spec.name}: connection config does not match the spec's config schema: {lines}"
        )


class ConnectorRuntime:
    """Holds what every stream of one connector run shares."""

    def __init__(
        self,
        loaded: LoadedConnector,
        connection: Connection,
        *,
        environ: Mapping[str, str],
        rewrite_base_url: Callable[[str], str] | None = None,
        oauth_rewrite: UrlRewrite | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        spec = loaded.spec
        self.loaded = loaded
        self.spec = spec
        stored = isinstance(spec.auth, OAuth2AuthCode) or bool(spec.connection_secrets)
        record = stored_connection(spec.name, connection.id) if stored else None
        if record is not None:  # what connecting stored (Xero tenant id, DocuSign base URI) is config too
            connection = Connection(connection.id, {**record.config, **connection.config})
        self.connection = connection
        self.stored = record  # the control store's connection, for OAuth connectors
        missing = missing_env(spec, environ)
        if missing:
            raise ConfigError(
                f"{spec.name}: env var(s) {', '.join(missing)} must be set to sync this connector"
            )
        check_config(loaded, connection.config)
        env = {name: environ[name] for name in spec.env if name in environ}
        self.now = datetime.now(UTC)
        self.context: dict[str, Any] = {
            "config": connection.config,
            "env": env,
            # A connection's stored secrets beyond its tokens (Slack's incoming webhook URL).
            "secrets": {
                **env,
                **(TokenSet.from_credentials(record.credentials, None, []).extra if record else {}),
            },
            "connection": {
                "id": connection.id,
                "account_id": record.account_id if record else None,
                "account": record.account if record else {},
            },
            "now": self.now,
        }
        self._templates: dict[str, CompiledTemplate] = {}
        base_url = compile_template(spec.base_url).render(self.context)
        self.base_url = rewrite_base_url(base_url) if rewrite_base_url else base_url
        self._rewrite = rewrite_base_url
        auth = self._authenticator(env, record, oauth_rewrite, transport)
        self.redactor = Redactor([*env.values(), *auth.secrets()])
        self._headers = {
            k: str(render_value(v, self._templates, self.context)) for k, v in spec.http.headers.items()
        }
        kwargs: dict[str, Any] = {"auth": auth, "redactor": self.redactor, "transport": transport}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.client = HttpClient(spec.http, **kwargs)

    def _authenticator(
        self,
        env: dict[str, str],
        record: ConnectionRecord | None,
        oauth_rewrite: UrlRewrite | None,
        transport: httpx.BaseTransport | None,
    ) -> Authenticator:
        auth = self.spec.auth
        if isinstance(auth, OAuth2ClientCredentials):
            return ClientCredentialsAuthenticator(
                auth,
                self.spec.name,
                env=env,
                config=self.connection.config,
                rewrite=oauth_rewrite,
                transport=transport,
            )
        if isinstance(auth, OAuth2AuthCode):
            assert record is not None
            store = ConnectionStore(open_control(), Vault())
            return OAuth2Authenticator(
                store, record, auth, env=env, rewrite=oauth_rewrite, transport=transport
            )
        return build_auth(auth, self.context)

    def close(self) -> None:
        self.client.close()

    @property
    def headers(self) -> dict[str, str]:
        """`http.headers`, rendered: sent with every request, stream or action (Notion-Version)."""
        return dict(self._headers)

    def url(self, path: str) -> str:
        """A path after the base URL, or an absolute URL (which a sandbox run also redirects)."""
        if path.startswith(("http://", "https://")):
            return self._rewrite(path) if self._rewrite else path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(
        self,
        stream: StreamSpec,
        *,
        state: Mapping[str, Any] | None = None,
        parent: Any = None,
        partition: Any = None,
        parents: list[Any] | None = None,
        request: RequestSpec | None = None,
    ) -> PreparedRequest:
        """Render a stream's request (or `request`, e.g. its changes feed) for one slice;
        `parents` is a batch of parent records (`parent.batch`)."""
        context = {
            **self.context,
            "state": dict(state or {}),
            "parent": parent,
            "partition": partition,
            "parents": parents,
        }
        spec = request or stream.request
        if spec is None:
            raise ConfigError(
                f"{self.spec.name}: this stream is not read by syncs (no request, or poll: false)"
            )
        path = render_value(spec.path, self._templates, context)
        url = (
            path
            if path.startswith(("http://", "https://"))
            else self.base_url.rstrip("/") + "/" + path.lstrip("/")
        )
        params = {k: render_value(v, self._templates, context) for k, v in spec.params.items()}
        if spec.omit_empty:
            params = {k: v for k, v in params.items() if v != ""}
        return PreparedRequest(
            method=spec.method,
            url=url,
            params=params,
            headers={
                **self._headers,
                **{k: render_value(v, self._templates, context) for k, v in spec.headers.items()},
            },
            json=render_value(spec.json_body, self._templates, context)
            if spec.json_body is not None
            else None,
        )

    def render(self, value: Any) -> Any:
        """A connector-level template (names: config, env, secrets, connection, now)."""
        return render_value(value, self._templates, self.context)


def apply_patch(base: PreparedRequest, patch: RequestPatch) -> PreparedRequest:
    """The request for one page: a next URL replaces URL and params; params and JSON merge in."""
    json_body = {**(base.json or {}), **patch.json} if (base.json is not None or patch.json) else None
    if patch.url:
        return PreparedRequest(base.method, urljoin(base.url, patch.url), {}, base.headers, json_body)
    params = {**base.params, **patch.params} if patch.params else base.params
    return PreparedRequest(base.method, base.url, params, base.headers, json_body)

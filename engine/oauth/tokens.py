"""The token endpoint: grants out, `TokenSet`s back, the provider's quirks applied from the spec.

    endpoint.authorization_code(code, redirect_uri, verifier)   # connect
    endpoint.refresh(refresh_token)                              # keep fresh
    endpoint.client_credentials()                                # the app's own token (PayPal)

Parameters go as a form (RFC 6749) or, where the provider documents it (Notion), as a JSON
object (`token_body: json`). Client authentication is HTTP Basic (`client_secret_basic`, RFC 6749 2.3.1: id and secret
form-encoded, then base64) or form fields (`client_secret_post`, under the spec's parameter
names: TikTok's `client_key`). Error answers become `TokenRequestError` with the provider's
error code, its description redacted of every secret involved.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
import orjson

from ..paths import get_path
from ..redact import Redactor, redact_url
from .errors import TokenRequestError
from .spec import OAuth2AuthCode, OAuth2ClientCredentials

EXCERPT = 200
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


_TOKEN_KEYS = frozenset({"access_token", "refresh_token", "token_type"})


@dataclass(frozen=True)
class TokenSet:
    """Tokens from one grant. The token values never show in a repr.

    `credentials()` is what the control store keeps (encrypted); `expires_at` goes to the
    connection's `token_expires_at`.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"
    expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    account_id: str | None = None
    account: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict, repr=False)  # `token.credentials`, e.g. a webhook URL

    def __repr__(self) -> str:
        refresh = ", refresh_token=***" if self.refresh_token else ""
        return (
            f"TokenSet(access_token=***{refresh}, expires_at={self.expires_at}, scopes={list(self.scopes)})"
        )

    def credentials(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            **self.extra,
            "access_token": self.access_token,
            "token_type": self.token_type,
        }
        if self.refresh_token:
            stored["refresh_token"] = self.refresh_token
        return stored

    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.refresh_token, *self.extra.values()) if s]

    def keeping(self, previous: TokenSet) -> TokenSet:
        """A refresh's tokens with what the first grant gave and a refresh does not repeat."""
        return replace(self, extra={**previous.extra, **self.extra})

    def expiring(self, now: datetime, buffer_seconds: float) -> bool:
        return self.expires_at is not None and self.expires_at - timedelta(seconds=buffer_seconds) <= now

    @classmethod
    def from_credentials(
        cls, credentials: Mapping[str, Any], expires_at: str | None, scopes: list[str]
    ) -> TokenSet:
        return cls(
            access_token=str(credentials.get("access_token") or ""),
            refresh_token=credentials.get("refresh_token") or None,
            token_type=str(credentials.get("token_type") or "Bearer"),
            expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
            scopes=tuple(scopes),
            extra={k: str(v) for k, v in credentials.items() if k not in _TOKEN_KEYS and v is not None},
        )


def expires_at_from(value: Any, now: datetime) -> datetime | None:
    """`expires_in` (seconds, a number or a numeric string) as an absolute UTC time."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return now + timedelta(seconds=seconds)


def parse_scopes(value: Any, separator: str) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(s) for s in value)
    if not isinstance(value, str) or not value.strip():
        return ()
    text = value.replace(separator, " ") if separator.strip() else value
    return tuple(s for s in text.replace(",", " ").split() if s)


class TokenEndpoint:
    """One client's token endpoint. `http` is shared with the caller (and closed by it)."""

    def __init__(
        self,
        connector: str,
        spec: OAuth2AuthCode | OAuth2ClientCredentials,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.Client,
        extra_params: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.connector = connector
        self.spec = spec
        self.url = url
        self.client_id = client_id
        self._secret = client_secret
        self.http = http
        self.extra_params = dict(extra_params or {})
        self.clock = clock
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.connector!r}, {redact_url(self.url)!r}, client_secret=***)"

    # ------------------------------------------------------------ grants

    def authorization_code(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self.request(form, secrets=[code, code_verifier or ""], default_scopes=tuple(self.spec.scopes))

    def refresh(self, refresh_token: str, scopes: tuple[str, ...] = ()) -> TokenSet:
        """A refresh. When the provider sends no new refresh token (Google) the old one is kept,
        and when it names no scopes the grant's `scopes` are."""
        tokens = self.request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            secrets=[refresh_token],
            default_scopes=scopes or tuple(self.spec.scopes),
        )
        if (
            not tokens.refresh_token
            and isinstance(self.spec, OAuth2AuthCode)
            and self.spec.refresh_token_rotates
        ):
            raise TokenRequestError(
                f"{self.connector}: the refresh answer has no new refresh token, but this provider rotates "
                "them (auth.refresh_token_rotates); check auth.token.refresh_token",
                error="missing_refresh_token",
            )
        return replace(tokens, refresh_token=tokens.refresh_token or refresh_token)

    def client_credentials(self) -> TokenSet:
        form = {"grant_type": "client_credentials"}
        if self.spec.scopes:
            form["scope"] = self.spec.scope_separator.join(self.spec.scopes)
        return self.request(form, default_scopes=tuple(self.spec.scopes))

    # ------------------------------------------------------------ the request

    def request(
        self, form: dict[str, str], *, secrets: list[str] | None = None, default_scopes: tuple[str, ...] = ()
    ) -> TokenSet:
        """POST a grant; up to 3 attempts when the request never arrived or the answer is 429/5xx.
        The answer's scopes, or `default_scopes` when it names none."""
        redact = Redactor([self._secret, *(secrets or [])])
        headers = {"Accept": "application/json"}
        body = {**self.extra_params, **form}
        if self.spec.token_auth_method == "client_secret_basic":
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            body[self.spec.param_names.client_id] = self.client_id
            body[self.spec.param_names.client_secret] = self._secret
        grant = form["grant_type"]
        for attempt in range(1, 4):
            try:
                if self.spec.token_body == "json":
                    response = self.http.post(self.url, json=body, headers=headers)
                else:
                    response = self.http.post(self.url, data=body, headers=headers)
            except httpx.ConnectError:
                if attempt == 3:
                    raise self._unreachable(grant, "connection failed") from None
                self.sleep(0.5 * attempt)
                continue
            except httpx.HTTPError as exc:  # a timeout: the grant may have been used, do not repeat it
                raise self._unreachable(grant, type(exc).__name__) from None
            if response.status_code in _RETRY_STATUSES and attempt < 3:
                self.sleep(0.5 * attempt)
                continue
            break
        body = _body(response)
        # TikTok answers some refusals with 200 and an `error` in the body.
        refused = (
            isinstance(body, dict) and body.get("error") and not get_path(body, self.spec.token.access_token)
        )
        if response.status_code >= 300 or refused:
            raise self._refused(grant, response, body, redact)
        return self._parse(response, body, default_scopes)

    def _unreachable(self, grant: str, what: str) -> TokenRequestError:
        return TokenRequestError(
            f"{self.connector}: the token endpoint {redact_url(self.url)} could not be reached for the "
            f"{grant} grant ({what}); try again later",
            error="unreachable",
            transient=True,
        )

    def _refused(
        self, grant: str, response: httpx.Response, body: Any, redact: Redactor
    ) -> TokenRequestError:
        status = response.status_code
        error: Any = get_path(body, "error") if isinstance(body, dict) else None
        description: Any = get_path(body, "error_description") if isinstance(body, dict) else None
        if isinstance(error, dict):  # Graph API: {"error": {"message", "type", "code"}}
            description = error.get("message")
            error = error.get("type") or error.get("code")
        code = str(error) if error else f"http_{status}"
        detail = redact(str(description or response.text))[:EXCERPT].replace("\n", " ").strip()
        return TokenRequestError(
            f"{self.connector}: the token endpoint {redact_url(self.url)} refused the {grant} grant "
            f"({status} {code}): {detail}",
            status=status,
            error=code,
            transient=status >= 500 or status == 429,
        )

    def _parse(self, response: httpx.Response, body: Any, default_scopes: tuple[str, ...]) -> TokenSet:
        paths = self.spec.token
        access = get_path(body, paths.access_token) if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            # Only the keys: the body may hold the token under a path we do not know.
            keys = sorted(body)[:12] if isinstance(body, dict) else type(body).__name__
            raise TokenRequestError(
                f"{self.connector}: the token response has no access token at '{paths.access_token}' "
                f"(check auth.token.access_token); its keys: {keys}",
                status=response.status_code,
                error="invalid_response",
            )
        assert isinstance(body, dict)
        refresh = get_path(body, paths.refresh_token)
        scopes = parse_scopes(get_path(body, paths.scope), self.spec.scope_separator)
        account_id = get_path(body, paths.account_id) if paths.account_id else None
        return TokenSet(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            token_type=str(get_path(body, paths.token_type) or "Bearer"),
            expires_at=expires_at_from(get_path(body, paths.expires_in), self.clock()),
            scopes=scopes or default_scopes,
            account_id=None if account_id is None else str(account_id),
            account={k: get_path(body, p) for k, p in paths.account.items()},
            extra={k: str(v) for k, p in paths.credentials.items() if (v := get_path(body, p)) is not None},
        )


def _body(response: httpx.Response) -> Any:
    """JSON, or a form-encoded body (some older token endpoints), or None."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        if "=" in response.text and "<" not in response.text:
            return dict(parse_qsl(response.text))
        return None

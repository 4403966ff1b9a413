"""Planted tokens, codes and secrets never appear in logs, printed output, reprs, exceptions,
recorded errors or plaintext at rest, even when a provider echoes them back in an error."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from engine.control import ConnectionRecord
from engine.http import HttpClient, PreparedRequest
from engine.oauth import (
    ConnectionDisconnected,
    OAuth2Authenticator,
    OAuthClient,
    OAuthError,
    TokenSet,
    authorize_url,
    complete,
)

from .test_oauth_support import Control, code_spec, sqlite_control

ACCESS = "ya29.a0AfB_PLANTED-ACCESS-7f3c9e"
REFRESH = "1//0gPLANTED-REFRESH-0a9b"
LONG_LIVED = "EAAGPLANTED-LONG-LIVED-55d1"
CODE = "4/0AeaPLANTED-CODE-9911"
CLIENT_SECRET = "GOCSPX-PLANTED-CLIENT-SECRET"
ENV = {"GOOGLE_CLIENT_ID": "client.apps", "GOOGLE_CLIENT_SECRET": CLIENT_SECRET}
META_ENV = {"META_APP_ID": "1234", "META_APP_SECRET": CLIENT_SECRET}
CALLBACK = "https://app.example.com/oauth/callback"


@pytest.fixture
def control(tmp_path: Path) -> Iterator[Control]:
    yield from sqlite_control(tmp_path)


def provider(*, lookup_fails: bool = False, refresh_refused: bool = False) -> httpx.MockTransport:
    """A provider that echoes secrets back in its errors, as careless ones do."""

    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if url.endswith("/token") or "oauth/access_token" in url and request.method == "POST":
            if form.get("grant_type") == "authorization_code":
                return httpx.Response(
                    200, json={"access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3599}
                )
            if refresh_refused:
                return httpx.Response(
                    400,
                    json={
                        "error": "invalid_grant",
                        "error_description": f"Token {REFRESH} is revoked ({CLIENT_SECRET})",
                    },
                )
            return httpx.Response(200, json={"access_token": ACCESS + "-2", "expires_in": 3599})
        if "fb_exchange_token" in url:
            return httpx.Response(200, json={"access_token": LONG_LIVED, "expires_in": 5183944})
        if lookup_fails:
            return httpx.Response(
                500, text=f"backend error while checking {request.headers['Authorization']}"
            )
        if request.headers.get("Authorization") in (f"Bearer {ACCESS}", f"Bearer {LONG_LIVED}"):
            return httpx.Response(200, json={"id": "maya@example.com", "name": "Maya", "timeZone": "UTC"})
        return httpx.Response(
            401, json={"error": {"message": f"bad token {request.headers.get('Authorization')}"}}
        )

    return httpx.MockTransport(answer)


def connect(
    control: Control, name: str, transport: httpx.MockTransport, env: dict[str, str]
) -> ConnectionRecord:
    spec = code_spec(name)
    url = authorize_url(spec, name, "maya", CALLBACK, states=control.states, env=env)
    state = parse_qs(url.split("?", 1)[1])["state"][0]
    return complete(
        spec, name, CODE, state, states=control.states, store=control.store, env=env, transport=transport
    )


def assert_clean(*texts: str) -> None:
    for text in texts:
        # every plant contains PLANTED: this also catches a secret cut in half by an excerpt
        assert "PLANTED" not in text, f"a planted secret leaked into: {text[:300]!r}"


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_a_failed_post_connect_step_does_not_leak_the_token(
    control: Control, everything_logged: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(OAuthError) as caught:
        connect(control, "google_calendar", provider(lookup_fails=True), ENV)
    record = control.store.get("google_calendar", "maya")
    assert record is not None
    out = capsys.readouterr()
    assert "500" in str(caught.value)
    assert_clean(
        str(caught.value),
        repr(caught.value),
        record.last_error or "",
        everything_logged.text,
        out.out,
        out.err,
    )
    assert_clean(control.raw_rows())


def test_a_refused_refresh_does_not_leak_what_the_provider_echoed(
    control: Control, everything_logged: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    record = connect(control, "google_calendar", provider(refresh_refused=True), ENV)
    assert record.credentials["access_token"] == ACCESS  # the plant took
    auth = OAuth2Authenticator(
        control.store, record, code_spec("google_calendar"), env=ENV, transport=provider(refresh_refused=True)
    )
    texts: list[str] = [
        repr(record),
        repr(auth),
        str(record),
        repr(control.store.get("google_calendar", "maya")),
    ]
    with pytest.raises(ConnectionDisconnected) as caught:
        auth.refresh()
    texts += [str(caught.value), repr(caught.value), caught.value.excerpt, caught.value.url]
    with pytest.raises(ConnectionDisconnected) as again:
        auth.headers()
    texts.append(str(again.value))
    stored = control.store.get("google_calendar", "maya")
    assert stored is not None and not stored.connected
    out = capsys.readouterr()
    assert "invalid_grant" in str(caught.value)
    assert_clean(
        *texts, stored.last_error or "", everything_logged.text, out.out, out.err, control.raw_rows()
    )


def test_a_401_through_the_engine_http_client_does_not_leak(
    control: Control, everything_logged: pytest.LogCaptureFixture
) -> None:
    record = connect(
        control, "notion", provider(), {"NOTION_CLIENT_ID": "n", "NOTION_CLIENT_SECRET": CLIENT_SECRET}
    )
    auth = OAuth2Authenticator(control.store, record, code_spec("notion"), env={})
    http = HttpClient(_policy(), auth=auth, transport=_always_401())
    with pytest.raises(ConnectionDisconnected) as caught:
        http.send(PreparedRequest("GET", "https://api.notion.com/v1/users/me"))
    assert_clean(str(caught.value), everything_logged.text, control.raw_rows())


def test_the_meta_exchange_url_is_redacted_in_httpx_logs(
    control: Control, everything_logged: pytest.LogCaptureFixture
) -> None:
    record = connect(control, "meta", provider(), META_ENV)
    assert record.credentials["access_token"] == LONG_LIVED
    exchange_lines = [
        r.getMessage() for r in everything_logged.records if "fb_exchange_token" in r.getMessage()
    ]
    assert exchange_lines and all("fb_exchange_token=***" in line for line in exchange_lines)
    assert_clean(everything_logged.text, control.raw_rows())


def test_a_token_response_in_an_unexpected_shape_is_described_by_its_keys_only(control: Control) -> None:
    nested = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": {"access_token": ACCESS}}))
    with pytest.raises(OAuthError, match=r"no access token at 'access_token'.*\['data'\]") as caught:
        connect(control, "google_calendar", nested, ENV)
    record = control.store.get("google_calendar", "maya")
    assert record is not None
    assert_clean(str(caught.value), record.last_error or "")


def test_reprs_hide_every_credential(control: Control) -> None:
    tokens = TokenSet(ACCESS, REFRESH)
    with OAuthClient(code_spec("google_calendar"), "google_calendar", env=ENV) as client:
        texts = [
            repr(tokens),
            str(tokens),
            repr(client),
            repr(client.token_endpoint),
            repr(control.states),
            repr(control.vault),
        ]
    pending_state = control.states.issue("g", "maya", CALLBACK, code_verifier=CODE)
    texts.append(repr(control.states.consume(pending_state, connector="g")))
    assert_clean(*texts)


def _policy() -> Any:
    from engine.spec.models import HttpPolicy, RetryPolicy

    return HttpPolicy(retry=RetryPolicy(max_attempts=1))


def _always_401() -> httpx.MockTransport:
    answer: Callable[[httpx.Request], httpx.Response] = lambda request: httpx.Response(  # noqa: E731
        401, json={"message": f"API token is invalid: {request.headers.get('Authorization')}"}
    )
    return httpx.MockTransport(answer)

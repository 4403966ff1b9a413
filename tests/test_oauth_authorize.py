"""The authorize URL for each provider style: the parameters each provider documents."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.errors import TemplateError
from engine.oauth import authorize_url, sandbox_rewrite

from .test_oauth_support import ENV, Control, code_spec, sqlite_control

CALLBACK = "https://app.example.com/oauth/callback"


@pytest.fixture
def control(tmp_path: Path) -> Iterator[Control]:
    yield from sqlite_control(tmp_path)


def url_for(control: Control, name: str, **changes: object) -> tuple[str, dict[str, str]]:
    url = authorize_url(
        code_spec(name, **changes), name, "maya", CALLBACK, states=control.states, env=ENV[name]
    )
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
    return f"{split.scheme}://{split.netloc}{split.path}", query


def test_google_asks_for_offline_access_and_consent_with_pkce(control: Control) -> None:
    base, query = url_for(control, "google_calendar")
    assert base == "https://accounts.google.com/o/oauth2/v2/auth"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["response_type"] == "code"
    assert query["client_id"] == "sbx-google.apps"
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"] == "https://www.googleapis.com/auth/calendar.readonly"
    assert query["code_challenge_method"] == "S256"
    assert "client_secret" not in query and "GOCSPX" not in str(query)


def test_tiktok_uses_client_key_and_comma_separated_scopes(control: Control) -> None:
    base, query = url_for(control, "tiktok")
    assert base == "https://www.tiktok.com/v2/auth/authorize/"
    assert query["client_key"] == "awtiktokclientkey"
    assert "client_id" not in query
    assert query["scope"] == "user.info.basic,video.list"
    assert "code_challenge" not in query


def test_notion_asks_for_a_user_owned_token(control: Control) -> None:
    _, query = url_for(control, "notion")
    assert query["owner"] == "user" and "scope" not in query


def test_the_pkce_challenge_is_s256_of_the_stored_verifier(control: Control) -> None:
    _, query = url_for(control, "xero")
    pending = control.states.consume(query["state"], connector="xero")
    assert pending.code_verifier is not None and 43 <= len(pending.code_verifier) <= 128
    digest = hashlib.sha256(pending.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["code_challenge_method"] == "S256"


def test_every_url_has_a_fresh_state_bound_to_the_connection(control: Control) -> None:
    first, second = url_for(control, "xero")[1]["state"], url_for(control, "xero")[1]["state"]
    assert first != second
    assert control.states.consume(second, connector="xero", redirect_uri=CALLBACK).connection_id == "maya"


def test_standard_parameters_cannot_be_overridden_by_extras(control: Control) -> None:
    _, query = url_for(
        control, "xero", extra_authorize_params={"redirect_uri": "https://evil.example", "state": "x"}
    )
    assert query["redirect_uri"] == CALLBACK and query["state"] != "x"


def test_urls_are_templates(control: Control) -> None:
    spec = code_spec("docusign", authorize_url="https://{{ config.oauth_host }}/oauth/auth")
    url = authorize_url(
        spec,
        "docusign",
        "maya",
        CALLBACK,
        states=control.states,
        env=ENV["docusign"],
        config={"oauth_host": "account.docusign.com"},
    )
    assert url.startswith("https://account.docusign.com/oauth/auth?")


def test_a_missing_client_env_var_is_a_clear_error(control: Control) -> None:
    with pytest.raises(TemplateError, match="GOOGLE_CLIENT_ID"):
        authorize_url(
            code_spec("google_calendar"), "google_calendar", "maya", CALLBACK, states=control.states, env={}
        )


def test_the_sandbox_rewrite_points_the_endpoints_at_the_sandbox(control: Control) -> None:
    rewrite = sandbox_rewrite("http://127.0.0.1:9999", "xero")
    url = authorize_url(
        code_spec("xero"), "xero", "maya", CALLBACK, states=control.states, env=ENV["xero"], rewrite=rewrite
    )
    assert url.startswith("http://127.0.0.1:9999/xero/oauth/authorize?")
    assert (
        rewrite("https://identity.xero.com/connect/token", "token")
        == "http://127.0.0.1:9999/xero/oauth/token"
    )
    assert (
        rewrite("https://api.xero.com/connections?x=1", "api") == "http://127.0.0.1:9999/xero/connections?x=1"
    )

"""The sandbox's OAuth authorization server, driven over raw HTTP as a provider would be."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from engine.oauth import SandboxOAuth
from engine.sandbox import Sandbox

from .test_oauth_support import ENV, code_spec, oauth_sandbox, write_connector

CALLBACK = "http://127.0.0.1:1/callback"
XERO_ID, XERO_SECRET = ENV["xero"]["XERO_CLIENT_ID"], ENV["xero"]["XERO_CLIENT_SECRET"]
VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with oauth_sandbox(tmp_path_factory.mktemp("oauth")) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    sandbox.reset()


def authorize(sandbox: Sandbox, name: str, **params: str) -> httpx.Response:
    return httpx.get(f"{sandbox.url}/{name}/oauth/authorize?{urlencode(params)}", follow_redirects=False)


def redirected(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def xero_code(sandbox: Sandbox) -> str:
    params = {"response_type": "code", "client_id": XERO_ID, "redirect_uri": CALLBACK, "state": "s1"}
    return redirected(
        authorize(sandbox, "xero", **params, code_challenge=CHALLENGE, code_challenge_method="S256")
    )["code"]


def token(
    sandbox: Sandbox, name: str, form: dict[str, str], *, basic: tuple[str, str] | None = None
) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/{name}/oauth/token", data=form, auth=basic)


def xero_tokens(sandbox: Sandbox) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": xero_code(sandbox),
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
    }
    answer = token(sandbox, "xero", form, basic=(XERO_ID, XERO_SECRET))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_authorize_approves_at_once_and_echoes_the_state(sandbox: Sandbox) -> None:
    query = redirected(
        authorize(
            sandbox,
            "xero",
            response_type="code",
            client_id=XERO_ID,
            redirect_uri=CALLBACK,
            state="abc",
            code_challenge=CHALLENGE,
            code_challenge_method="S256",
        )
    )
    assert query["state"] == "abc" and query["code"].startswith("sbx-code-")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"client_id": "someone-else", "redirect_uri": CALLBACK}, "invalid_client"),
        ({"client_id": XERO_ID, "redirect_uri": "javascript:alert(1)"}, "invalid_request"),
    ],
)
def test_authorize_does_not_redirect_for_an_unknown_client_or_a_bad_redirect(
    sandbox: Sandbox, params: dict[str, str], status: str
) -> None:
    answer = authorize(sandbox, "xero", response_type="code", **params)
    assert answer.status_code == 400 and answer.json()["error"] == status
    assert "Location" not in answer.headers


def test_authorize_redirects_errors_it_may_redirect(sandbox: Sandbox) -> None:
    base = {"client_id": XERO_ID, "redirect_uri": CALLBACK, "state": "s"}
    assert (
        redirected(authorize(sandbox, "xero", **base, response_type="token"))["error"]
        == "unsupported_response_type"
    )
    no_pkce = redirected(authorize(sandbox, "xero", **base, response_type="code"))
    assert no_pkce["error"] == "invalid_request" and no_pkce["state"] == "s"
    plain = redirected(
        authorize(
            sandbox, "xero", **base, response_type="code", code_challenge="x", code_challenge_method="plain"
        )
    )
    assert plain["error"] == "invalid_request"


def test_the_deny_switch_answers_access_denied(sandbox: Sandbox) -> None:
    assert httpx.post(f"{sandbox.url}/_sandbox/oauth/deny", json={"connector": "tiktok"}).json() == {
        "ok": True
    }
    params = {
        "response_type": "code",
        "client_key": ENV["tiktok"]["TIKTOK_CLIENT_KEY"],
        "redirect_uri": CALLBACK,
        "state": "s",
    }
    assert redirected(authorize(sandbox, "tiktok", **params)) == {
        "error": "access_denied",
        "error_description": "The user denied access",
        "state": "s",
    }
    httpx.post(f"{sandbox.url}/_sandbox/oauth/deny", json={"connector": "tiktok", "deny": False})
    assert "code" in redirected(authorize(sandbox, "tiktok", **params))


def test_the_code_exchange_issues_short_lived_tokens_and_a_refresh_token(sandbox: Sandbox) -> None:
    body = xero_tokens(sandbox)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"].startswith("sbx-at-") and body["refresh_token"].startswith("sbx-rt-")
    ok = httpx.get(
        f"{sandbox.url}/xero/connections", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200 and ok.json()[0]["tenantName"] == "Demo Company (UK)"


def test_a_code_is_single_use_and_bound_to_its_redirect_uri_and_verifier(sandbox: Sandbox) -> None:
    basic = (XERO_ID, XERO_SECRET)
    code = xero_code(sandbox)
    wrong_uri = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK + "x",
        "code_verifier": VERIFIER,
    }
    assert (
        token(sandbox, "xero", wrong_uri, basic=basic).json()["error"] == "invalid_grant"
    )  # and the code is spent
    code = xero_code(sandbox)
    wrong_verifier = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": "w" * 64,
    }
    assert token(sandbox, "xero", wrong_verifier, basic=basic).json()["error"] == "invalid_grant"
    code = xero_code(sandbox)
    good = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
    }
    assert token(sandbox, "xero", good, basic=basic).status_code == 200
    assert token(sandbox, "xero", good, basic=basic).json()["error"] == "invalid_grant"


def test_client_authentication_follows_the_spec(sandbox: Sandbox) -> None:
    form = {"grant_type": "client_credentials"}
    as_form = token(sandbox, "xero", {**form, "client_id": XERO_ID, "client_secret": XERO_SECRET})
    assert as_form.status_code == 401 and as_form.json()["error"] == "invalid_client"  # Xero: Basic
    assert token(sandbox, "xero", form, basic=(XERO_ID, "wrong")).status_code == 401
    tiktok = ENV["tiktok"]
    by_key = {
        **form,
        "client_key": tiktok["TIKTOK_CLIENT_KEY"],
        "client_secret": tiktok["TIKTOK_CLIENT_SECRET"],
    }
    assert token(sandbox, "tiktok", by_key).status_code == 200
    by_id = {
        **form,
        "client_id": tiktok["TIKTOK_CLIENT_KEY"],
        "client_secret": tiktok["TIKTOK_CLIENT_SECRET"],
    }
    assert token(sandbox, "tiktok", by_id).status_code == 401


def test_refresh_tokens_rotate_where_the_provider_rotates_them(sandbox: Sandbox) -> None:
    basic = (XERO_ID, XERO_SECRET)
    first = xero_tokens(sandbox)
    second = token(
        sandbox, "xero", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, basic=basic
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    spent = token(
        sandbox, "xero", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, basic=basic
    )
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
    third = token(
        sandbox,
        "xero",
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        basic=basic,
    )
    assert third.status_code == 200


def test_revoking_the_grant_refuses_refreshes_and_tokens(sandbox: Sandbox) -> None:
    body = xero_tokens(sandbox)
    assert httpx.post(f"{sandbox.url}/_sandbox/oauth/revoke", json={"connector": "xero"}).json() == {
        "ok": True
    }
    refused = token(
        sandbox,
        "xero",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        basic=(XERO_ID, XERO_SECRET),
    )
    assert refused.status_code == 400 and refused.json() == {
        "error": "invalid_grant",
        "error_description": "the refresh token is invalid, revoked or spent",
    }
    data = httpx.get(
        f"{sandbox.url}/xero/connections", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert data.status_code == 401


def test_expiring_tokens_keeps_the_refresh_token_working(sandbox: Sandbox) -> None:
    body = xero_tokens(sandbox)
    httpx.post(f"{sandbox.url}/_sandbox/oauth/expire", json={"connector": "xero"})
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{sandbox.url}/xero/connections", headers=headers).status_code == 401
    again = token(
        sandbox,
        "xero",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        basic=(XERO_ID, XERO_SECRET),
    )
    assert again.status_code == 200


def test_the_token_endpoint_refuses_what_it_does_not_know(sandbox: Sandbox) -> None:
    basic = (XERO_ID, XERO_SECRET)
    assert (
        token(sandbox, "xero", {"grant_type": "password"}, basic=basic).json()["error"]
        == "unsupported_grant_type"
    )
    assert httpx.get(f"{sandbox.url}/xero/oauth/token").status_code == 405


def test_control_api_status_and_mistakes(sandbox: Sandbox) -> None:
    xero_tokens(sandbox)
    status = httpx.get(f"{sandbox.url}/_sandbox/oauth").json()
    assert status["xero"]["grants"] == 1 and status["xero"]["live_tokens"] == 1
    assert status["xero"]["requests"] == {"authorize": 1, "authorization_code": 1}
    assert httpx.post(f"{sandbox.url}/_sandbox/oauth/revoke", json={"connector": "nope"}).status_code == 400
    assert httpx.post(f"{sandbox.url}/_sandbox/oauth/revoke", content=b"{").status_code == 400
    assert httpx.post(f"{sandbox.url}/_sandbox/oauth/nothing", json={"connector": "xero"}).status_code == 404


def test_the_request_log_masks_secrets(sandbox: Sandbox) -> None:
    xero_tokens(sandbox)
    exchange = [r for r in sandbox.requests("xero") if r["path"] == "/oauth/token"][0]
    assert exchange["query"] == {
        "grant_type": "authorization_code",
        "code": "***",
        "redirect_uri": CALLBACK,
        "code_verifier": "***",
    }


def test_data_routes_keep_their_other_required_headers_and_static_token(tmp_path: Path) -> None:
    tenant = {"xero-tenant-id": "70784a63-d24b-46a9-a4db-0e70a274b056"}
    connector = write_connector(
        tmp_path, "xero", require_headers={"Authorization": "Bearer static-token", **tenant}
    )
    with Sandbox([connector]) as sandbox:
        sandbox.enable_oauth("xero", code_spec("xero"))
        url = f"{sandbox.url}/xero/api.xro/2.0/Organisation"
        assert httpx.get(url, headers={"Authorization": "Bearer static-token", **tenant}).status_code == 200
        assert httpx.get(url, headers={"Authorization": "Bearer static-token"}).status_code == 401
        issued = token(
            sandbox, "xero", {"grant_type": "client_credentials"}, basic=(XERO_ID, XERO_SECRET)
        ).json()
        assert (
            httpx.get(
                url, headers={"Authorization": f"Bearer {issued['access_token']}", **tenant}
            ).status_code
            == 200
        )
        assert httpx.get(url, headers={"Authorization": "Bearer sbx-at-forged", **tenant}).status_code == 401


def test_a_connector_with_an_oauth_auth_kind_gets_its_server_automatically(tmp_path: Path) -> None:
    """Once `auth:` accepts the OAuth kinds and `sandbox:` accepts `oauth:`, no enable call is needed."""
    spec, file = write_connector(tmp_path, "tiktok")
    settings = SandboxOAuth(access_token_ttl=2, token_extra={"open_id": "u1"})
    sandbox_section = spec.sandbox.model_copy(update={"oauth": settings}) if spec.sandbox else None
    spec = spec.model_copy(update={"auth": code_spec("tiktok"), "sandbox": sandbox_section})
    with Sandbox([(spec, file)]) as sandbox:
        tiktok = ENV["tiktok"]
        form = {
            "grant_type": "client_credentials",
            "client_key": tiktok["TIKTOK_CLIENT_KEY"],
            "client_secret": tiktok["TIKTOK_CLIENT_SECRET"],
        }
        body = token(sandbox, "tiktok", form).json()
        assert body["expires_in"] == 2 and body["open_id"] == "u1"
        assert (
            httpx.get(f"{sandbox.url}/tiktok/v2/user/info/").status_code == 401
        )  # OAuth guards the data routes


def test_enabling_oauth_for_an_unknown_connector_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="no sandbox connector 'nope'"):
        sandbox.enable_oauth("nope", code_spec("xero"))
    with pytest.raises(ValueError, match="no sandbox OAuth server"):
        Sandbox([]).app.oauth.server("xero")

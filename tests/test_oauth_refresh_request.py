"""`auth.refresh`: refreshing by a request with the current token (Instagram's ig_refresh_token)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from engine.oauth.client import OAuthClient
from engine.oauth.errors import TokenRequestError
from engine.oauth.refresh_request import refresh_by_request
from engine.oauth.spec import OAuth2AuthCode
from engine.oauth.tokens import TokenSet

NOW = datetime(2025, 6, 1, tzinfo=UTC)
SPEC = OAuth2AuthCode.model_validate(
    {
        "type": "oauth2",
        "authorize_url": "https://www.instagram.com/oauth/authorize",
        "token_url": "https://api.instagram.com/oauth/access_token",
        "client_id": "{{ env.ID }}",
        "client_secret": "{{ env.SECRET }}",
        "refresh": {
            "request": {
                "url": "https://graph.instagram.com/refresh_access_token",
                "params": {"grant_type": "ig_refresh_token", "access_token": "{{ token.access_token }}"},
                "bearer": False,
            }
        },
    }
)
OLD = TokenSet(access_token="IGAAold-long-lived", expires_at=NOW + timedelta(days=3), extra={"kept": "x"})


def refresh(handler: httpx.MockTransport) -> TokenSet:
    assert SPEC.refresh is not None
    with OAuthClient(
        SPEC, "instagram", env={"ID": "1", "SECRET": "s3cret"}, transport=handler, clock=lambda: NOW
    ) as client:
        return refresh_by_request(client, SPEC.refresh, OLD)


def test_the_answer_replaces_the_access_token_and_its_expiry() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"access_token": "IGAAnew", "token_type": "bearer", "expires_in": 5183944}
        )

    fresh = refresh(httpx.MockTransport(answer))
    assert fresh.access_token == "IGAAnew" and fresh.extra == {"kept": "x"}
    assert fresh.expires_at == NOW + timedelta(seconds=5183944)
    (request,) = seen
    assert request.method == "GET" and request.url.path == "/refresh_access_token"
    assert dict(request.url.params) == {
        "grant_type": "ig_refresh_token",
        "access_token": "IGAAold-long-lived",
    }
    assert "authorization" not in request.headers


def test_a_refusal_is_permanent_an_outage_transient_and_tokens_never_show() -> None:
    graph = {
        "error": {
            "message": "Error validating access token: IGAAold-long-lived",
            "type": "OAuthException",
            "code": 190,
        }
    }
    with pytest.raises(TokenRequestError) as refused:
        refresh(httpx.MockTransport(lambda r: httpx.Response(400, json=graph)))
    assert refused.value.error == "190" and not refused.value.transient
    assert "IGAAold-long-lived" not in str(refused.value)
    with pytest.raises(TokenRequestError) as outage:
        refresh(httpx.MockTransport(lambda r: httpx.Response(503, text="unavailable")))
    assert outage.value.transient
    with pytest.raises(TokenRequestError, match="without a token"):
        refresh(httpx.MockTransport(lambda r: httpx.Response(200, json={"token_type": "bearer"})))

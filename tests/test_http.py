"""Retries, Retry-After, error classes and redaction, over httpx.MockTransport."""

from __future__ import annotations

import httpx
import pytest

from engine.auth import StaticAuth
from engine.errors import AuthError, ClientError, RateLimitError, ResponseError, ServerError
from engine.http import HttpClient, PreparedRequest
from engine.spec.models import HttpPolicy

SECRET = "sk_live_51NvSECRETvalue"


def client(handler, *, attempts: int = 4, sleeps: list[float] | None = None) -> HttpClient:
    policy = HttpPolicy.model_validate(
        {"retry": {"max_attempts": attempts, "backoff": 0.01, "max_backoff": 0.05}}
    )
    auth = StaticAuth(header_values={"Authorization": f"Bearer {SECRET}"}, secret_values=[SECRET])
    record = sleeps if sleeps is not None else []
    return HttpClient(policy, auth=auth, transport=httpx.MockTransport(handler), sleep=record.append)


REQUEST = PreparedRequest("GET", "https://api.example.com/v1/items", {"limit": 2})


def test_429_honours_retry_after_then_succeeds() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"})
        return httpx.Response(200, json={"data": []})

    sleeps: list[float] = []
    http = client(handler, sleeps=sleeps)
    assert http.send(REQUEST).status_code == 200
    assert sleeps == [7.0, 7.0]
    assert http.stats.requests == 3 and http.stats.retries == 2
    assert calls[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert calls[0].url.params["limit"] == "2"


def test_5xx_storm_is_retried_within_bounds_then_fails() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, text="upstream down")

    sleeps: list[float] = []
    with pytest.raises(ServerError) as info:
        client(handler, attempts=4, sleeps=sleeps).send(REQUEST)
    assert len(calls) == 4 and len(sleeps) == 3
    assert all(0 <= s <= 0.05 for s in sleeps)
    assert "answered 503 after 4 attempts" in str(info.value)


def test_rate_limit_that_outlasts_retries_is_a_rate_limit_error() -> None:
    with pytest.raises(RateLimitError):
        client(lambda r: httpx.Response(429, headers={"Retry-After": "0"}), attempts=2).send(REQUEST)


def test_timeouts_and_connection_errors_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if len(calls) == 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={})

    assert client(handler).send(REQUEST).status_code == 200


def test_connection_failure_for_good_is_a_server_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServerError, match=r"connection failed after 2 attempt\(s\)"):
        client(handler, attempts=2).send(REQUEST)


def test_401_is_an_auth_error_with_the_secret_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"Invalid API Key provided: {SECRET}"}})

    with pytest.raises(AuthError) as info:
        client(handler).send(REQUEST)
    assert SECRET not in str(info.value)
    assert "***" in str(info.value) and "credentials were refused" in str(info.value)


def test_other_4xx_is_a_client_error_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"error": {"message": "No such customer"}})

    with pytest.raises(ClientError, match="No such customer"):
        client(handler).send(REQUEST)
    assert len(calls) == 1


def test_secret_query_params_are_redacted_in_errors() -> None:
    request = PreparedRequest("GET", "https://graph.example.com/me?access_token=EAAG123secret&fields=id")
    with pytest.raises(ClientError) as info:
        client(lambda r: httpx.Response(400, json={})).send(request)
    assert "EAAG123secret" not in str(info.value) and "access_token=***" in str(info.value)


def test_html_error_page_is_named_as_such() -> None:
    http = client(lambda r: httpx.Response(200, html="<html><body>Bad gateway</body></html>"))
    with pytest.raises(ResponseError, match=r"not JSON but text/html"):
        http.json(http.send(REQUEST))


def test_truncated_json_is_named_as_such() -> None:
    http = client(
        lambda r: httpx.Response(
            200, content=b'{"data": [{"id": 1}, {"id"', headers={"Content-Type": "application/json"}
        )
    )
    with pytest.raises(ResponseError, match=r"truncated or malformed JSON"):
        http.json(http.send(REQUEST))


def test_auth_refresh_retries_once_on_401() -> None:
    class Refreshing(StaticAuth):
        def refresh(self) -> bool:
            self.header_values = {"Authorization": "Bearer fresh"}
            return True

    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] == "Bearer fresh"
        return httpx.Response(200 if ok else 401, json={})

    policy = HttpPolicy()
    http = HttpClient(
        policy,
        auth=Refreshing(header_values={"Authorization": "Bearer old"}),
        transport=httpx.MockTransport(handler),
    )
    assert http.send(REQUEST).status_code == 200

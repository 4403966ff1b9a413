"""Keeping tokens fresh on the sync path: before expiry, on a 401, rotation persisted, concurrent
refreshers (threads and processes), revoked grants, long-lived tokens, client credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from engine.errors import AuthError
from engine.http import HttpClient, PreparedRequest
from engine.oauth import (
    ClientCredentialsAuthenticator,
    ConnectionDisconnected,
    OAuth2AuthCode,
    OAuth2Authenticator,
    OAuthClient,
    TokenCache,
    TokenRequestError,
    sandbox_rewrite,
)
from engine.sandbox import Sandbox
from engine.spec.models import HttpPolicy, RetryPolicy

from .test_oauth_support import (
    ENV,
    ROOT,
    Clock,
    Control,
    code_spec,
    connect,
    control_at,
    credentials_spec,
    oauth_sandbox,
    postgres_control,
    sqlite_control,
    stored,
)

ORGANISATION = "/api.xro/2.0/Organisation"


@pytest.fixture
def control(tmp_path: Path) -> Iterator[Control]:
    yield from sqlite_control(tmp_path)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with oauth_sandbox(tmp_path_factory.mktemp("oauth")) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    sandbox.reset()


def authenticator(
    sandbox: Sandbox,
    control: Control,
    name: str = "xero",
    spec: OAuth2AuthCode | None = None,
    **kwargs: object,
) -> OAuth2Authenticator:
    record = control.store.get(name, "maya")
    assert record is not None
    return OAuth2Authenticator(
        control.store,
        record,
        spec or code_spec(name),
        env=ENV[name],
        rewrite=sandbox_rewrite(sandbox.url, name),
        **kwargs,  # type: ignore[arg-type]
    )


def client(auth: OAuth2Authenticator | ClientCredentialsAuthenticator) -> HttpClient:
    return HttpClient(HttpPolicy(retry=RetryPolicy(max_attempts=1)), auth=auth)


def get(sandbox: Sandbox, http: HttpClient, name: str = "xero", path: str = ORGANISATION) -> httpx.Response:
    return http.send(PreparedRequest("GET", f"{sandbox.url}/{name}{path}"))


def token_calls(sandbox: Sandbox, name: str = "xero", grant: str = "refresh_token") -> int:
    return sum(
        1
        for r in sandbox.requests(name)
        if r["path"] == "/oauth/token" and r["query"].get("grant_type") == grant
    )


def stored_tokens(control: Control, name: str = "xero") -> dict[str, str]:
    record = control.store.get(name, "maya")
    assert record is not None
    return dict(record.credentials)


def test_a_valid_token_is_used_as_is(sandbox: Sandbox, control: Control) -> None:
    record = connect(sandbox, control, "xero")
    auth = authenticator(sandbox, control)
    assert auth.headers() == {"Authorization": f"Bearer {record.credentials['access_token']}"}
    assert get(sandbox, client(auth)).status_code == 200
    assert token_calls(sandbox) == 0


def test_the_token_is_refreshed_before_it_expires_and_the_rotation_is_saved(
    sandbox: Sandbox, control: Control
) -> None:
    old = connect(sandbox, control, "xero")
    clock = Clock()
    auth = authenticator(sandbox, control, clock=clock)
    clock.advance(3600 - 299)  # inside Xero's 300 s buffer
    assert get(sandbox, client(auth)).status_code == 200
    assert token_calls(sandbox) == 1
    new = control.store.get("xero", "maya")
    assert new is not None and new.connected
    assert new.credentials["access_token"] != old.credentials["access_token"]
    assert new.credentials["refresh_token"] != old.credentials["refresh_token"]  # rotated, and persisted
    assert (new.token_expires_at or "") > (old.token_expires_at or "")
    assert auth.headers()["Authorization"] == f"Bearer {new.credentials['access_token']}"
    assert token_calls(sandbox) == 1


def test_a_401_refreshes_once_and_retries(sandbox: Sandbox, control: Control) -> None:
    old = connect(sandbox, control, "xero")
    http = client(authenticator(sandbox, control))
    sandbox.expire_access_tokens("xero")  # the provider expired it early
    assert get(sandbox, http).status_code == 200
    statuses = [r["status"] for r in sandbox.requests("xero") if r["path"] == ORGANISATION]
    assert statuses == [401, 200]
    assert token_calls(sandbox) == 1
    assert stored_tokens(control)["refresh_token"] != old.credentials["refresh_token"]


def test_a_non_rotating_provider_keeps_its_refresh_token(sandbox: Sandbox, control: Control) -> None:
    old = connect(sandbox, control, "google_calendar")
    http = client(authenticator(sandbox, control, "google_calendar"))
    sandbox.expire_access_tokens("google_calendar")
    assert get(sandbox, http, "google_calendar", "/calendar/v3/calendars/primary").status_code == 200
    new = stored_tokens(control, "google_calendar")
    assert new["refresh_token"] == old.credentials["refresh_token"]
    assert new["access_token"] != old.credentials["access_token"]


def test_threads_sharing_one_authenticator_refresh_once(sandbox: Sandbox, control: Control) -> None:
    connect(sandbox, control, "xero")
    http = client(authenticator(sandbox, control))
    get(sandbox, http)
    sandbox.expire_access_tokens("xero")
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(get(sandbox, http).status_code)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert token_calls(sandbox) == 1


def test_two_refreshers_on_their_own_connections_do_not_lose_the_rotated_token(
    sandbox: Sandbox, control: Control
) -> None:
    """Two workers (own DB connection, own authenticator) hit a 401 at once: one refreshes, the
    other finds the new token in the store; the rotated refresh token survives."""
    connect(sandbox, control, "xero")
    others = [control_at(control.db.url, control.key) for _ in range(2)]
    auths = [
        OAuth2Authenticator(
            other.store,
            stored(other, "xero"),
            code_spec("xero"),
            env=ENV["xero"],
            rewrite=sandbox_rewrite(sandbox.url, "xero"),
        )
        for other in others
    ]
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def on_401(auth: OAuth2Authenticator) -> None:
        auth.headers()
        barrier.wait()
        results.append(auth.refresh())

    threads = [threading.Thread(target=on_401, args=(auth,)) for auth in auths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True, True]
    assert token_calls(sandbox) == 1
    assert auths[0].headers() == auths[1].headers()
    check_the_stored_refresh_token_still_works(sandbox, control)
    for other in others:
        other.db.close()


WORKER = """
import json, os, sys, time
from pathlib import Path
from engine.control import ConnectionStore, ControlDB, Vault
from engine.oauth import OAuth2Authenticator, OAuth2AuthCode, sandbox_rewrite
db_url, sandbox_url, go, spec, env = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
db = ControlDB(db_url)
store = ConnectionStore(db, Vault())
auth = OAuth2Authenticator(store, store.get("xero", "maya"), OAuth2AuthCode.model_validate_json(spec),
                           env=env, rewrite=sandbox_rewrite(sandbox_url, "xero"))
auth.headers()
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
try:
    print(json.dumps({"refreshed": auth.refresh()}), flush=True)
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__}), flush=True)
"""


def test_two_processes_refreshing_at_once_do_not_lose_the_rotated_token(
    sandbox: Sandbox, control: Control, tmp_path: Path
) -> None:
    connect(sandbox, control, "xero")
    go = tmp_path / "go"
    env = {**os.environ, "MANIFOLD_SECRET_KEY": control.key, "PYTHONPATH": str(ROOT)}
    args = [
        control.db.url,
        sandbox.url,
        str(go),
        code_spec("xero").model_dump_json(by_alias=True),
        json.dumps(ENV["xero"]),
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]
    assert outputs == [{"refreshed": True}, {"refreshed": True}]
    assert token_calls(sandbox) == 1
    check_the_stored_refresh_token_still_works(sandbox, control)


def test_without_the_lock_the_second_refresher_would_be_refused(sandbox: Sandbox, control: Control) -> None:
    """Why the lock matters: a rotated refresh token is spent by its first use."""
    record = connect(sandbox, control, "xero")
    refresh_token = record.credentials["refresh_token"]
    with OAuthClient(
        code_spec("xero"), "xero", env=ENV["xero"], rewrite=sandbox_rewrite(sandbox.url, "xero")
    ) as oauth:
        oauth.token_endpoint.refresh(refresh_token)
        with pytest.raises(TokenRequestError) as refused:
            oauth.token_endpoint.refresh(refresh_token)
    assert refused.value.error == "invalid_grant"


def check_the_stored_refresh_token_still_works(sandbox: Sandbox, control: Control) -> None:
    before = token_calls(sandbox)
    fresh = authenticator(sandbox, control)
    sandbox.expire_access_tokens("xero")
    assert get(sandbox, client(fresh)).status_code == 200
    assert token_calls(sandbox) == before + 1
    record = control.store.get("xero", "maya")
    assert record is not None and record.connected and record.last_error is None


def test_a_revoked_grant_disconnects_and_stops_further_calls(sandbox: Sandbox, control: Control) -> None:
    connect(sandbox, control, "xero")
    http = client(authenticator(sandbox, control))
    sandbox.revoke_grants("xero")
    with pytest.raises(ConnectionDisconnected, match="invalid_grant") as caught:
        get(sandbox, http)
    assert isinstance(caught.value, AuthError)
    record = control.store.get("xero", "maya")
    assert record is not None and not record.connected
    assert "invalid_grant" in (record.last_error or "") and record.last_error_at
    sandbox.clear_requests()
    for _ in range(3):  # no retry storm: nothing reaches the provider any more
        with pytest.raises(ConnectionDisconnected):
            get(sandbox, http)
    with pytest.raises(ConnectionDisconnected, match="Reconnect"):
        authenticator(sandbox, control).headers()  # a later run stops at once too
    assert sandbox.requests("xero") == []


def test_reconnecting_after_a_revocation_works_again(sandbox: Sandbox, control: Control) -> None:
    connect(sandbox, control, "xero")
    sandbox.revoke_grants("xero")
    with pytest.raises(ConnectionDisconnected):
        authenticator(sandbox, control).refresh()
    connect(sandbox, control, "xero")
    assert get(sandbox, client(authenticator(sandbox, control))).status_code == 200


def test_another_process_disconnecting_stops_this_one(sandbox: Sandbox, control: Control) -> None:
    connect(sandbox, control, "xero")
    auth = authenticator(sandbox, control)
    control.store.mark_error("xero", "maya", "disconnected by an admin", disconnect=True)
    sandbox.expire_access_tokens("xero")
    with pytest.raises(ConnectionDisconnected, match="disconnected by an admin"):
        get(sandbox, client(auth))
    assert token_calls(sandbox) == 0


def test_a_long_lived_token_refused_with_401_disconnects(sandbox: Sandbox, control: Control) -> None:
    connect(sandbox, control, "notion")
    http = client(authenticator(sandbox, control, "notion"))
    assert get(sandbox, http, "notion", "/v1/users/me").status_code == 200
    sandbox.expire_access_tokens("notion")  # e.g. the user removed the integration
    with pytest.raises(ConnectionDisconnected, match="401"):
        get(sandbox, http, "notion", "/v1/users/me")
    record = control.store.get("notion", "maya")
    assert record is not None and not record.connected and "cannot be refreshed" in (record.last_error or "")
    assert token_calls(sandbox, "notion") == 0


def test_a_token_endpoint_outage_records_the_error_but_keeps_the_connection(
    control: Control, sandbox: Sandbox
) -> None:
    connect(sandbox, control, "xero")
    calls: list[str] = []

    def outage(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503, json={"error": "temporarily_unavailable"})

    auth = authenticator(sandbox, control, transport=httpx.MockTransport(outage))
    with pytest.raises(AuthError, match="temporarily_unavailable") as caught:
        auth.refresh()
    assert not isinstance(caught.value, ConnectionDisconnected)
    assert len(calls) == 3  # a few quick attempts, then stop
    record = control.store.get("xero", "maya")
    assert record is not None and record.connected and "503" in (record.last_error or "")
    with pytest.raises(AuthError):
        auth.headers()  # this run stops; the next run tries again
    assert len(calls) == 3


def test_the_postgres_store_serialises_refreshers_too(sandbox: Sandbox) -> None:
    with postgres_control() as pg:
        connect(sandbox, pg, "xero")
        others = [control_at(pg.db.url, pg.key) for _ in range(3)]
        auths = [
            OAuth2Authenticator(
                o.store,
                stored(o, "xero"),
                code_spec("xero"),
                env=ENV["xero"],
                rewrite=sandbox_rewrite(sandbox.url, "xero"),
            )
            for o in others
        ]
        barrier = threading.Barrier(len(auths))

        def on_401(auth: OAuth2Authenticator) -> None:
            auth.headers()
            barrier.wait()
            auth.refresh()

        threads = [threading.Thread(target=on_401, args=(a,)) for a in auths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert token_calls(sandbox) == 1
        check_the_stored_refresh_token_still_works(sandbox, pg)
        for other in others:
            other.db.close()


# ---------------------------------------------------------------- client credentials


def paypal(sandbox: Sandbox, cache: TokenCache, clock: Clock | None = None) -> ClientCredentialsAuthenticator:
    return ClientCredentialsAuthenticator(
        credentials_spec("paypal"),
        "paypal",
        env=ENV["paypal"],
        rewrite=sandbox_rewrite(sandbox.url, "paypal"),
        cache=cache,
        clock=clock or Clock(),
    )


def test_client_credentials_tokens_are_cached_until_near_expiry(sandbox: Sandbox) -> None:
    cache, clock = TokenCache(), Clock()
    first, second = paypal(sandbox, cache, clock), paypal(sandbox, cache, clock)
    for auth in (first, second, first):
        assert get(sandbox, client(auth), "paypal", "/v1/invoicing/invoices").status_code == 200
    assert token_calls(sandbox, "paypal", "client_credentials") == 1
    assert first.headers() == second.headers()
    clock.advance(3600 - 299)  # inside the 300 s buffer
    assert first.headers() != {}
    assert token_calls(sandbox, "paypal", "client_credentials") == 2


def test_client_credentials_get_a_new_token_on_401(sandbox: Sandbox) -> None:
    http = client(paypal(sandbox, TokenCache()))
    get(sandbox, http, "paypal", "/v1/invoicing/invoices")
    sandbox.expire_access_tokens("paypal")
    assert get(sandbox, http, "paypal", "/v1/invoicing/invoices").status_code == 200
    assert token_calls(sandbox, "paypal", "client_credentials") == 2


def test_client_credentials_with_a_wrong_secret_stop_after_one_try(sandbox: Sandbox) -> None:
    auth = ClientCredentialsAuthenticator(
        credentials_spec("paypal", client_secret="wrong"),
        "paypal",
        env=ENV["paypal"],
        rewrite=sandbox_rewrite(sandbox.url, "paypal"),
        cache=TokenCache(),
    )
    for _ in range(3):
        with pytest.raises(AuthError, match="invalid_client"):
            auth.headers()
    assert token_calls(sandbox, "paypal", "client_credentials") == 1


def test_short_lived_sandbox_tokens_expire_mid_run_and_are_refreshed(
    tmp_path: Path, control: Control
) -> None:
    """2-second tokens, as the sandbox hands out for tests: refreshed ahead of expiry (1 s buffer),
    or after a 401 where the clock says the token is still good; the run never fails."""
    with oauth_sandbox(tmp_path, ttl=2) as short:
        connect(short, control, "xero")
        ahead = client(authenticator(short, control, spec=code_spec("xero", refresh_buffer_seconds=1)))
        late = client(
            authenticator(short, control, spec=code_spec("xero", refresh_buffer_seconds=0), clock=Clock())
        )
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            assert get(short, ahead).status_code == 200
            assert get(short, late).status_code == 200
            time.sleep(0.2)
        statuses = [r["status"] for r in short.requests("xero") if r["path"] == ORGANISATION]
        assert statuses.count(401) >= 1 and token_calls(short) >= 2
        record = control.store.get("xero", "maya")
        assert record is not None and record.connected


def test_granted_scopes_survive_a_refresh_answer_that_names_none(sandbox: Sandbox, control: Control) -> None:
    connect(sandbox, control, "tiktok")
    control.store.save(replace(stored(control, "tiktok"), scopes=["user.info.basic"]))
    bare = httpx.MockTransport(
        lambda request: httpx.Response(
            200, json={"access_token": "sbx-at-new", "refresh_token": "sbx-rt-new", "expires_in": 60}
        )
    )
    authenticator(sandbox, control, "tiktok", transport=bare).refresh()
    assert stored(control, "tiktok").scopes == ["user.info.basic"]


def test_a_refusal_in_a_200_body_disconnects_like_any_other(sandbox: Sandbox, control: Control) -> None:
    """TikTok can answer a bad refresh with 200 and {"error": "invalid_grant", ...}."""
    connect(sandbox, control, "tiktok")
    refusal = httpx.MockTransport(
        lambda request: httpx.Response(
            200,
            json={"error": "invalid_grant", "error_description": "Refresh token is invalid", "log_id": "1"},
        )
    )
    with pytest.raises(ConnectionDisconnected, match="invalid_grant"):
        authenticator(sandbox, control, "tiktok", transport=refusal).refresh()
    assert not stored(control, "tiktok").connected

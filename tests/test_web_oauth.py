"""Connecting accounts through `manifold serve`, over real HTTP on 127.0.0.1: the browser follows
the service's 302 to the sandbox's authorize endpoint, which redirects back to the service's
callback. Then the connection syncs, survives its token expiring mid-sync, and is marked
disconnected when the grant is revoked; bad callbacks store nothing; and a planted token shows
up in no log, output, page, repr, error or Dagster metadata."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster
import duckdb
import httpx
import pytest
from cryptography.fernet import Fernet

from engine.destinations.duckdb import DuckDBDestination
from engine.errors import ConfigError
from engine.oauth import ConnectionDisconnected, OAuth2AuthCode, OAuthStates, authorize_url
from engine.oauth.state import STATE_TTL
from engine.orchestration import WarehouseResource, build_definitions
from engine.runner import build_runtime, run_sync
from engine.sync import StreamResult, sync_connector

from .test_oauth_support import ENV
from .web_oauth_support import (
    ACCOUNT,
    CALENDAR,
    EVENTS_PATH,
    PAGES,
    ExpiresAfterFirstPage,
    Outputs,
    Stack,
    finish,
    serve_with_sandbox,
    write_connectors,
)
from .web_support import ADMIN, API, running_service, settings_for

DIAGNOSTICS = "/api/admin/diagnostics/integrations"


@pytest.fixture
def control_url(tmp_path: Path, secret_key: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The service's control store, also the one in-process syncs and the CLI read."""
    url = f"sqlite:///{tmp_path}/control.db"
    monkeypatch.setenv("MANIFOLD_CONTROL_URL", url)
    return url


@pytest.fixture
def stack(tmp_path: Path, control_url: str) -> Iterator[Stack]:
    with serve_with_sandbox(tmp_path, write_connectors(tmp_path / "connectors")) as running:
        yield running


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the tests that must store no connection (each checks that it stored none)."""
    folder = tmp_path_factory.mktemp("shared")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MANIFOLD_SECRET_KEY", Fernet.generate_key().decode())
        patch.setenv("MANIFOLD_CONTROL_URL", f"sqlite:///{folder}/control.db")
        with serve_with_sandbox(folder, write_connectors(folder / "connectors")) as running:
            yield running


def sync(stack: Stack, warehouse: Path) -> StreamResult:
    """`run_sync` of the connection against the sandbox, into a DuckDB file."""
    destination = DuckDBDestination(warehouse)
    try:
        (result,) = run_sync(
            stack.loaded(), connection_id="maya", sandbox_url=stack.sandbox.url, destination=destination
        )
    finally:
        destination.close()
    return result


def count(warehouse: Path, sql: str) -> Any:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def event_statuses(stack: Stack) -> list[int]:
    return [r["status"] for r in stack.sandbox.requests(CALENDAR) if r["path"] == EVENTS_PATH]


# ------------------------------------------------------------ connect, sync, expire, revoke


def test_connect_through_the_service_then_sync_refresh_mid_sync_and_revoke(
    stack: Stack, tmp_path: Path
) -> None:
    page = stack.connect("maya", owner_id="user-42")
    hops = [(r.status_code, r.url.port) for r in page.history]
    assert hops == [(302, urlsplit(stack.running.url).port), (302, stack.sandbox.port)]
    assert page.status_code == 200, page.text
    assert str(page.url).startswith(f"{stack.running.url}/oauth/{CALENDAR}/callback?")
    assert "Google Calendar connected" in page.text and ACCOUNT in page.text and "maya" in page.text
    assert page.headers["cache-control"] == "no-store"

    record = stack.record()
    assert record.connected and record.account_id == ACCOUNT and record.owner_id == "user-42"
    assert record.account == {"email": ACCOUNT, "time_zone": "UTC"}
    assert record.scopes == ["https://www.googleapis.com/auth/calendar.readonly"]
    assert record.token_expires_at is not None
    expires = datetime.fromisoformat(record.token_expires_at)
    assert timedelta(minutes=55) < expires - datetime.now(UTC) <= timedelta(hours=1)
    access, refresh = record.credentials["access_token"], record.credentials["refresh_token"]
    raw = json.dumps(stack.rows(), default=str)
    assert access not in raw and refresh not in raw  # encrypted at rest
    assert record.last_error is None

    warehouse = tmp_path / "w.duckdb"
    assert sync(stack, warehouse).error is None
    assert count(warehouse, "SELECT count(*) FROM calendar_events") == 5

    # The token runs out between page 1 and page 2: 401 -> one refresh -> the page again.
    stack.sandbox.clear_requests()
    expiring = ExpiresAfterFirstPage(stack.sandbox)
    runtime = stack.runtime(transport=expiring)
    destination = DuckDBDestination(warehouse)
    try:
        (result,) = sync_connector(runtime, destination, full_refresh=True)
    finally:
        runtime.close()
        destination.close()
    assert expiring.fired and result.error is None and result.pages == PAGES
    assert event_statuses(stack) == [200, 401, 200, 200]
    assert stack.sandbox.app.oauth.server(CALENDAR).counts.get("refresh_token") == 1
    refreshed = stack.record()
    assert refreshed.connected and refreshed.credentials["access_token"] != access
    assert refreshed.token_expires_at is not None and refreshed.token_expires_at >= record.token_expires_at
    assert count(warehouse, "SELECT count(*) FROM calendar_events") == 5

    # The user revokes the app: the next sync's refresh is refused -> disconnected, recorded.
    stack.sandbox.revoke_grants(CALENDAR)
    failed = sync(stack, warehouse)
    assert failed.error is not None and "invalid_grant" in failed.error
    broken = stack.record()
    assert not broken.connected
    assert broken.last_error is not None and "invalid_grant" in broken.last_error
    assert broken.last_error_at is not None
    for secret in (access, refresh, refreshed.credentials["access_token"]):
        assert secret not in failed.error and secret not in broken.last_error
    stack.sandbox.clear_requests()
    with pytest.raises(ConfigError, match="disconnected"):
        sync(stack, warehouse)
    assert stack.sandbox.requests(CALENDAR) == []  # refused without calling the provider


def test_the_platform_backend_gets_an_authorize_link_with_the_api_token(stack: Stack) -> None:
    with stack.running.api() as api:
        answer = api.post(f"/api/connect/{CALENDAR}", json={"connection_id": "sam", "owner_id": "u-7"})
    assert answer.status_code == 200, answer.text
    link = answer.json()
    assert link["redirect_uri"] == f"{stack.running.url}/oauth/{CALENDAR}/callback"
    query = parse_qs(urlsplit(link["authorize_url"]).query)
    assert query["redirect_uri"] == [link["redirect_uri"]] and query["code_challenge_method"] == ["S256"]
    with stack.browser() as browser:
        page = browser.get(link["authorize_url"])
    assert page.status_code == 200 and ACCOUNT in page.text
    sam = stack.record("sam")
    assert sam.connected and sam.owner_id == "u-7"


def test_a_revoked_connection_shows_as_disconnected_in_diagnostics(stack: Stack, tmp_path: Path) -> None:
    assert stack.connect("maya").status_code == 200
    stack.sandbox.revoke_grants(CALENDAR)
    assert sync(stack, tmp_path / "w.duckdb").error is not None
    with stack.running.client() as anonymous:
        assert anonymous.get(DIAGNOSTICS).status_code == 401
    with stack.running.admin() as admin:
        answer = admin.get(DIAGNOSTICS)
    assert answer.status_code == 200, answer.text
    (calendar,) = [i for i in answer.json()["integrations"] if i["name"] == CALENDAR]
    (maya,) = calendar["connections"]
    assert maya["id"] == "maya" and maya["account_id"] == ACCOUNT
    assert maya["connected"] is False and maya["status"] == "disconnected"
    assert "invalid_grant" in maya["last_error"] and maya["last_error_at"]


def test_a_successful_sync_records_last_sync_at_on_the_connection(stack: Stack, tmp_path: Path) -> None:
    assert stack.connect("maya").status_code == 200
    assert sync(stack, tmp_path / "w.duckdb").error is None
    assert stack.record().last_sync_at is not None


# ------------------------------------------------------------ bad callbacks store nothing


def _callback(stack: Stack, connector: str, **params: str) -> httpx.Response:
    with stack.browser() as browser:
        return browser.get(f"{stack.running.url}/oauth/{connector}/callback", params=params)


def _provider_answer(stack: Stack, provider_url: str) -> dict[str, str]:
    """What the provider sends the browser back with (the callback's query), not yet delivered."""
    answer = httpx.get(provider_url, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{stack.running.url}/oauth/{CALENDAR}/callback?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def test_tampered_states_are_refused_and_the_genuine_one_still_works(stack: Stack) -> None:
    answer = _provider_answer(stack, stack.authorize(connection_id="maya"))
    state = answer["state"]
    nonce, expires, signature = state.split(".")
    tampered = [
        _flip(state, len(state) - 5),  # the signature
        _flip(state, 3),  # the nonce: not one we issued
        f"{nonce}.{int(expires) + 86400}.{signature}",  # a longer life
        state + "x",
        "not-a-state",
    ]
    for bad in tampered:
        page = _callback(stack, CALENDAR, code=answer["code"], state=bad)
        assert page.status_code == 400, (bad, page.text)
        assert "not connected" in page.text and "state" in page.text
    assert _callback(stack, CALENDAR, code=answer["code"]).status_code == 400  # no state at all
    assert stack.rows() == []
    page = _callback(stack, CALENDAR, **answer)  # failed attempts do not burn the real state
    assert page.status_code == 200 and ACCOUNT in page.text


def test_a_replayed_callback_is_refused_and_changes_nothing(stack: Stack) -> None:
    first = stack.connect("maya")
    assert first.status_code == 200
    before = stack.rows()
    with stack.browser() as browser:
        again = browser.get(first.url)
    assert again.status_code == 400
    assert "used already" in again.text
    assert stack.rows() == before


def test_a_state_for_another_connector_is_refused(stack: Stack) -> None:
    answer = _provider_answer(stack, stack.authorize(connection_id="maya"))
    page = _callback(stack, "xero", **answer)
    assert page.status_code == 400
    assert "another connector" in page.text
    assert stack.rows() == []
    assert _callback(stack, CALENDAR, **answer).status_code == 200  # still good where it belongs


def test_a_denied_authorization_is_shown_and_recorded_never_a_500(stack: Stack) -> None:
    stack.sandbox.deny_authorization(CALENDAR)
    page = stack.connect("maya")
    assert page.status_code == 400
    assert "access_denied" in page.text and "The user denied access" in page.text
    assert "recorded on the connection" in page.text
    record = stack.record()
    assert not record.connected and record.credentials == {}
    assert record.last_error is not None and "access_denied" in record.last_error and record.last_error_at

    # A reconnect the user denies keeps the working credentials; the refusal is recorded.
    stack.sandbox.deny_authorization(CALENDAR, deny=False)
    assert stack.connect("maya").status_code == 200
    good = stack.record()
    assert good.connected and good.last_error is None
    stack.sandbox.deny_authorization(CALENDAR)
    assert stack.connect("maya").status_code == 400
    kept = stack.record()
    assert kept.connected and kept.credentials == good.credentials
    assert kept.last_error is not None and "access_denied" in kept.last_error


def test_what_the_provider_sends_back_is_escaped_and_a_callback_without_code_is_recorded(
    stack: Stack,
) -> None:
    answer = _provider_answer(stack, stack.authorize(connection_id="maya"))
    page = _callback(
        stack,
        CALENDAR,
        state=answer["state"],
        error="access_denied",
        error_description='<script>alert("x")</script>\nsecond line',
    )
    assert page.status_code == 400
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    maya = stack.record()
    assert maya.last_error is not None and "access_denied" in maya.last_error
    assert "\n" not in maya.last_error  # provider text is kept to one line
    answer = _provider_answer(stack, stack.authorize(connection_id="sam"))
    page = _callback(stack, CALENDAR, state=answer["state"])  # neither code nor error
    assert page.status_code == 400 and "neither a code nor an error" in page.text
    sam = stack.record("sam")
    assert not sam.connected and sam.last_error is not None and "neither a code" in sam.last_error


# ------------------------------------------------------------ on one shared service: nothing is stored


def test_an_expired_state_is_refused(shared: Stack) -> None:
    service = shared.running.service
    # The service's OAuthStates has no clock to turn; a state issued a minute longer ago than
    # states live, by another process on the same control store (same signing key), is the same.
    issued_long_ago = OAuthStates(
        service.db, service.vault, clock=lambda: datetime.now(UTC) - STATE_TTL - timedelta(minutes=1)
    )
    auth = shared.loaded().spec.auth
    assert isinstance(auth, OAuth2AuthCode)
    url = authorize_url(
        auth,
        CALENDAR,
        "maya",
        f"{shared.running.url}/oauth/{CALENDAR}/callback",
        states=issued_long_ago,
        env=service.env(CALENDAR),
        rewrite=service.oauth_rewrite(CALENDAR),
    )
    with shared.browser() as browser:
        page = browser.get(url)
    assert page.status_code == 400
    assert "expired" in page.text and f"{int(STATE_TTL.total_seconds())} s" in page.text
    assert shared.rows() == []


def test_unknown_and_non_oauth_connectors_are_404(shared: Stack) -> None:
    with shared.running.admin() as admin:
        for connector in ("nobody", "stripe"):
            assert admin.get(f"/oauth/{connector}/authorize?connection_id=maya").status_code == 404
            assert admin.post(f"/api/connect/{connector}", json={"connection_id": "maya"}).status_code == 404
            assert _callback(shared, connector, code="c", state="s").status_code == 404
        refused = admin.get("/oauth/stripe/authorize?connection_id=m").text
        assert "does not connect with OAuth" in refused and "docs/spec-reference.md#oauth2authcode" in refused
    assert shared.rows() == []


# ------------------------------------------------------------ who may start a connect, and for what


def test_the_caller_cannot_choose_where_the_code_goes(shared: Stack) -> None:
    ours = f"{shared.running.url}/oauth/{CALENDAR}/callback"
    with shared.running.admin() as admin:
        answer = admin.get(
            f"/oauth/{CALENDAR}/authorize",
            params={"connection_id": "maya", "redirect_uri": "https://evil.example/cb"},
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        )
        link = admin.post(
            f"/api/connect/{CALENDAR}",
            json={"connection_id": "maya", "redirect_uri": "https://evil.example/cb"},
        )
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["location"]).query)["redirect_uri"] == [ours]
    assert "evil.example" not in answer.headers["location"]
    assert link.status_code == 200 and link.json()["redirect_uri"] == ours
    assert "evil.example" not in link.json()["authorize_url"]


NO_ENTRY: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "no token": ({}, {}),
    "wrong bearer": ({"Authorization": "Bearer wrong"}, {}),
    "admin token as Basic": ({"Authorization": f"Basic {ADMIN}"}, {}),
    "wrong cookie": ({}, {"manifold_admin": "wrong"}),
    "API token in the admin cookie": ({}, {"manifold_admin": API}),  # the backend's is a bearer
}


def test_starting_a_connect_needs_a_token(shared: Stack) -> None:
    issued = _states(shared)
    for case, (headers, cookies) in NO_ENTRY.items():
        with httpx.Client(base_url=shared.running.url, headers=headers, cookies=cookies) as client:
            answer = client.get(f"/oauth/{CALENDAR}/authorize", params={"connection_id": "maya"})
            link = client.post(f"/api/connect/{CALENDAR}", json={"connection_id": "maya"})
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", case
        assert link.status_code == 401, case
    assert _states(shared) == issued
    with shared.running.api() as api:
        assert api.get(f"/oauth/{CALENDAR}/authorize?connection_id=maya").status_code == 302
    with httpx.Client(base_url=shared.running.url, cookies={"manifold_admin": ADMIN}) as person:
        assert person.get(f"/oauth/{CALENDAR}/authorize?connection_id=maya").status_code == 302
    assert _states(shared) == issued + 2


BAD_IDS: dict[str, tuple[dict[str, str], int]] = {
    "dot dot": ({"connection_id": "../x"}, 400),
    "300 characters": ({"connection_id": "x" * 300}, 400),
    "slashes": ({"connection_id": "maya/../../etc"}, 400),
    "leading dash": ({"connection_id": "-maya"}, 400),
    "empty": ({"connection_id": ""}, 400),
    "long owner": ({"connection_id": "maya", "owner_id": "o" * 200}, 400),
    "missing": ({}, 422),
}


def test_bad_connection_ids_are_400(shared: Stack) -> None:
    issued = _states(shared)
    with shared.running.admin() as admin:
        for case, (params, status) in BAD_IDS.items():
            answer = admin.get(f"/oauth/{CALENDAR}/authorize", params=params)
            link = admin.post(f"/api/connect/{CALENDAR}", json=params)
            assert answer.status_code == status, (case, answer.text)
            assert link.status_code == status, (case, link.text)
            if status == 400:
                assert "connection_id" in answer.json()["detail"], case
    assert _states(shared) == issued
    assert shared.rows() == []


def _states(stack: Stack) -> int:
    rows = stack.running.service.db.query("SELECT count(*) AS n FROM oauth_states")
    return int(rows[0]["n"])


def test_a_disabled_connector_is_403_naming_its_flag(
    tmp_path: Path, control_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_CALENDAR_ENABLED", raising=False)
    connectors = write_connectors(tmp_path / "connectors", flag="GOOGLE_CALENDAR_ENABLED")
    with running_service(settings_for(tmp_path, connectors)) as running, running.admin() as admin:
        answer = admin.get(f"/oauth/{CALENDAR}/authorize", params={"connection_id": "maya"})
        link = admin.post(f"/api/connect/{CALENDAR}", json={"connection_id": "maya"})
    assert answer.status_code == 403 and link.status_code == 403
    assert "GOOGLE_CALENDAR_ENABLED=true" in answer.json()["detail"]


# ------------------------------------------------------------ the planted token

PLANTED = "ya29.PLANTED-access-7a1c9e52b4d3f608e1d2c3b4"


def test_planted_tokens_appear_in_no_output(
    tmp_path: Path,
    control_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The sandbox issues a known access token (its `token_extra` answers it; the data routes
    accept it as a static bearer); the refresh token it issues is read back from the store.
    Everything the flow prints, logs, serves, raises or records is searched for both, and for
    the client secret."""
    caplog.set_level(logging.DEBUG)
    connectors = write_connectors(
        tmp_path / "connectors",
        sandbox_oauth={"token_extra": {"access_token": PLANTED}},
        require_headers={"Authorization": f"Bearer {PLANTED}"},
    )
    seen = Outputs()
    instance = dagster.DagsterInstance.ephemeral()
    dagster_warehouse = tmp_path / "dagster.duckdb"
    with serve_with_sandbox(tmp_path, connectors) as stack:
        cli_sync = ("sync", CALENDAR, "--connection", "maya", "--sandbox-url", stack.sandbox.url,
                    "--warehouse", f"duckdb:///{tmp_path / 'cli.duckdb'}")  # fmt: skip
        page = stack.connect("maya")
        assert page.status_code == 200
        seen.keep("callback page", page.text, page.headers, *[(r.url, r.headers) for r in page.history])
        record = stack.record()
        assert record.credentials["access_token"] == PLANTED  # the plant took
        refresh_token = record.credentials["refresh_token"]
        seen.keep("ConnectionRecord", record, str(record), stack.store.list())
        with stack.running.api() as api:
            seen.keep(
                "connect link", api.post(f"/api/connect/{CALENDAR}", json={"connection_id": "maya"}).text
            )
        with stack.running.client() as client:
            seen.keep("openapi.json", client.get("/openapi.json").text)
            seen.keep("readyz", client.get("/readyz").text)
            seen.keep("/admin", client.get("/admin", params={"token": ADMIN}, follow_redirects=True).text)

        # Syncs: in process, through the CLI and as a Dagster materialization (the CLI meanwhile).
        warehouse = tmp_path / "w.duckdb"
        result = sync(stack, warehouse)
        assert result.error is None, result.error
        seen.keep("sync result", result, result.metadata())
        runtime = build_runtime(stack.loaded(), connection_id="maya", sandbox_url=stack.sandbox.url)
        auth = runtime.client.auth
        seen.keep("runtime", runtime, runtime.connection, runtime.client, auth, str(auth), runtime.redactor)
        started = {"manifold sync": stack.cli(*cli_sync), "manifold connections": stack.cli("connections")}
        seen.keep("dagster materialization", *_materialize(stack, dagster_warehouse, instance))
        done = {label: finish(process) for label, process in started.items()}
        assert done["manifold sync"].returncode == 0, done["manifold sync"].stderr
        assert "maya" in done["manifold connections"].stdout, done["manifold connections"].stderr
        for label, finished in done.items():
            seen.keep(label, finished.stdout, finished.stderr)

        # A refresh that works (the provider answers 401 once), then the grant revoked.
        stack.sandbox.add_fault(CALENDAR, "status", EVENTS_PATH, status=401)
        assert sync(stack, warehouse).error is None
        assert stack.sandbox.app.oauth.server(CALENDAR).counts["refresh_token"] == 1
        stack.sandbox.revoke_grants(CALENDAR)
        stack.sandbox.add_fault(CALENDAR, "status", EVENTS_PATH, status=401)
        revoked = sync(stack, warehouse)
        assert revoked.error is not None and "invalid_grant" in revoked.error
        seen.keep("failed sync result", revoked, revoked.error)
        with pytest.raises(ConnectionDisconnected) as raised:
            auth.refresh()  # this runtime was built before the revoke
        seen.error("ConnectionDisconnected", raised.value)
        seen.keep("authenticator after failure", auth, str(auth))
        runtime.close()
        with pytest.raises(ConfigError) as refused:
            build_runtime(stack.loaded(), connection_id="maya", sandbox_url=stack.sandbox.url)
        seen.error("ConfigError on a disconnected connection", refused.value)
        seen.keep("disconnected record", stack.record(), stack.record().last_error)
        started = {
            "manifold sync (disconnected)": stack.cli(*cli_sync),
            "manifold connections (disconnected)": stack.cli("connections"),
        }
        seen.keep("dagster failure", *_materialize(stack, dagster_warehouse, instance, succeed=False))
        done = {label: finish(process) for label, process in started.items()}
        assert done["manifold sync (disconnected)"].returncode == 1
        assert "disconnected" in done["manifold sync (disconnected)"].stderr
        for label, finished in done.items():
            seen.keep(label, finished.stdout, finished.stderr)
        with stack.running.admin() as admin:
            seen.keep("diagnostics", admin.get(DIAGNOSTICS).text)
        with duckdb.connect(str(warehouse), read_only=True) as runs:
            seen.keep("warehouse runs table", runs.execute("SELECT * FROM _manifold_runs").fetchall())

    seen.keep("stdout/stderr", *capfd.readouterr())
    seen.keep("log records", caplog.text, [(r.name, r.msg, r.args) for r in caplog.records])
    assert "token refreshed" in seen["log records"] and "invalid_grant" in seen["log records"]
    assert "disconnected" in seen["dagster failure"] and "invalid_grant" in seen["diagnostics"]
    for secret in (PLANTED, refresh_token, ENV[CALENDAR]["GOOGLE_CLIENT_SECRET"]):
        assert seen.showing(secret) == [], f"{secret[:12]}... shows in these outputs"


def _materialize(
    stack: Stack, warehouse: Path, instance: dagster.DagsterInstance, *, succeed: bool = True
) -> list[Any]:
    """Materialize google_calendar/events for partition maya: every event of the run, the
    materialization's metadata and the run's event log as the UI shows it."""
    resource = WarehouseResource(url=f"duckdb:///{warehouse}", sandbox_url=stack.sandbox.url)
    defs = build_definitions(stack.connectors, environ={}, warehouse=resource)
    if "maya" not in instance.get_dynamic_partitions(f"{CALENDAR}_connections"):
        instance.add_dynamic_partitions(f"{CALENDAR}_connections", ["maya"])
    result = dagster.materialize(
        [a for a in defs.assets or [] if isinstance(a, dagster.AssetsDefinition)],
        partition_key="maya",
        resources={"warehouse": resource},
        instance=instance,
        selection=dagster.AssetSelection.assets(dagster.AssetKey([CALENDAR, "events"])),
        raise_on_error=False,
    )
    assert result.success is succeed
    metadata = [dict(e.materialization.metadata) for e in result.get_asset_materialization_events()]
    assert len(metadata) == (1 if succeed else 0)
    logs = [(entry.user_message, entry.dagster_event) for entry in instance.all_logs(result.run_id)]
    return [list(result.all_events), metadata, logs]


def test_the_service_repr_shows_no_secret(shared: Stack) -> None:
    shown = repr(shared.running.service) + repr(shared.running)
    for secret in (os.environ["MANIFOLD_SECRET_KEY"], ENV[CALENDAR]["GOOGLE_CLIENT_SECRET"], ADMIN, API):
        assert secret not in shown

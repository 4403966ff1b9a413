"""The sandbox server: routing, auth, sync tokens and mutations, faults, the control API, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from engine.errors import ConfigError, SpecError
from engine.sandbox import Sandbox
from engine.spec.models import ConnectorSpec

ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Bearer sk_test_sandbox"}
EVENTS = [{"id": f"ev{n}", "status": "confirmed", "summary": f"Event {n}"} for n in range(1, 6)]
INVOICES = [{"id": f"in_{n}", "object": "invoice", "created": 1_700_000_000 + n} for n in range(6, 0, -1)]
EVENTS_PATH = "/calendar/v3/calendars/{calendarId}/events"


def spec(name: str, base_url: str, routes: list[dict[str, Any]], **sandbox: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": name.title(),
        "docs": "https://example.com/docs",
        "base_url": base_url,
        "streams": {"all": {"request": {"path": "/x"}}},
        "sandbox": {"routes": routes, **sandbox},
    }


def write(
    folder: Path, name: str, data: dict[str, Any], fixtures: dict[str, Any]
) -> tuple[ConnectorSpec, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for file, value in fixtures.items():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_text(json.dumps(value))
    schema_line = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"
    (folder / f"{name}.yaml").write_text(schema_line + yaml.safe_dump(data))
    return ConnectorSpec.model_validate(data), folder / f"{name}.yaml"


def connectors(folder: Path) -> list[tuple[ConnectorSpec, Path]]:
    stripe = spec(
        "stripe",
        "https://api.stripe.com/v1",
        [{"path": "/v1/invoices", "protocol": "stripe_list", "fixture": "fixtures/invoices.json"}],
        require_headers=AUTH,
    )
    calendar = spec(
        "google_calendar",
        "https://www.googleapis.com/calendar/v3",
        [
            {
                "path": EVENTS_PATH,
                "protocol": "google_page_token",
                "fixture": "events.json",
                "options": {"kind": "calendar#events"},
            }
        ],
    )
    return [
        write(folder / "stripe", "stripe", stripe, {"fixtures/invoices.json": INVOICES}),
        write(
            folder / "calendar",
            "google_calendar",
            calendar,
            {"events.json": {"primary": EVENTS, "team": EVENTS[:1]}},
        ),
    ]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(connectors(tmp_path_factory.mktemp("connectors"))) as running:
        yield running


@pytest.fixture(scope="module")
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        yield client


@pytest.fixture
def client(sandbox: Sandbox, http: httpx.Client) -> httpx.Client:
    sandbox.reset()
    return http


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


# ---------------------------------------------------------------- serving


def test_base_url_for_maps_the_real_base_url_under_the_connector(sandbox: Sandbox) -> None:
    assert sandbox.url.startswith("http://127.0.0.1:")
    assert sandbox.base_url_for("stripe", "https://api.stripe.com/v1") == f"{sandbox.url}/stripe/v1"
    calendar = sandbox.base_url_for("google_calendar", "https://www.googleapis.com/calendar/v3/")
    assert calendar == f"{sandbox.url}/google_calendar/calendar/v3"
    with pytest.raises(ConfigError, match="no sandbox section"):
        sandbox.base_url_for("gmail", "https://gmail.googleapis.com")


def test_unknown_routes_connectors_and_methods_get_json_errors(client: httpx.Client) -> None:
    route = client.get("/stripe/v1/nothing", headers=AUTH)
    assert route.status_code == 404 and "Unrecognized request URL" in route.json()["error"]["message"]
    connector = client.get("/nobody/v1/invoices")
    assert connector.status_code == 404 and connector.headers["content-type"] == "application/json"
    assert client.post("/stripe/v1/invoices", headers=AUTH, json={}).status_code == 405


def test_require_headers_answers_401_in_the_provider_shape(client: httpx.Client) -> None:
    missing = client.get("/stripe/v1/invoices")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_request_error"
    wrong = client.get("/stripe/v1/invoices", headers={"Authorization": "Bearer sk_live_other"})
    assert wrong.status_code == 401
    assert (
        client.get("/stripe/v1/invoices", headers={"authorization": AUTH["Authorization"]}).status_code == 200
    )


def test_stop_closes_keep_alive_connections(tmp_path: Path) -> None:
    sandbox = Sandbox(connectors(tmp_path))
    url = sandbox.start()
    with httpx.Client(base_url=url, timeout=2) as client:
        assert client.get("/google_calendar/calendar/v3/calendars/primary/events").status_code == 200
        sandbox.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/google_calendar/calendar/v3/calendars/primary/events")
    with pytest.raises(RuntimeError):
        _ = sandbox.url


def test_bad_sandbox_sections_are_spec_errors(tmp_path: Path) -> None:
    routes = [
        {"path": "/v1/a", "protocol": "nope", "fixture": "a.json"},
        {"path": "/v1/b", "protocol": "stripe_list", "fixture": "missing.json"},
        {"path": "/v1/c", "protocol": "stripe_list", "fixture": "c.json", "options": {"limit": 5}},
        {"path": "/v1/{id}/d", "protocol": "stripe_list", "fixture": "c.json"},
    ]
    bad = write(tmp_path, "bad", spec("bad", "https://x.test", routes), {"c.json": []})
    with pytest.raises(SpecError) as caught:
        Sandbox([bad])
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 4
    assert "unknown sandbox protocol 'nope'" in messages[0] and "cannot read fixture" in messages[1]
    assert "unknown option(s) limit" in messages[2] and "keyed by placeholder values" in messages[3]


# ---------------------------------------------------------------- sync tokens and mutations


def full_sync(
    client: httpx.Client, calendar: str = "primary", **params: Any
) -> tuple[list[dict[str, Any]], str]:
    records: list[dict[str, Any]] = []
    while True:
        reply = client.get(f"/google_calendar/calendar/v3/calendars/{calendar}/events", params=params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        records += body["items"]
        if "nextPageToken" not in body:
            return records, body["nextSyncToken"]
        params["pageToken"] = body["nextPageToken"]


def test_sync_tokens_return_only_changes_since_they_were_issued(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    records, token = full_sync(client, maxResults=2)
    assert ids(records) == ids(EVENTS)
    nothing, token = full_sync(client, syncToken=token)
    assert nothing == []

    sandbox.upsert(
        "google_calendar",
        EVENTS_PATH,
        {"id": "ev2", "status": "confirmed", "summary": "Moved"},
        key="primary",
    )
    sandbox.upsert("google_calendar", EVENTS_PATH, {"id": "ev9", "status": "confirmed"}, key="primary")
    sandbox.delete("google_calendar", EVENTS_PATH, "ev3", key="primary")
    changes, token = full_sync(client, syncToken=token, maxResults=2)
    assert ids(changes) == ["ev2", "ev9", "ev3"]
    assert changes[0]["summary"] == "Moved" and changes[2]["status"] == "cancelled"
    assert full_sync(client, syncToken=token)[0] == []

    fresh, _ = full_sync(client)
    assert ids(fresh) == ["ev1", "ev2", "ev4", "ev5", "ev9"]  # the cancelled event is left out


def test_sync_tokens_are_scoped_to_their_calendar_and_expire(client: httpx.Client, sandbox: Sandbox) -> None:
    _, token = full_sync(client)
    other = client.get("/google_calendar/calendar/v3/calendars/team/events", params={"syncToken": token})
    assert other.status_code == 410
    sandbox.expire_tokens("google_calendar")
    gone = client.get("/google_calendar/calendar/v3/calendars/primary/events", params={"syncToken": token})
    assert gone.status_code == 410 and gone.json()["error"]["errors"][0]["reason"] == "fullSyncRequired"
    _, token = full_sync(client)
    assert client.post("/_sandbox/expire_tokens", json={"connector": "google_calendar"}).status_code == 200
    assert (
        client.get(
            "/google_calendar/calendar/v3/calendars/primary/events", params={"syncToken": token}
        ).status_code
        == 410
    )


def test_records_control_endpoint_upserts_and_deletes(client: httpx.Client) -> None:
    new = {"id": "in_7", "object": "invoice", "created": 1_700_000_007}
    reply = client.post(
        "/_sandbox/records", json={"connector": "stripe", "route": "/v1/invoices", "key": None, "record": new}
    )
    assert reply.status_code == 200 and reply.json() == {"ok": True, "version": 1}
    client.post("/_sandbox/records", json={"connector": "stripe", "route": "/v1/invoices", "delete": "in_3"})
    data = client.get("/stripe/v1/invoices", headers=AUTH).json()["data"]
    assert ids(data) == ["in_7", "in_6", "in_5", "in_4", "in_2", "in_1"]  # new ones first, deleted gone
    bad = client.post("/_sandbox/records", json={"connector": "stripe", "route": "/v1/nope", "record": new})
    assert bad.status_code == 400 and "no sandbox route" in bad.json()["error"]
    missing_id = client.post(
        "/_sandbox/records", json={"connector": "stripe", "route": "/v1/invoices", "record": {}}
    )
    assert missing_id.status_code == 400


def test_reset_restores_fixtures_and_clears_log_and_faults(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.delete("stripe", "/v1/invoices", "in_6")
    sandbox.add_fault("stripe", "status", status=500, times=-1)
    client.get("/stripe/v1/invoices", headers=AUTH)
    assert client.post("/_sandbox/reset").json() == {"ok": True}
    assert sandbox.requests() == [] and sandbox.faults() == []
    assert ids(client.get("/stripe/v1/invoices", headers=AUTH).json()["data"])[0] == "in_6"


def test_request_log_over_http_and_python(client: httpx.Client, sandbox: Sandbox) -> None:
    client.get("/stripe/v1/invoices", params={"limit": 2, "created[gte]": 5}, headers=AUTH)
    client.get("/google_calendar/calendar/v3/calendars/primary/events")
    log = client.get("/_sandbox/requests").json()["requests"]
    assert log[0] == {
        "connector": "stripe",
        "method": "GET",
        "path": "/v1/invoices",
        "query": {"limit": "2", "created[gte]": "5"},
        "body": None,
        "status": 200,
    }
    assert [r["connector"] for r in sandbox.requests("google_calendar")] == ["google_calendar"]
    assert client.get("/_sandbox").json()["connectors"]["stripe"][0]["protocol"] == "stripe_list"


# ---------------------------------------------------------------- faults


def test_status_fault_429_with_retry_after_for_n_times(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault("stripe", "status", "/v1/invoices", status=429, retry_after=2, times=2)
    statuses = [client.get("/stripe/v1/invoices", headers=AUTH) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "2" and "error" in statuses[0].json()


def test_fault_after_skips_and_forever_repeats(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault("google_calendar", "status", status=503, after=1, times=-1)
    path = "/google_calendar/calendar/v3/calendars/primary/events"
    statuses = [client.get(path).status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 503]
    body = client.get(path).json()
    assert body["error"]["code"] == 503 and body["error"]["errors"][0]["reason"] == "backendError"
    assert client.get("/stripe/v1/invoices", headers=AUTH).status_code == 200  # other connectors untouched


def test_fault_path_prefix_must_match(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault("stripe", "status", "/v1/customers", status=500)
    assert client.get("/stripe/v1/invoices", headers=AUTH).status_code == 200
    assert sandbox.faults()[0].hits == 0


def test_slow_fault_delays_and_stacks_with_a_status(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault("stripe", "slow", delay=0.3)
    sandbox.add_fault("stripe", "status", status=500)
    started = time.monotonic()
    reply = client.get("/stripe/v1/invoices", headers=AUTH)
    assert time.monotonic() - started >= 0.3 and reply.status_code == 500
    assert reply.json()["error"]["type"] == "api_error"


def test_truncated_fault_sends_half_a_body_with_a_matching_length(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.add_fault("stripe", "truncated")
    reply = client.get("/stripe/v1/invoices", headers=AUTH)
    assert reply.status_code == 200 and int(reply.headers["content-length"]) == len(reply.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(reply.content)
    assert client.get("/stripe/v1/invoices", headers=AUTH).json()["object"] == "list"


def test_html_fault_answers_an_html_page(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault("stripe", "html")
    sandbox.add_fault("stripe", "html", status=502)
    first, second = (client.get("/stripe/v1/invoices", headers=AUTH) for _ in range(2))
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert second.status_code == 502 and "<html>" in second.text


def test_expire_tokens_fault_makes_the_next_sync_a_410(client: httpx.Client, sandbox: Sandbox) -> None:
    _, token = full_sync(client)
    sandbox.add_fault("google_calendar", "expire_tokens")
    reply = client.get("/google_calendar/calendar/v3/calendars/primary/events", params={"syncToken": token})
    assert reply.status_code == 410


def test_faults_over_http(client: httpx.Client) -> None:
    rule = {
        "connector": "stripe",
        "path": "/v1",
        "kind": "status",
        "status": 429,
        "retry_after": 1,
        "times": 1,
    }
    added = client.post("/_sandbox/faults", json=rule)
    assert added.status_code == 200 and added.json()["fault"]["kind"] == "status"
    assert client.get("/stripe/v1/invoices", headers=AUTH).status_code == 429
    listed = client.get("/_sandbox/faults").json()["faults"]
    assert listed[0]["hits"] == 1
    assert (
        client.delete("/_sandbox/faults").status_code == 200
        and client.get("/_sandbox/faults").json()["faults"] == []
    )
    for bad in ({"kind": "explode"}, {"kind": "status", "times": "x"}, {"kind": "slow", "oops": 1}, []):
        reply = client.post("/_sandbox/faults", json=bad)
        assert reply.status_code == 400 and "error" in reply.json()
    assert client.post("/_sandbox/faults", json={"kind": "html", "connector": "nope"}).status_code == 400
    assert client.get("/_sandbox/nothing").status_code == 404


# ---------------------------------------------------------------- standalone


def test_module_entry_point_prints_the_url_and_serves(tmp_path: Path) -> None:
    connectors(tmp_path)
    folder = tmp_path / "calendar"
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.sandbox", "--connectors", str(folder)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = httpx.get(f"{url}/google_calendar/calendar/v3/calendars/primary/events", timeout=5)
        assert ids(reply.json()["items"]) == ids(EVENTS)
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0

"""Each sandbox protocol over real HTTP: paging through everything, stopping, and refusing bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engine.sandbox import Sandbox
from engine.spec.models import ConnectorSpec

INVOICES = [
    {"id": f"in_{n:02d}", "object": "invoice", "created": 1_700_000_000 + n * 100} for n in range(25, 0, -1)
]
EVENTS = [
    {
        "id": f"ev{n}",
        "status": "confirmed",
        "updated": f"2024-01-{n:02d}T10:00:00Z",
        "iCalUID": f"ev{n}@google.com",
        "start": {"dateTime": f"2024-02-{n:02d}T09:00:00Z"},
        "end": {"dateTime": f"2024-02-{n:02d}T10:00:00Z"},
    }
    for n in range(1, 9)
]
EVENTS[3]["status"] = "cancelled"
ITEMS = [{"id": f"r{n}", "n": n} for n in range(1, 8)]


def connector(name: str, base_url: str, routes: list[dict[str, Any]], **sandbox: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": name.title(),
        "docs": "https://example.com/docs",
        "base_url": base_url,
        "streams": {"all": {"request": {"path": "/x"}}},
        "sandbox": {"routes": routes, **sandbox},
    }


CONNECTORS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "stripe": (
        connector(
            "stripe",
            "https://api.stripe.com/v1",
            [
                {"path": "/v1/invoices", "protocol": "stripe_list", "fixture": "invoices.json"},
                {
                    "path": "/v1/invoices/{id}",
                    "protocol": "single",
                    "fixture": "invoice.json",
                    "options": {"errors": "stripe"},
                },
            ],
        ),
        {"invoices.json": INVOICES, "invoice.json": {i["id"]: i for i in INVOICES}},
    ),
    "google_calendar": (
        connector(
            "google_calendar",
            "https://www.googleapis.com/calendar/v3",
            [
                {
                    "path": "/calendar/v3/calendars/{calendarId}/events",
                    "protocol": "google_page_token",
                    "fixture": "events.json",
                    "options": {"kind": "calendar#events", "max_page_size": 5, "extra": {"timeZone": "UTC"}},
                },
            ],
        ),
        {"events.json": {"primary": EVENTS, "team@group.calendar.google.com": EVENTS[:2]}},
    ),
    "gmail": (
        connector(
            "gmail",
            "https://gmail.googleapis.com",
            [
                {
                    "path": "/gmail/v1/users/{userId}/messages",
                    "protocol": "google_page_token",
                    "fixture": "messages.json",
                    "options": {"records_key": "messages", "sync": False, "extra": {"resultSizeEstimate": 7}},
                },
                {
                    "path": "/gmail/v1/users/{userId}/messages/{id}",
                    "protocol": "single",
                    "fixture": "message.json",
                    "options": {"errors": "google"},
                },
            ],
        ),
        {"messages.json": {"me": ITEMS}, "message.json": {"me": {"r1": {"id": "r1", "snippet": "hi"}}}},
    ),
    "instagram": (
        connector(
            "instagram",
            "https://graph.instagram.com",
            [
                {"path": "/v21.0/{igUserId}/media", "protocol": "graph_cursor", "fixture": "media.json"},
            ],
        ),
        {"media.json": {"*": ITEMS}},
    ),
    "paypal": (
        connector(
            "paypal",
            "https://api-m.paypal.com",
            [
                {"path": "/v2/invoicing/invoices", "protocol": "paypal_pages", "fixture": "invoices.json"},
            ],
        ),
        {"invoices.json": ITEMS},
    ),
    "notion": (
        connector(
            "notion",
            "https://api.notion.com/v1",
            [
                {
                    "path": "/v1/data_sources/{id}/query",
                    "method": "POST",
                    "protocol": "notion_post_cursor",
                    "fixture": "pages.json",
                },
                {
                    "path": "/v1/users",
                    "protocol": "notion_post_cursor",
                    "fixture": "users.json",
                    "options": {"type": "user"},
                },
            ],
        ),
        {"pages.json": {"ds1": ITEMS}, "users.json": ITEMS[:3]},
    ),
    "github": (
        connector(
            "github",
            "https://api.github.com",
            [
                {"path": "/repos/{owner}/{repo}/issues", "protocol": "link_header", "fixture": "issues.json"},
            ],
        ),
        {"issues.json": {"o": {"r": ITEMS}}},
    ),
    "generic": (
        connector(
            "generic",
            "https://api.example.com",
            [
                {
                    "path": "/api/offset",
                    "protocol": "offset_limit",
                    "fixture": "items.json",
                    "options": {"records_key": "rows"},
                },
                {"path": "/api/pages", "protocol": "page_number", "fixture": "items.json"},
                {"path": "/api/me", "protocol": "single", "fixture": "me.json"},
            ],
        ),
        {"items.json": ITEMS, "me.json": {"id": "u1", "name": "Ada"}},
    ),
    "slack": (
        connector(
            "slack",
            "https://slack.com/api",
            [
                {
                    "path": "/api/conversations.list",
                    "protocol": "slack_cursor",
                    "fixture": "channels.json",
                    "options": {"records_key": "channels"},
                },
            ],
        ),
        {"channels.json": ITEMS},
    ),
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    specs = []
    for name, (spec, fixtures) in CONNECTORS.items():
        folder = tmp_path_factory.mktemp(name)
        for file, value in fixtures.items():
            (folder / file).write_text(json.dumps(value))
        specs.append((ConnectorSpec.model_validate(spec), folder / f"{name}.yaml"))
    with Sandbox(specs) as running:
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


# ---------------------------------------------------------------- stripe_list


def test_stripe_pages_newest_first_until_has_more_is_false(client: httpx.Client) -> None:
    seen, params, calls = [], {"limit": 10}, 0
    while True:
        body = client.get("/stripe/v1/invoices", params=params).json()
        calls += 1
        assert body["object"] == "list" and body["url"] == "/v1/invoices"
        seen += ids(body["data"])
        if not body["has_more"]:
            break
        params["starting_after"] = body["data"][-1]["id"]
    assert seen == ids(INVOICES) and calls == 3


def test_stripe_default_limit_and_ending_before(client: httpx.Client) -> None:
    assert len(client.get("/stripe/v1/invoices").json()["data"]) == 10
    body = client.get("/stripe/v1/invoices", params={"ending_before": "in_10", "limit": 3}).json()
    assert ids(body["data"]) == ["in_13", "in_12", "in_11"] and body["has_more"] is True


def test_stripe_created_filters_on_literal_and_encoded_bracket_keys(client: httpx.Client) -> None:
    literal = client.get("/stripe/v1/invoices?limit=100&created[gte]=1700002000").json()
    assert ids(literal["data"]) == [f"in_{n:02d}" for n in range(25, 19, -1)]
    encoded = client.get(
        "/stripe/v1/invoices", params={"created[gt]": 1_700_002_000, "created[lte]": 1_700_002_200}
    )
    assert ids(encoded.json()["data"]) == ["in_22", "in_21"]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_stripe_refuses_a_bad_limit(client: httpx.Client, limit: str) -> None:
    reply = client.get("/stripe/v1/invoices", params={"limit": limit})
    assert reply.status_code == 400
    assert (
        reply.json()["error"]["type"] == "invalid_request_error" and reply.json()["error"]["param"] == "limit"
    )


def test_stripe_unknown_cursor_is_a_400_like_stripe(client: httpx.Client) -> None:
    reply = client.get("/stripe/v1/invoices", params={"starting_after": "in_nope"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == "No such object: 'in_nope'" and error["param"] == "starting_after"


def test_single_serves_one_object_and_404s_in_the_provider_shape(client: httpx.Client) -> None:
    assert client.get("/stripe/v1/invoices/in_03").json()["id"] == "in_03"
    missing = client.get("/stripe/v1/invoices/in_99")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    assert client.get("/generic/api/me").json() == {"id": "u1", "name": "Ada"}


# ---------------------------------------------------------------- google_page_token


def google_pages(
    client: httpx.Client, path: str, **params: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records, bodies = [], []
    while True:
        reply = client.get(path, params=params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        bodies.append(body)
        records += body.get("items", body.get("messages", []))
        if "nextPageToken" not in body:
            return records, bodies
        params["pageToken"] = body["nextPageToken"]


def test_google_pages_with_page_tokens_and_a_sync_token_on_the_last_page(client: httpx.Client) -> None:
    records, bodies = google_pages(
        client, "/google_calendar/calendar/v3/calendars/primary/events", maxResults=3
    )
    assert ids(records) == ["ev1", "ev2", "ev3", "ev5", "ev6", "ev7", "ev8"]  # ev4 is cancelled
    assert all(b["kind"] == "calendar#events" and b["timeZone"] == "UTC" for b in bodies)
    assert [("nextSyncToken" in b) for b in bodies] == [False, False, True]


def test_google_show_deleted_and_page_size_defaults_and_cap(client: httpx.Client) -> None:
    path = "/google_calendar/calendar/v3/calendars/primary/events"
    assert len(client.get(path, params={"maxResults": 1000}).json()["items"]) == 5  # capped at max_page_size
    records, _ = google_pages(client, path, showDeleted="true")
    assert "ev4" in ids(records) and len(records) == 8


def test_google_filters_time_and_ical_uid(client: httpx.Client) -> None:
    path = "/google_calendar/calendar/v3/calendars/primary/events"
    windowed, _ = google_pages(
        client, path, timeMin="2024-02-06T00:00:00Z", timeMax="2024-02-08T00:00:00+00:00"
    )
    assert ids(windowed) == ["ev6", "ev7"]
    assert ids(client.get(path, params={"iCalUID": "ev2@google.com"}).json()["items"]) == ["ev2"]
    bad = client.get(path, params={"timeMin": "2024-02-06"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 400


@pytest.mark.parametrize("size", ["0", "ten"])
def test_google_refuses_a_bad_page_size(client: httpx.Client, size: str) -> None:
    reply = client.get("/google_calendar/calendar/v3/calendars/primary/events", params={"maxResults": size})
    assert reply.status_code == 400 and reply.json()["error"]["errors"][0]["location"] == "maxResults"


def test_google_keys_fixtures_by_the_decoded_path_placeholder(client: httpx.Client) -> None:
    team = client.get("/google_calendar/calendar/v3/calendars/team%40group.calendar.google.com/events").json()
    assert ids(team["items"]) == ["ev1", "ev2"]
    missing = client.get("/google_calendar/calendar/v3/calendars/nobody/events")
    assert missing.status_code == 404 and missing.json()["error"]["errors"][0]["reason"] == "notFound"


def test_google_refuses_sync_token_with_filters_and_bad_tokens(client: httpx.Client) -> None:
    path = "/google_calendar/calendar/v3/calendars/primary/events"
    clash = client.get(path, params={"syncToken": "x", "timeMin": "2024-01-01T00:00:00Z"})
    assert clash.status_code == 400 and clash.json()["error"]["errors"][0]["domain"] == "global"
    assert client.get(path, params={"pageToken": "not-a-token"}).status_code == 400
    gone = client.get(path, params={"syncToken": "CPnever-issued"})
    assert gone.status_code == 410
    message = "Sync token is no longer valid, a full sync is required."
    assert gone.json() == {
        "error": {
            "errors": [{"domain": "global", "reason": "fullSyncRequired", "message": message}],
            "code": 410,
            "message": message,
        }
    }


def test_gmail_lists_messages_without_sync_tokens_and_gets_one(client: httpx.Client) -> None:
    records, bodies = google_pages(client, "/gmail/gmail/v1/users/me/messages", maxResults=4)
    assert ids(records) == ids(ITEMS) and len(bodies) == 2
    assert all("nextSyncToken" not in b and "kind" not in b for b in bodies)
    assert client.get("/gmail/gmail/v1/users/me/messages/r1").json()["snippet"] == "hi"
    missing = client.get("/gmail/gmail/v1/users/me/messages/zzz")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404


# ---------------------------------------------------------------- graph_cursor


def test_graph_follows_absolute_next_urls_until_there_is_none(client: httpx.Client, sandbox: Sandbox) -> None:
    url: str | None = f"{sandbox.url}/instagram/v21.0/1784/media?fields=id,caption&limit=3"
    seen, bodies = [], []
    while url:
        body = client.get(url).json()
        bodies.append(body)
        seen += ids(body["data"])
        url = body["paging"].get("next")
        if url:
            assert (
                url.startswith(f"{sandbox.url}/instagram/v21.0/1784/media?") and "fields=id%2Ccaption" in url
            )
    assert seen == ids(ITEMS) and len(bodies) == 3
    assert set(bodies[0]["paging"]["cursors"]) == {"before", "after"} and "previous" in bodies[1]["paging"]
    assert len(client.get("/instagram/v21.0/1784/media").json()["data"]) == 7  # default limit 25


def test_graph_before_cursor_and_bad_cursor(client: httpx.Client) -> None:
    first = client.get("/instagram/v21.0/1784/media", params={"limit": 3}).json()
    second = client.get(
        "/instagram/v21.0/1784/media", params={"limit": 3, "after": first["paging"]["cursors"]["after"]}
    ).json()
    back = client.get(
        "/instagram/v21.0/1784/media", params={"limit": 3, "before": second["paging"]["cursors"]["before"]}
    )
    assert ids(back.json()["data"]) == ["r1", "r2", "r3"]
    bad = client.get("/instagram/v21.0/1784/media", params={"after": "!!"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "OAuthException"


# ---------------------------------------------------------------- paypal_pages


def test_paypal_follows_next_links_with_totals(client: httpx.Client, sandbox: Sandbox) -> None:
    url: str | None = f"{sandbox.url}/paypal/v2/invoicing/invoices?page_size=3&total_required=true"
    seen, bodies = [], []
    while url:
        body = client.get(url).json()
        bodies.append(body)
        seen += ids(body["items"])
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == ids(ITEMS) and len(bodies) == 3
    assert bodies[0]["total_items"] == 7 and bodies[0]["total_pages"] == 3
    assert {"rel": "self", "method": "GET"}.items() <= bodies[0]["links"][0].items()
    plain = client.get("/paypal/v2/invoicing/invoices").json()
    assert len(plain["items"]) == 7 and "total_items" not in plain


def test_paypal_refuses_page_size_over_100(client: httpx.Client) -> None:
    reply = client.get("/paypal/v2/invoicing/invoices", params={"page_size": 101})
    assert reply.status_code == 400 and reply.json()["name"] == "INVALID_REQUEST"


# ---------------------------------------------------------------- notion_post_cursor


def test_notion_posts_cursors_until_has_more_is_false(client: httpx.Client) -> None:
    seen, body_in, calls = [], {"page_size": 3}, 0
    while True:
        body = client.post("/notion/v1/data_sources/ds1/query", json=body_in).json()
        calls += 1
        assert body["object"] == "list" and body["type"] == "page_or_data_source"
        seen += ids(body["results"])
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        body_in["start_cursor"] = body["next_cursor"]
    assert seen == ids(ITEMS) and calls == 3
    users = client.get("/notion/v1/users", params={"page_size": 2}).json()
    assert ids(users["results"]) == ["r1", "r2"] and users["next_cursor"] == "r3" and users["type"] == "user"


def test_notion_refuses_a_bad_cursor_and_page_size(client: httpx.Client) -> None:
    bad = client.post("/notion/v1/data_sources/ds1/query", json={"start_cursor": "nope"})
    assert bad.status_code == 400
    assert {"object": "error", "status": 400, "code": "validation_error"}.items() <= bad.json().items()
    assert client.post("/notion/v1/data_sources/ds1/query", json={"page_size": 101}).status_code == 400
    assert client.get("/notion/v1/data_sources/ds1/query").status_code == 405


# ---------------------------------------------------------------- link_header


def test_link_header_pages_until_no_next(client: httpx.Client) -> None:
    url: str | None = "/github/repos/o/r/issues?per_page=3"
    seen, links = [], []
    while url:
        reply = client.get(url)
        seen += ids(reply.json())
        links.append(reply.links)
        url = reply.links.get("next", {}).get("url")
    assert seen == ids(ITEMS) and len(links) == 3
    assert links[0]["last"]["url"].endswith("page=3") and "next" not in links[2] and "prev" in links[2]
    assert "link" not in client.get("/github/repos/o/r/issues").headers  # one page only


# ---------------------------------------------------------------- offset_limit and page_number


def test_offset_limit_reports_the_total(client: httpx.Client) -> None:
    seen, offset = [], 0
    while True:
        body = client.get("/generic/api/offset", params={"offset": offset, "limit": 3}).json()
        assert body["total"] == 7
        if not body["rows"]:
            break
        seen += ids(body["rows"])
        offset += 3
    assert seen == ids(ITEMS)
    assert client.get("/generic/api/offset", params={"offset": -1}).status_code == 400


def test_page_number_reports_total_pages(client: httpx.Client) -> None:
    first = client.get("/generic/api/pages", params={"per_page": 3}).json()
    assert first["page"] == 1 and first["total_pages"] == 3
    last = client.get("/generic/api/pages", params={"per_page": 3, "page": 3}).json()
    assert ids(last["items"]) == ["r7"]
    assert client.get("/generic/api/pages", params={"page": 0}).status_code == 400


# ---------------------------------------------------------------- slack_cursor


def test_slack_pages_until_the_cursor_is_empty(client: httpx.Client) -> None:
    seen, params = [], {"limit": 3}
    while True:
        body = client.get("/slack/api/conversations.list", params=params).json()
        assert body["ok"] is True
        seen += ids(body["channels"])
        cursor = body["response_metadata"]["next_cursor"]
        if cursor == "":
            break
        params["cursor"] = cursor
    assert seen == ids(ITEMS)


def test_slack_bad_cursor_is_ok_false_with_status_200(client: httpx.Client) -> None:
    reply = client.get("/slack/api/conversations.list", params={"cursor": "bm9wZQ=="})
    assert reply.status_code == 200 and reply.json() == {"ok": False, "error": "invalid_cursor"}

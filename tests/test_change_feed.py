"""The `change_feed` incremental, incremental substream parents, `max_records`, `skip_statuses`,
repeated parameters, `parent.key`; webhook body decoding and account routing; the
`b64urlencode` and `mime_message` filters and the `count` transform."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from engine.control import ConnectionRecord
from engine.control.inbox import StoredEvent
from engine.destinations import StateKey
from engine.destinations.duckdb import DuckDBDestination
from engine.incremental import build_incremental
from engine.pages import Page
from engine.paths import compile_path
from engine.runtime import Connection, ConnectorRuntime
from engine.spec.loader import load_connector
from engine.spec.models import ChangeFeedIncremental
from engine.sync import sync_connector
from engine.templating import render_native
from engine.transforms import compile_transform
from engine.webhooks.apply import EventApplier
from engine.webhooks.decoding import UndecodableField, decode_body

SPEC = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: mail
title: Mail
docs: https://developers.google.com/gmail/api/reference/rest
config: {type: object, properties: {first: {type: integer}}}
base_url: https://gmail.googleapis.com
http: {concurrency: 3, retry: {max_attempts: 2, backoff: 0}}
streams:
  ids:
    request: {path: /gmail/v1/users/me/messages, params: {maxResults: 2, labelIds: [INBOX, UNREAD]}}
    records: messages
    max_records: "{{ config.first | default(3) }}"
    paging: {type: page_token}
    incremental:
      type: change_feed
      start: {request: {path: /gmail/v1/users/me/profile}, token: historyId}
      request: {path: /gmail/v1/users/me/history, params: {historyTypes: [messageAdded]}}
      records: history.*.messagesAdded.*.message
      param: startHistoryId
      token: historyId
  messages:
    parent: {stream: ids, incremental: true}
    request: {path: "/gmail/v1/users/me/messages/{{ parent.id }}"}
    skip_statuses: [404]
    into: email_messages
    fields: {id: id, thread_id: threadId, history_id: historyId}
  threads:
    parent: {stream: ids, incremental: true, key: threadId}
    request: {path: "/gmail/v1/users/me/threads/{{ parent.threadId }}"}
    into: email_threads
    fields: {id: id, message_count: {path: messages, as: count}}
webhooks:
  verify: {scheme: none}
  decode: {message.data: b64json}
  event_id: message.messageId
  event_type: {value: gmail.history}
  route: {path: message.data.emailAddress, account: emailAddress}
  events:
    gmail.history: {sync: {streams: [messages]}}
"""

LISTED = [{"id": f"m{i}", "threadId": f"t{i // 2}"} for i in range(9, 0, -1)]  # newest first


class FakeGmail:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.history_id = "500"
        self.added: list[dict[str, Any]] = []
        self.gone: set[str] = set()
        self.broken: set[str] = set()
        self.expired = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, params = request.url.path, request.url.params
        if path.endswith("/profile"):
            return httpx.Response(200, json={"emailAddress": "maya@x.io", "historyId": self.history_id})
        if path.endswith("/messages"):
            start = int(params.get("pageToken", "0"))
            body: dict[str, Any] = {"messages": LISTED[start : start + 2]}
            if start + 2 < len(LISTED):
                body["nextPageToken"] = str(start + 2)
            return httpx.Response(200, json=body)
        if path.endswith("/history"):
            if self.expired:
                return httpx.Response(
                    404, json={"error": {"code": 404, "message": "Requested entity was not found."}}
                )
            history = [{"id": "501", "messagesAdded": [{"message": m} for m in self.added]}, {"id": "502"}]
            return httpx.Response(200, json={"history": history, "historyId": "503"})
        kind, ident = path.rsplit("/", 2)[-2:]
        if ident in self.broken:
            return httpx.Response(500, json={"error": {"code": 500, "message": "Backend Error"}})
        if ident in self.gone:
            return httpx.Response(
                404, json={"error": {"code": 404, "message": "Requested entity was not found."}}
            )
        if kind == "threads":
            return httpx.Response(200, json={"id": ident, "messages": [{"id": "a"}, {"id": "b"}]})
        return httpx.Response(200, json={"id": ident, "threadId": "t", "historyId": "499"})

    def paths(self, end: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(end)]

    def gets(self) -> list[str]:
        return sorted(r.url.path.rsplit("/", 1)[1] for r in self.requests if "/messages/" in r.url.path)


@pytest.fixture
def mail(tmp_path: Path) -> Any:
    path = tmp_path / "mail.yaml"
    path.write_text(SPEC)
    loaded = load_connector(path)
    fake = FakeGmail()
    destination = DuckDBDestination(tmp_path / "w.duckdb")

    def run(streams: list[str], config: dict[str, Any] | None = None, ok: bool = True) -> None:
        runtime = ConnectorRuntime(
            loaded, Connection("maya", config or {}), environ={}, transport=httpx.MockTransport(fake)
        )
        results = sync_connector(runtime, destination, streams=streams)
        assert all(r.ok for r in results) is ok, [r.error for r in results]

    yield fake, destination, run
    destination.close()


def test_a_full_run_reads_the_start_token_then_the_newest_records_up_to_max_records(mail: Any) -> None:
    fake, destination, run = mail
    run(["messages"])
    assert len(fake.paths("/profile")) == 1 and fake.paths("/history") == []
    lists = fake.paths("/messages")
    assert len(lists) == 2  # 2 per page; the cap of 3 is reached on page 2
    assert lists[0].url.params.get_list("labelIds") == ["INBOX", "UNREAD"]  # a list param repeats
    assert fake.gets() == ["m7", "m8", "m9"]
    state = destination.get_state(StateKey("mail", "messages", "maya"))
    assert state["parent"] == {"": {"token": "500"}} and state["slices"] == {}


def test_later_runs_read_the_feed_from_the_token_and_advance_it(mail: Any) -> None:
    fake, destination, run = mail
    run(["messages"], {"first": 1})
    fake.requests.clear()
    fake.added = [{"id": "m10", "threadId": "t5"}, {"id": "m11", "threadId": "t5"}]
    run(["messages"])
    [history] = fake.paths("/history")
    assert history.url.params["startHistoryId"] == "500"
    assert history.url.params.get_list("historyTypes") == ["messageAdded"]
    assert fake.paths("/messages") == [] and fake.paths("/profile") == []
    assert fake.gets() == ["m10", "m11"]
    assert destination.get_state(StateKey("mail", "messages", "maya"))["parent"] == {"": {"token": "503"}}
    rows = destination.connection.execute("SELECT id FROM email_messages ORDER BY id").fetchall()
    assert rows == [("m10",), ("m11",), ("m9",)]


def test_an_expired_token_runs_a_full_sync_with_the_start_request(mail: Any) -> None:
    fake, destination, run = mail
    run(["messages"], {"first": 1})
    fake.requests.clear()
    fake.expired, fake.history_id = True, "777"
    run(["messages"], {"first": 2})
    assert len(fake.paths("/history")) == 1 and len(fake.paths("/profile")) == 1
    assert fake.gets() == ["m8", "m9"]
    assert destination.get_state(StateKey("mail", "messages", "maya"))["parent"] == {"": {"token": "777"}}


def test_a_failed_child_keeps_the_parent_state_and_a_gone_object_is_skipped(mail: Any) -> None:
    fake, destination, run = mail
    run(["messages"], {"first": 1})
    fake.gone = {"m10"}
    fake.added = [{"id": "m10", "threadId": "t5"}, {"id": "m11", "threadId": "t5"}]
    run(["messages"])  # m10 was deleted since: 404 skipped, m11 loaded
    assert destination.connection.execute("SELECT count(*) FROM email_messages").fetchone() == (2,)
    assert destination.get_state(StateKey("mail", "messages", "maya"))["parent"] == {"": {"token": "503"}}
    fake.gone, fake.broken = set(), {"m13"}
    fake.added = [{"id": "m12", "threadId": "t6"}, {"id": "m13", "threadId": "t6"}]
    run(["messages"], ok=False)  # m13 keeps failing: the feed's token must not move past it
    assert destination.get_state(StateKey("mail", "messages", "maya"))["parent"] == {"": {"token": "503"}}
    fake.broken, fake.requests = set(), []
    run(["messages"])
    assert fake.paths("/history")[0].url.params["startHistoryId"] == "503" and "m13" in fake.gets()


def test_parent_key_runs_one_slice_per_thread(mail: Any) -> None:
    fake, destination, run = mail
    run(["threads"], {"first": 4})  # m9 m8 m7 m6 -> threads t4 t4 t3 t3
    threads = sorted(r.url.path.rsplit("/", 1)[1] for r in fake.requests if "/threads/" in r.url.path)
    assert threads == ["t3", "t4"]
    rows = destination.connection.execute(
        "SELECT id, message_count FROM email_threads ORDER BY id"
    ).fetchall()
    assert rows == [("t3", 2), ("t4", 2)]


def test_the_feed_style_keeps_the_largest_record_token_when_there_is_no_start_request() -> None:
    spec = ChangeFeedIncremental(type="change_feed", record_token="historyId", request={"path": "/h"},
                                 records="history", param="startHistoryId", token="historyId")  # fmt: skip
    style = build_incremental(spec)
    high = style.observe([{"historyId": "99"}, {"historyId": "1000"}, {}], None)
    high = style.observe([{"historyId": "998"}], high)
    assert high == "1000"  # numeric strings compare as numbers
    empty = Page("https://x", 200, httpx.Headers(), {}, [])
    assert style.finish({}, high, empty) == {"token": "1000"}
    assert style.start_params({"token": "1000"}) == {"startHistoryId": "1000"}
    fed = Page("https://x", 200, httpx.Headers(), {"historyId": "1200"}, [])
    assert style.finish({"token": "1000"}, None, fed) == {"token": "1200"} and style.expired(404)


def test_a_change_feed_needs_a_first_token() -> None:
    with pytest.raises(ValueError, match="start` or `record_token"):
        ChangeFeedIncremental(type="change_feed", request={"path": "/h"}, records="h", param="p", token="t")


def test_fan_out_paths_flatten_nested_lists() -> None:
    body = {"history": [{"messagesAdded": [{"message": {"id": "a"}}, {"message": {"id": "b"}}]}, {"id": "x"}]}
    assert compile_path("history.*.messagesAdded.*.message.id")(body) == ["a", "b"]
    assert compile_path("history.*.id")(body) == ["x"]
    assert compile_path("nothing.*.id")(body) is None


# ---------------------------------------------------------------- webhooks


def pubsub(mailbox: str) -> bytes:
    data = base64.b64encode(orjson.dumps({"emailAddress": mailbox, "historyId": "9"})).decode()
    return orjson.dumps(
        {"message": {"data": data, "messageId": "42"}, "subscription": "projects/p/subscriptions/s"}
    )


def test_b64json_fields_decode_in_a_copy_and_bad_ones_name_the_field() -> None:
    body = orjson.loads(pubsub("maya@x.io"))
    decoded = decode_body(body, {"message.data": "b64json", "absent.data": "b64json"})
    assert decoded["message"]["data"] == {"emailAddress": "maya@x.io", "historyId": "9"}
    assert isinstance(body["message"]["data"], str)
    with pytest.raises(UndecodableField, match="'message.data' is not base64-encoded JSON"):
        decode_body({"message": {"data": "bm90IGpzb24="}}, {"message.data": "b64json"})


def test_events_route_to_the_connection_whose_account_matches(tmp_path: Path) -> None:
    path = tmp_path / "mail.yaml"
    path.write_text(SPEC)
    applier = EventApplier(load_connector(path))
    records = [
        ConnectionRecord(connector="mail", id="ops", account={"emailAddress": "ops@x.io"}, connected=True),
        ConnectionRecord(connector="mail", id="maya", account={"emailAddress": "Maya@X.io"}, connected=True),
    ]
    applier.connections = lambda: records

    def event(mailbox: str) -> StoredEvent:
        return StoredEvent(connector="mail", event_id="42", connection_id=None, event_type="gmail.history",
                           headers={}, body=pubsub(mailbox), received_at="2024-11-07T11:12:13+00:00",
                           state="pending", attempts=0)  # fmt: skip

    plan = applier.plan(event("maya@x.io"))
    assert plan is not None and plan.connection_id == "maya" and plan.sync is not None
    assert plan.sync.streams == ["messages"]
    assert applier.plan(event("stranger@x.io")) is None  # no connection holds that mailbox: ignored


# ---------------------------------------------------------------- templates and transforms


def test_b64urlencode_and_mime_message_build_gmail_raw() -> None:
    template = ("{{ {'To': input.to, 'Cc': input.cc | default(none), 'Subject': input.subject}"
                " | mime_message(text=input.text) | b64urlencode }}")  # fmt: skip
    raw = render_native(
        template, {}, {"input": {"to": ["a@x.io", "Zoë <z@x.io>"], "subject": "Ça va?", "text": "hi\n"}}
    )
    assert "=" not in raw and "+" not in raw and "/" not in raw
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"To: a@x.io, =?utf-8?q?Zo=C3=AB?= <z@x.io>\r\nSubject: =?utf-8?")
    assert b"Cc:" not in head and body == b"hi\r\n"


def test_count_transform() -> None:
    assert compile_transform("count")([1, 2, 3]) == 3

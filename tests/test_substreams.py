"""Substreams and partitions: one slice per parent record or config value, run under the concurrency bound."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import orjson

from engine.destinations.duckdb import DuckDBDestination
from engine.runtime import Connection, ConnectorRuntime
from engine.spec.loader import load_connector
from engine.sync import sync_connector

SPEC = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: mail
title: Mail
docs: https://developers.google.com/gmail/api/reference/rest
config:
  type: object
  properties: {labels: {type: array, items: {type: string}}}
base_url: https://gmail.googleapis.com
http: {concurrency: 4, retry: {max_attempts: 2, backoff: 0}}
streams:
  message_ids:
    request: {path: /gmail/v1/users/me/messages, params: {maxResults: 10}}
    records: messages
    paging: {type: page_token}
  messages:
    parent: {stream: message_ids}
    request: {path: "/gmail/v1/users/me/messages/{{ parent.id }}", params: {format: metadata}}
    into: email_messages
    fields:
      id: id
      thread_id: threadId
      snippet: snippet
  labelled:
    partitions: {config: labels, field: thread_id}
    request: {path: /gmail/v1/users/me/messages, params: {labelIds: "{{ partition }}"}}
    records: messages
    paging: {type: page_token}
    into: email_messages
    fields:
      id: id
"""

IDS = [f"18c{i:013x}" for i in range(30)]


class FakeGmail:
    """messages.list with page tokens, messages.get with latency; tracks requests in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.gets: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/messages"):
            if "labelIds" in request.url.params:
                label = request.url.params["labelIds"]
                return httpx.Response(200, json={"messages": [{"id": f"{label}-1", "threadId": "t"}]})
            start = int(request.url.params.get("pageToken", "0"))
            body: dict = {"messages": [{"id": i, "threadId": i} for i in IDS[start : start + 10]]}
            if start + 10 < len(IDS):
                body["nextPageToken"] = str(start + 10)
            return httpx.Response(200, json=body)
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.02)
        with self.lock:
            self.in_flight -= 1
            self.gets.append(path.rsplit("/", 1)[1])
        message_id = path.rsplit("/", 1)[1]
        return httpx.Response(
            200, content=orjson.dumps({"id": message_id, "threadId": message_id, "snippet": "hi"})
        )


def run(tmp_path: Path, fake: FakeGmail, streams: list[str], config: dict | None = None) -> DuckDBDestination:
    path = tmp_path / "mail.yaml"
    path.write_text(SPEC)
    loaded = load_connector(path)
    runtime = ConnectorRuntime(
        loaded, Connection("maya", config or {}), environ={}, transport=httpx.MockTransport(fake)
    )
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    results = sync_connector(runtime, destination, streams=streams)
    assert all(r.ok for r in results), [r.error for r in results]
    return destination


def test_every_parent_record_gets_one_child_request_within_the_bound(tmp_path: Path) -> None:
    fake = FakeGmail()
    destination = run(tmp_path, fake, ["messages"])
    assert sorted(fake.gets) == IDS
    assert 2 <= fake.most <= 4
    count = destination.connection.execute(
        "SELECT count(*), count(DISTINCT id) FROM email_messages"
    ).fetchone()
    assert count == (30, 30)


def test_partitions_run_once_per_config_value_and_fill_their_column(tmp_path: Path) -> None:
    destination = run(tmp_path, FakeGmail(), ["labelled"], {"labels": ["INBOX", "STARRED"]})
    rows = destination.connection.execute("SELECT id, thread_id FROM email_messages ORDER BY id").fetchall()
    assert rows == [("INBOX-1", "INBOX"), ("STARRED-1", "STARRED")]

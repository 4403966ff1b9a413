"""server_token with `start` and `changes` (Drive: files first, then the changes feed), parent
batches (`parent.batch`), `poll: false` streams, `omit_empty` params and an action result's `merge`,
at unit level with httpx MockTransport."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError

from engine.actions.run import run_action
from engine.destinations.duckdb import DuckDBDestination
from engine.errors import SpecError
from engine.incremental import build_incremental
from engine.pages import Page
from engine.runtime import Connection, ConnectorRuntime
from engine.spec.loader import load_connector
from engine.spec.models import ParentSpec, ServerTokenIncremental, StreamSpec
from engine.sync import loadable_streams, sync_connector

SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"

SPEC: dict[str, Any] = {
    "name": "drivelike",
    "title": "Drive-like",
    "docs": "https://developers.google.com/workspace/drive/api/reference/rest/v3",
    "config": {"type": "object", "properties": {"include_trashed": {"type": "boolean"}}},
    "base_url": "https://www.googleapis.com",
    "http": {"retry": {"max_attempts": 2, "backoff": 0}},
    "streams": {
        "files": {
            "request": {
                "path": "/drive/v3/files",
                "omit_empty": True,
                "params": {
                    "q": "{{ '' if config.get('include_trashed') else 'trashed = false' }}",
                    "pageSize": 2,
                },
            },
            "records": "files",
            "paging": {"type": "page_token"},
            "incremental": {
                "type": "server_token",
                "token": "newStartPageToken",
                "param": "pageToken",
                "expired_status": [],
                "start": {"request": {"path": "/drive/v3/changes/startPageToken"}, "token": "startPageToken"},
                "changes": {
                    "request": {"path": "/drive/v3/changes", "params": {"pageSize": 2}},
                    "records": "changes",
                    "filter": {"field": "changeType", "equals": "file"},
                    "record": "file",
                    "carry": {"id": "fileId", "removed": "removed"},
                },
            },
            "into": "files",
            "fields": {
                "id": "id",
                "name": "name",
                "trashed": {"coalesce": ["trashed", "removed"], "as": "boolean", "default": False},
            },
        },
        "file_links": {
            "poll": False,
            "into": "file_links",
            "fields": {"id": "id", "file_id": "file_id", "file_name": "name", "record_id": "record_id"},
        },
    },
    "actions": {
        "link_file": {
            "input": {"type": "object", "required": ["file_id", "record_id"]},
            "request": {"method": "GET", "path": "/drive/v3/files/{{ input.file_id }}"},
            "result": {
                "apply": "file_links",
                "merge": {
                    "id": "{{ input.record_id }}:{{ result.id }}",
                    "file_id": "{{ result.id }}",
                    "record_id": "{{ input.record_id }}",
                    "size": "{{ result.size * 2 }}",
                },
            },
        }
    },
}


class FakeDrive:
    """files.list (two pages), a start token, a changes feed of two pages (one a shared-drive
    change, one a removed file), files.get."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, dict(request.url.params)
        with self.lock:
            self.calls.append((path, params))
        if path == "/drive/v3/changes/startPageToken":
            return httpx.Response(200, json={"kind": "drive#startPageToken", "startPageToken": "100"})
        if path == "/drive/v3/files":
            if params.get("pageToken") == "p2":
                return httpx.Response(200, json={"files": [{"id": "c", "name": "C"}]})
            return httpx.Response(
                200,
                json={"nextPageToken": "p2", "files": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]},
            )
        if path == "/drive/v3/changes":
            if params["pageToken"] == "100":
                changes = [
                    {
                        "changeType": "file",
                        "fileId": "a",
                        "removed": False,
                        "file": {"id": "a", "name": "A2"},
                    },
                    {"changeType": "drive", "driveId": "0AD", "removed": False},
                ]
                return httpx.Response(200, json={"nextPageToken": "101", "changes": changes})
            changes = [{"changeType": "file", "fileId": "b", "removed": True}]
            return httpx.Response(200, json={"newStartPageToken": "102", "changes": changes})
        if path.startswith("/drive/v3/files/"):
            return httpx.Response(200, json={"id": path.rsplit("/", 1)[1], "name": "Deck", "size": 21})
        return httpx.Response(404, json={"error": {"code": 404, "message": "not found"}})


def runtime_for(
    tmp_path: Path, fake: FakeDrive, spec: dict[str, Any] | None = None, **config: Any
) -> ConnectorRuntime:
    path = tmp_path / "drivelike.yaml"
    path.write_text(SCHEMA_LINE + yaml.safe_dump(spec or SPEC))
    return ConnectorRuntime(
        load_connector(path), Connection("maya", config), environ={}, transport=httpx.MockTransport(fake)
    )


def test_first_run_takes_the_start_token_before_listing_then_reads_changes(tmp_path: Path) -> None:
    fake = FakeDrive()
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    first = sync_connector(runtime_for(tmp_path, fake), destination)
    assert [r.error for r in first] == [None] and first[0].state == {"slices": {"": {"token": "100"}}}
    assert [c[0] for c in fake.calls] == [
        "/drive/v3/changes/startPageToken",
        "/drive/v3/files",
        "/drive/v3/files",
    ]
    assert fake.calls[1][1]["q"] == "trashed = false"
    rows = destination.connection.execute("SELECT id, name, trashed FROM files ORDER BY id").fetchall()
    assert rows == [("a", "A", False), ("b", "B", False), ("c", "C", False)]

    fake.calls.clear()
    second = sync_connector(runtime_for(tmp_path, fake), destination)
    assert second[0].state == {"slices": {"": {"token": "102"}}} and second[0].records == 2
    assert fake.calls == [
        ("/drive/v3/changes", {"pageSize": "2", "pageToken": "100"}),
        ("/drive/v3/changes", {"pageSize": "2", "pageToken": "101"}),
    ]
    rows = destination.connection.execute("SELECT id, name, trashed FROM files ORDER BY id").fetchall()
    assert rows == [("a", "A2", False), ("b", None, True), ("c", "C", False)]


def test_omit_empty_leaves_out_a_param_that_renders_empty(tmp_path: Path) -> None:
    fake = FakeDrive()
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    sync_connector(runtime_for(tmp_path, fake, include_trashed=True), destination)
    assert "q" not in fake.calls[1][1] and fake.calls[1][1]["pageSize"] == "2"


def test_a_run_killed_mid_listing_keeps_the_start_token(tmp_path: Path) -> None:
    style = build_incremental(
        ServerTokenIncremental(type="server_token", token="newStartPageToken", param="pageToken")
    )
    listing_page = Page("https://x", 200, httpx.Headers(), {"files": []}, [])
    assert style.finish({}, "100", listing_page) == {"token": "100"}  # carried in `high`
    changes_page = Page("https://x", 200, httpx.Headers(), {"newStartPageToken": "7"}, [])
    assert style.finish({"token": "5"}, None, changes_page) == {"token": "7"}
    assert style.finish({"token": "5"}, None, listing_page) == {"token": "5"}


def test_poll_false_streams_are_not_synced_but_take_action_results(tmp_path: Path) -> None:
    fake = FakeDrive()
    runtime = runtime_for(tmp_path, fake)
    assert loadable_streams(runtime) == ["files"]
    assert loadable_streams(runtime, ["file_links"]) == []
    outcome = run_action(runtime, "link_file", {"file_id": "f9", "record_id": "deal_1"})
    assert outcome.record == {
        "id": "deal_1:f9",
        "name": "Deck",
        "size": 42,  # a single expression keeps its type
        "file_id": "f9",
        "record_id": "deal_1",
    }


def test_a_stream_without_a_request_is_never_polled() -> None:
    with pytest.raises(ValidationError, match="filled by webhooks and actions only"):
        StreamSpec.model_validate({})
    quiet = StreamSpec.model_validate({"poll": False, "into": "files"})
    assert quiet.request is None and not quiet.polled
    assert not StreamSpec.model_validate({"into": "files"}).polled


def test_merge_templates_are_checked(tmp_path: Path) -> None:
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    spec["actions"]["link_file"]["result"]["merge"]["record_id"] = "{{ parent.id }}"
    with pytest.raises(SpecError, match="undefined name 'parent'"):
        runtime_for(tmp_path, FakeDrive(), spec)


# ---------------------------------------------------------------- parent batches

BATCHED: dict[str, Any] = {
    "name": "tube",
    "title": "Tube",
    "docs": "https://developers.google.com/youtube/v3/docs",
    "base_url": "https://youtube.googleapis.com",
    "http": {"retry": {"max_attempts": 2, "backoff": 0}, "concurrency": 2},
    "streams": {
        "uploads": {
            "request": {"path": "/youtube/v3/playlistItems", "params": {"maxResults": 3}},
            "records": "items",
            "paging": {"type": "page_token"},
        },
        "videos": {
            "parent": {"stream": "uploads", "batch": 3},
            "request": {
                "path": "/youtube/v3/videos",
                "params": {"id": "{{ parents | map(attribute='contentDetails.videoId') | join(',') }}"},
            },
            "records": "items",
            "into": "social_posts",
            "fields": {"id": "id", "view_count": {"path": "statistics.viewCount", "as": "integer"}},
        },
    },
}
VIDEO_IDS = [f"v{n}" for n in range(8)]


class FakeTube:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        if request.url.path.endswith("/playlistItems"):
            start = int(params.get("pageToken", "0"))
            items = [{"id": f"pi{v}", "contentDetails": {"videoId": v}} for v in VIDEO_IDS[start : start + 3]]
            body: dict[str, Any] = {"items": items}
            if start + 3 < len(VIDEO_IDS):
                body["nextPageToken"] = str(start + 3)
            return httpx.Response(200, json=body)
        ids = params["id"].split(",")
        with self.lock:
            self.batches.append(ids)
        return httpx.Response(200, json={"items": [{"id": v, "statistics": {"viewCount": "7"}} for v in ids]})


def test_a_batched_substream_sends_one_request_per_batch_of_parents(tmp_path: Path) -> None:
    path = tmp_path / "tube.yaml"
    path.write_text(SCHEMA_LINE + yaml.safe_dump(BATCHED))
    fake = FakeTube()
    runtime = ConnectorRuntime(
        load_connector(path), Connection(), environ={}, transport=httpx.MockTransport(fake)
    )
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    (result,) = sync_connector(runtime, destination)
    assert result.error is None and result.records == 8
    assert sorted(fake.batches) == [["v0", "v1", "v2"], ["v3", "v4", "v5"], ["v6", "v7"]]
    assert destination.connection.execute(
        "SELECT count(*), sum(view_count) FROM social_posts"
    ).fetchone() == (8, 56)
    assert result.state["slices"] == {}  # finished batch slices with nothing to resume are not kept


def test_batch_templates_see_parents_not_parent(tmp_path: Path) -> None:
    spec = yaml.safe_load(yaml.safe_dump(BATCHED))
    spec["streams"]["videos"]["request"]["params"]["id"] = "{{ parent.id }}"
    path = tmp_path / "tube.yaml"
    path.write_text(SCHEMA_LINE + yaml.safe_dump(spec))
    with pytest.raises(SpecError, match="undefined name 'parent'"):
        load_connector(path)


def test_a_batch_cannot_fill_columns_from_one_parent() -> None:
    with pytest.raises(ValidationError, match="a batch has many"):
        ParentSpec.model_validate({"stream": "uploads", "batch": 50, "fields": {"account_id": "channelId"}})
    with pytest.raises(ValidationError):
        ParentSpec.model_validate({"stream": "uploads", "batch": 0})

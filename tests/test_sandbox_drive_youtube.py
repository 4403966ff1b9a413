"""The Drive and YouTube sandbox protocols, without sockets: Drive's `q`, partial responses
(`fields`), the changes feed over the files collection, files.get; YouTube's `part`, filters and
the 50-id ceiling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from engine.sandbox.app import SandboxApp
from engine.sandbox.protocols.base import BadRequest
from engine.sandbox.protocols.drive import file_query
from engine.sandbox.protocols.google_fields import parse_fields, select
from engine.spec.models import ConnectorSpec

FILES = [
    {
        "id": "f1",
        "name": "Deck",
        "mimeType": "application/pdf",
        "trashed": False,
        "parents": ["root"],
        "size": "10",
    },
    {"id": "f2", "name": "Folder", "mimeType": "application/vnd.google-apps.folder", "trashed": False},
    {"id": "f3", "name": "Old", "mimeType": "text/plain", "trashed": True, "parents": ["root"]},
]
VIDEOS = [
    {
        "kind": "youtube#video",
        "etag": "e",
        "id": f"v{n}",
        "snippet": {"title": f"T{n}"},
        "statistics": {"viewCount": "1"},
    }
    for n in range(60)
]


@pytest.fixture
def app(tmp_path: Path) -> SandboxApp:
    (tmp_path / "files.json").write_text(json.dumps(FILES))
    (tmp_path / "videos.json").write_text(json.dumps(VIDEOS))
    spec = ConnectorSpec.model_validate(
        {
            "name": "gd",
            "title": "GD",
            "docs": "https://developers.google.com/drive",
            "base_url": "https://www.googleapis.com",
            "streams": {"all": {"request": {"path": "/x"}}},
            "sandbox": {
                "routes": [
                    {"path": "/drive/v3/files", "protocol": "drive_files", "fixture": "files.json"},
                    {
                        "path": "/drive/v3/changes/startPageToken",
                        "protocol": "drive_start_page_token",
                        "fixture": "files.json",
                    },
                    {"path": "/drive/v3/changes", "protocol": "drive_changes", "fixture": "files.json"},
                    {
                        "path": "/drive/v3/files/{fileId}",
                        "protocol": "drive_file_get",
                        "fixture": "files.json",
                    },
                    {
                        "path": "/youtube/v3/videos",
                        "protocol": "youtube_list",
                        "fixture": "videos.json",
                        "options": {"kind": "youtube#videoListResponse", "filters": {"id": "id"}},
                    },
                ]
            },
        }
    )
    return SandboxApp([(spec, tmp_path / "gd.yaml")])


def get(app: SandboxApp, path: str, **params: Any) -> tuple[int, Any]:
    reply = app.handle("GET", f"/gd{path}?{urlencode(params)}", {}, b"")
    return reply.status, orjson.loads(reply.body)


def test_files_list_filters_by_q_and_returns_the_fields_asked_for(app: SandboxApp) -> None:
    status, body = get(app, "/drive/v3/files", q="trashed = false", fields="nextPageToken,files(id,trashed)")
    assert status == 200 and body == {
        "files": [{"id": "f1", "trashed": False}, {"id": "f2", "trashed": False}]
    }
    _, body = get(app, "/drive/v3/files")  # Drive lists the trash unless q leaves it out; default fields
    assert [f["id"] for f in body["files"]] == ["f1", "f2", "f3"]
    assert set(body["files"][0]) == {"kind", "id", "name", "mimeType"}
    _, body = get(app, "/drive/v3/files", pageSize=1, q="'root' in parents", fields="nextPageToken,files(id)")
    assert body["files"] == [{"id": "f1"}] and body["nextPageToken"]
    _, body = get(app, "/drive/v3/files", pageSize=1, pageToken=body["nextPageToken"], q="'root' in parents")
    assert [f["id"] for f in body["files"]] == ["f3"] and "nextPageToken" not in body
    status, body = get(app, "/drive/v3/files", q="modifiedTime > 'yesterday'")
    assert status == 400 and body["error"]["message"] == "Invalid Value"
    status, _ = get(app, "/drive/v3/files", includeItemsFromAllDrives="true")
    assert status == 400


def test_q_grammar() -> None:
    folder = "mimeType = 'application/vnd.google-apps.folder'"
    assert file_query(f"not {folder} and trashed = false")({"mimeType": "x", "trashed": False})
    assert file_query(f"{folder} or name contains 'Dec'")({"name": "Deck"})
    assert not file_query("trashed = true")({})
    with pytest.raises(BadRequest):
        file_query("fullText contains 'x'")


def test_fields_selector() -> None:
    tree = parse_fields("nextPageToken,files(id,owners(emailAddress)),kind/x")
    value = {
        "nextPageToken": "n",
        "files": [{"id": 1, "size": 2, "owners": [{"emailAddress": "e", "me": True}]}],
    }
    assert select(value, tree) == {
        "nextPageToken": "n",
        "files": [{"id": 1, "owners": [{"emailAddress": "e"}]}],
    }
    for bad in ("files(", "a,,b", "a()", "a,"):
        with pytest.raises(BadRequest):
            parse_fields(bad)


def test_changes_feed_follows_the_files_collection(app: SandboxApp) -> None:
    _, start = get(app, "/drive/v3/changes/startPageToken")
    token = start["startPageToken"]
    _, body = get(app, "/drive/v3/changes", pageToken=token)
    assert body["changes"] == [] and body["newStartPageToken"] == token
    app.upsert("gd", "/drive/v3/files", {**FILES[0], "name": "Deck v2"})
    app.delete("gd", "/drive/v3/files", "f2")
    app.upsert("gd", "/drive/v3/files", {"id": "f4", "name": "New", "trashed": False})
    fields = "nextPageToken,newStartPageToken,changes(fileId,removed,file(id,name))"
    _, first = get(app, "/drive/v3/changes", pageToken=token, pageSize=2, fields=fields)
    assert first["changes"] == [
        {"fileId": "f1", "removed": False, "file": {"id": "f1", "name": "Deck v2"}},
        {"fileId": "f2", "removed": True},
    ]
    assert "newStartPageToken" not in first
    _, second = get(app, "/drive/v3/changes", pageToken=first["nextPageToken"], pageSize=2, fields=fields)
    assert second["changes"] == [{"fileId": "f4", "removed": False, "file": {"id": "f4", "name": "New"}}]
    _, later = get(app, "/drive/v3/changes", pageToken=second["newStartPageToken"])
    assert later["changes"] == []
    _, without_removed = get(app, "/drive/v3/changes", pageToken=token, includeRemoved="false", fields=fields)
    assert [c["fileId"] for c in without_removed["changes"]] == ["f1", "f4"]
    status, body = get(app, "/drive/v3/changes")
    assert status == 400 and "pageToken" in body["error"]["message"]


def test_files_get_reads_the_collection(app: SandboxApp) -> None:
    status, body = get(app, "/drive/v3/files/f1", fields="id,name,size")
    assert status == 200 and body == {"id": "f1", "name": "Deck", "size": "10"}
    app.delete("gd", "/drive/v3/files", "f1")
    status, body = get(app, "/drive/v3/files/f1")
    assert status == 404 and body["error"]["message"] == "File not found: f1."


def test_youtube_part_filters_and_the_fifty_id_ceiling(app: SandboxApp) -> None:
    status, body = get(app, "/youtube/v3/videos", part="statistics", id="v1,v2,nope")
    assert status == 200 and [v["id"] for v in body["items"]] == ["v1", "v2"]
    assert set(body["items"][0]) == {"kind", "etag", "id", "statistics"}
    status, _ = get(app, "/youtube/v3/videos", part="snippet", id=",".join(f"v{n}" for n in range(51)))
    assert status == 400
    status, _ = get(app, "/youtube/v3/videos", id="v1")  # part is required
    assert status == 400
    _, page = get(app, "/youtube/v3/videos", part="id", maxResults=50)
    assert len(page["items"]) == 50 and page["pageInfo"] == {"totalResults": 60, "resultsPerPage": 50}
    _, rest = get(app, "/youtube/v3/videos", part="id", maxResults=50, pageToken=page["nextPageToken"])
    assert len(rest["items"]) == 10 and "nextPageToken" not in rest
    status, _ = get(app, "/youtube/v3/videos", part="id", maxResults=51)
    assert status == 400

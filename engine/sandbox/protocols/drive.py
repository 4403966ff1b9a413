"""Google Drive v3: files.list with `q`, the changes feed and files.get, over one files collection.

    GET /drive/v3/files?q=trashed = false&pageSize=2&fields=nextPageToken,files(id,name)
    -> {"nextPageToken": "eyJvIjoyfQ", "files": [{"id": "1a", "name": "Q3 deck"}, ...]}
    GET /drive/v3/changes/startPageToken -> {"kind": "drive#startPageToken", "startPageToken": "7"}
    GET /drive/v3/changes?pageToken=7 -> {"kind": "drive#changeList", "newStartPageToken": "9",
        "changes": [{"kind": "drive#change", "changeType": "file", "fileId": "1a", "removed": false,
                     "time": "...", "file": {...}}, {"fileId": "2b", "removed": true, ...}]}
    GET /drive/v3/files/1a?fields=id,name -> {"id": "1a", "name": "Q3 deck"}

The changes feed and files.get read the files route's data (their `collection`, default
/drive/v3/files, with the same fixture), so a record upserted or deleted through the control API
shows as a change: a delete is a change with `removed: true` and no `file`. Page tokens of the
changes feed never expire (Drive documents none). Every route honours `fields` (partial
responses); without it Drive's defaults come back (files: kind, id, name, mimeType).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from engine.sandbox.messages import Call, Reply, json_reply
from engine.sandbox.protocols.base import BadRequest, Protocol, b64decode, b64encode, int_param, take
from engine.sandbox.protocols.google_fields import Selection, parse_fields, select
from engine.sandbox.protocols.writes import WRITE_OPTIONS, Collection, WriteProtocol
from engine.sandbox.store import Entry, Snapshot

FILES_PATH = "/drive/v3/files"
_DEFAULT_FILE_FIELDS = "kind,id,name,mimeType"
_LIST_DEFAULT = f"kind,incompleteSearch,nextPageToken,files({_DEFAULT_FILE_FIELDS})"
_CHANGES_DEFAULT = f"kind,nextPageToken,newStartPageToken,changes(kind,changeType,time,removed,fileId,file({_DEFAULT_FILE_FIELDS}))"
_CLAUSES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Callable[[dict[str, Any]], bool]]]] = [
    (
        re.compile(r"\Atrashed\s*(=|!=)\s*(true|false)\Z"),
        lambda m: lambda f: (bool(f.get("trashed", False)) == (m[2] == "true")) == (m[1] == "="),
    ),
    (
        re.compile(r"\AmimeType\s*(=|!=)\s*'((?:[^'\\]|\\.)*)'\Z"),
        lambda m: lambda f: (f.get("mimeType") == m[2]) == (m[1] == "="),
    ),
    (
        re.compile(r"\A'((?:[^'\\]|\\.)*)'\s+in\s+parents\Z"),
        lambda m: lambda f: m[1] in (f.get("parents") or []),
    ),
    (
        re.compile(r"\Aname\s*(=|!=|contains)\s*'((?:[^'\\]|\\.)*)'\Z"),
        lambda m: (
            lambda f: (
                m[2] in str(f.get("name", ""))
                if m[1] == "contains"
                else (f.get("name") == m[2]) == (m[1] == "=")
            )
        ),
    ),
]


def file_query(q: str | None) -> Callable[[dict[str, Any]], bool]:
    """A files.list `q` as a predicate: clauses on trashed, mimeType, parents and name joined by
    `and`/`or` (`and` binds tighter), optionally negated with `not`. Anything else is 400, as a
    query Drive cannot parse is.

    >>> file_query("trashed = false and mimeType != 'application/vnd.google-apps.folder'")({"trashed": True})
    False
    """
    if q is None or not q.strip():
        return lambda f: True
    alternatives = []
    for part in re.split(r"\s+or\s+", q.strip(), flags=re.I):
        checks = []
        for clause in re.split(r"\s+and\s+", part.strip(), flags=re.I):
            negate = bool(re.match(r"not\s+", clause, flags=re.I))
            text = re.sub(r"\Anot\s+", "", clause, flags=re.I).strip()
            check = next((make(m) for pattern, make in _CLAUSES if (m := pattern.match(text))), None)
            if check is None:
                raise BadRequest("Invalid Value", code="invalid", param="q")
            checks.append((check, negate))
        alternatives.append(checks)
    return lambda f: any(all(check(f) != negate for check, negate in checks) for checks in alternatives)


def _selection(call: Call, default: str) -> Selection:
    return parse_fields(call.query.get("fields") or default)


def _file_of(entry: Entry) -> dict[str, Any]:
    record = entry.record if isinstance(entry.record, dict) else {}
    return {"kind": "drive#file", **record}


class DriveFiles(Protocol):
    """files.list: `q`, `pageSize` (1-1000, default 100; larger is coerced to 1000), `pageToken`,
    `fields`. `corpora=drive` needs `driveId`; `includeItemsFromAllDrives=true` needs
    `supportsAllDrives=true`. Trashed files are listed unless `q` leaves them out, as on Drive."""

    name = "drive_files"
    error_style = "google"
    defaults: ClassVar[dict[str, Any]] = {}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        size = int_param(query, "pageSize", 100, high=1000, clamp=True)
        if query.get("corpora") == "drive" and not query.get("driveId"):
            raise BadRequest("The driveId parameter must be specified with corpora=drive.", param="driveId")
        if query.get("includeItemsFromAllDrives") == "true" and query.get("supportsAllDrives") != "true":
            raise BadRequest(
                "includeItemsFromAllDrives can only be set to true when supportsAllDrives is also true.",
                param="includeItemsFromAllDrives",
            )
        keep = file_query(query.get("q"))
        token = query.get("pageToken")
        start = 0
        if token:
            decoded = _decode(token)
            if decoded is None or not isinstance(decoded.get("o"), int):
                raise BadRequest("Invalid Value", code="invalid", param="pageToken")
            start = decoded["o"]
        page, following = take(data.entries, start, size, lambda e: not e.deleted and keep(_file_of(e)))
        body: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False}
        if following is not None:
            body["nextPageToken"] = _encode({"o": following})
        body["files"] = [_file_of(data.entries[i]) for i in page]
        return json_reply(select(body, _selection(call, _LIST_DEFAULT)))


class _FilesView(WriteProtocol):
    """A read over the files route's data (it changes nothing): bound like a write route to its
    `collection`, so what the control API changes there shows here too."""

    defaults: ClassVar[dict[str, Any]] = WRITE_OPTIONS
    error_style = "google"

    def collection_path(self, path: str) -> str:
        return FILES_PATH


class DriveStartPageToken(_FilesView):
    """changes.getStartPageToken: the token from which later changes are listed."""

    name = "drive_start_page_token"

    def write(self, call: Call, collection: Collection) -> Reply:
        version = collection.data.version
        return json_reply({"kind": "drive#startPageToken", "startPageToken": str(version + 1)})


class DriveChanges(_FilesView):
    """changes.list: `pageToken` (required: a start token or a next page token), `pageSize`
    (1-1000, default 100), `includeRemoved` (default true), `fields`. The last page carries
    `newStartPageToken`, the others `nextPageToken`."""

    name = "drive_changes"

    def write(self, call: Call, collection: Collection) -> Reply:
        query = call.query
        token = query.get("pageToken")
        if not token:
            raise BadRequest("Required parameter: pageToken", code="required", param="pageToken")
        size = int_param(query, "pageSize", 100, high=1000, clamp=True)
        include_removed = query.get("includeRemoved", "true") != "false"
        if token.isdigit():
            since, after = int(token) - 1, None
        else:
            decoded = _decode(token)
            if (
                decoded is None
                or not isinstance(decoded.get("s"), int)
                or not isinstance(decoded.get("a"), int)
            ):
                raise BadRequest("Invalid Value", code="invalid", param="pageToken")
            since, after = decoded["s"], decoded["a"]
        data = collection.data.get(collection.key) or Snapshot()
        floor = since if after is None else max(since, after)
        changed = sorted(
            (e for e in data.entries if e.version > floor and (include_removed or not e.deleted)),
            key=lambda e: e.version,
        )
        page = changed[:size]
        body: dict[str, Any] = {"kind": "drive#changeList"}
        if len(changed) > size:
            body["nextPageToken"] = _encode({"s": since, "a": page[-1].version})
        else:
            body["newStartPageToken"] = str(collection.data.version + 1)
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body["changes"] = [_change(entry, now) for entry in page]
        return json_reply(select(body, _selection(call, _CHANGES_DEFAULT)))


def _change(entry: Entry, time: str) -> dict[str, Any]:
    change: dict[str, Any] = {
        "kind": "drive#change",
        "changeType": "file",
        "time": time,
        "removed": entry.deleted,
        "fileId": entry.id,
    }
    if not entry.deleted:
        change["file"] = _file_of(entry)
    return change


class DriveFileGet(_FilesView):
    """files.get: one file of the collection by `{fileId}`, `fields` honoured; 404 when unknown."""

    name = "drive_file_get"

    def write(self, call: Call, collection: Collection) -> Reply:
        file_id = call.path_params.get("fileId", "")
        entry = collection.find(file_id)
        if entry is None:
            raise BadRequest(f"File not found: {file_id}.", status=404, code="notFound", param="fileId")
        return json_reply(select(_file_of(entry), _selection(call, _DEFAULT_FILE_FIELDS)))


def _encode(state: Mapping[str, Any]) -> str:
    return b64encode(orjson.dumps(dict(state)).decode())


def _decode(token: str) -> dict[str, Any] | None:
    text = b64decode(token)
    try:
        state = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        return None
    return state if isinstance(state, dict) else None

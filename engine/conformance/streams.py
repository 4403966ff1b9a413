"""Streams against the spec: request path and method, every parameter the stream sends (its own,
paging's, incremental's), a POST body, the response paths paging reads, the records path, and
every mapped, key, cursor and filter path in the record schema; a substream's parent paths in
the parent's record schema.

A server token with a changes feed (`incremental.changes`, Google Drive's changes.list) reads its
token, token parameter and change records from the feed's own request: those are checked against
that operation (its records path, filter, `record` and the mapped fields in the changed object,
carried keys in the change itself), and `incremental.start` against the start operation; the
listing stays checked as the stream's request."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.models import (
    CursorIncremental,
    FieldMapping,
    ServerTokenIncremental,
    StreamSpec,
    WindowsIncremental,
)
from .checker import Checker, Key, template_references
from .operations import Operation
from .schemas import Schema, items_of, lookup

#: Paging settings that name a query parameter, and those that name a response body path.
PAGING_PARAMS = ("param", "offset_param", "limit_param", "size_param")
PAGING_BODY_PATHS = ("more", "cursor", "token", "path", "total", "total_pages")
BODY = "the response body"
CHANGE = "the change"


@dataclass
class StreamShape:
    operation: Operation | None
    record: Schema | None


def _sent_params(stream: StreamSpec) -> list[tuple[str, Key]]:
    request = stream.request
    sent: list[tuple[str, Key]] = (
        [(name, ("request", "params", name)) for name in request.params] if request else []
    )
    paging = stream.paging
    for attr in PAGING_PARAMS:
        value = getattr(paging, attr, None)
        if isinstance(value, str) and value:
            sent.append((value, ("paging", attr)))
    incremental = stream.incremental
    if isinstance(incremental, WindowsIncremental):
        sent += [
            (incremental.start_param, ("incremental", "start_param")),
            (incremental.end_param, ("incremental", "end_param")),
        ]
    elif isinstance(incremental, ServerTokenIncremental) and incremental.changes is not None:
        pass  # the token goes to the changes request (`_changes_params`), not the listing
    elif isinstance(incremental, CursorIncremental | ServerTokenIncremental) and incremental.param:
        # A cursor sent in a header (Xero) or the JSON body (Notion) is not a query parameter;
        # a change feed's parameter belongs to its own request, not the stream's.
        sent.append((incremental.param, ("incremental", "param")))
        if isinstance(incremental, ServerTokenIncremental):
            sent += [
                (name, ("incremental", "drop_params", i)) for i, name in enumerate(incremental.drop_params)
            ]
    return sent


def _changes_params(incremental: ServerTokenIncremental, paging: object) -> list[tuple[str, Key]]:
    """What a changes request sends: its own params, paging's, the token and the dropped ones."""
    assert incremental.changes is not None
    at: Key = ("incremental", "changes", "request", "params")
    sent: list[tuple[str, Key]] = [(name, (*at, name)) for name in incremental.changes.request.params]
    for attr in PAGING_PARAMS:
        value = getattr(paging, attr, None)
        if isinstance(value, str) and value:
            sent.append((value, ("paging", attr)))
    sent.append((incremental.param, ("incremental", "param")))
    sent += [(name, ("incremental", "drop_params", i)) for i, name in enumerate(incremental.drop_params)]
    return sent


def _carried(stream: StreamSpec) -> dict[str, str]:
    """Record keys a changes feed copies from each change onto the record (`changes.carry`)."""
    incremental = stream.incremental
    if isinstance(incremental, ServerTokenIncremental) and incremental.changes is not None:
        return incremental.changes.carry
    return {}


def _head(path: str) -> tuple[str, str]:
    """'removed' -> ('removed', ''); 'owner.email' -> ('owner', '.email'); 'a[0]' -> ('a', '[0]')."""
    for i, ch in enumerate(path):
        if ch in ".[":
            return path[:i], path[i:]
    return path, ""


def _mapping_paths(column: str, mapping: str | FieldMapping) -> list[tuple[str, Key]]:
    if isinstance(mapping, str):
        return [(mapping, ("fields", column))]
    if mapping.coalesce:
        return [(p, ("fields", column, "coalesce", i)) for i, p in enumerate(mapping.coalesce)]
    if mapping.path is not None:
        return [(mapping.path, ("fields", column, "path"))]
    return []


def record_paths(stream: StreamSpec) -> list[tuple[str, Key, str]]:
    paths = [
        (p, k, "mapped field") for column, m in stream.fields.items() for p, k in _mapping_paths(column, m)
    ]
    paths += [(p, ("primary_key", i), "primary key") for i, p in enumerate(stream.primary_key)]
    if isinstance(stream.incremental, CursorIncremental):
        paths.append((stream.incremental.field, ("incremental", "field"), "cursor field"))
    field = getattr(stream.paging, "field", None)
    if isinstance(field, str):
        paths.append((field, ("paging", "field"), "paging field"))
    if stream.filter is not None:
        paths.append((stream.filter.field, ("filter", "field"), "filter field"))
    return paths


class StreamChecks:
    def __init__(self, checker: Checker) -> None:
        self.checker = checker
        self.shapes: dict[str, StreamShape] = {}

    def run(self) -> None:
        for name in self.checker.spec.streams:
            self.shape(name)
        for name, stream in self.checker.spec.streams.items():
            if stream.parent is not None:
                self.parent_paths(name, stream)

    def shape(self, name: str) -> StreamShape:
        if name not in self.shapes:
            self.shapes[name] = self._check(name, self.checker.spec.streams[name])
        return self.shapes[name]

    def _check(self, name: str, stream: StreamSpec) -> StreamShape:
        c = self.checker
        where = f"stream {name}"
        at: Key = ("streams", name)
        request = stream.request
        if request is None:  # filled by webhooks and actions only
            return StreamShape(None, None)
        op = c.operation(where, (*at, "request"), request.method, request.path)
        if op is None:
            return StreamShape(None, None)
        for param, key in _sent_params(stream):
            c.param(where, (*at, *key), op, param)
        for param, sent in request.params.items():
            c.param_value(where, (*at, "request", "params", param), op, param, sent)
        if request.json_body is not None:
            c.body(where, (*at, "request", "json"), op, request.json_body, form=False)
        body_field = getattr(stream.paging, "body_field", None)
        if isinstance(body_field, str):
            c.body(where, (*at, "paging", "body_field"), op, {body_field: None}, form=False)
        self.selected_fields(where, at, op, stream)
        if op.response is None:
            c.no_schema(where, (*at, "records"), op, "response")
            return StreamShape(op, None)
        for attr in PAGING_BODY_PATHS:
            value = getattr(stream.paging, attr, None)
            if isinstance(value, str) and value:
                c.record_path(where, (*at, "paging", attr), op.response, value, "paging path", BODY)
        if isinstance(stream.incremental, ServerTokenIncremental) and stream.incremental.changes is None:
            c.record_path(
                where,
                (*at, "incremental", "token"),
                op.response,
                stream.incremental.token,
                "token path",
                BODY,
            )
        if stream.records:
            found = c.record_path(where, (*at, "records"), op.response, stream.records, "records path", BODY)
            record = items_of(found) if found is not None else None
        else:
            record = items_of(op.response)
        if record is not None and stream.version:
            c.record_path(where, (*at, "version"), record, stream.version, "version path")
        if record is not None and stream.record:  # the mapped object inside each listed record
            record = c.record_path(where, (*at, "record"), record, stream.record, "record path")
        if record is not None:
            carried = _carried(stream)
            for path, key, what in record_paths(stream):
                head, _ = _head(path)
                if head in carried and lookup(record, path).status == "missing":
                    c.accept(
                        where,
                        (*at, *key),
                        f"{what} '{path}' is not in the listed record: it is carried from each change "
                        f"('{carried[head]}') and checked against the changes feed",
                    )
                    continue
                c.record_path(where, (*at, *key), record, path, what)
        if isinstance(stream.incremental, ServerTokenIncremental):
            self.token_requests(name, stream, stream.incremental)
        return StreamShape(op, record)

    def token_requests(self, name: str, stream: StreamSpec, incremental: ServerTokenIncremental) -> None:
        """`incremental.start` and `incremental.changes`: each request against its own operation."""
        c = self.checker
        at: Key = ("streams", name, "incremental")
        start = incremental.start
        if start is not None:
            where = f"stream {name} start"
            op = c.operation(where, (*at, "start", "request"), start.request.method, start.request.path)
            if op is not None:
                for param in start.request.params:
                    c.param(where, (*at, "start", "request", "params", param), op, param)
                if op.response is not None:
                    c.record_path(
                        where, (*at, "start", "token"), op.response, start.token, "token path", BODY
                    )
        changes = incremental.changes
        if changes is None:
            return
        where = f"stream {name} changes"
        request = changes.request
        op = c.operation(where, (*at, "changes", "request"), request.method, request.path)
        if op is None:
            return
        for param, key in _changes_params(incremental, stream.paging):
            c.param(where, ("streams", name, *key), op, param)
        if request.json_body is not None:
            c.body(where, (*at, "changes", "request", "json"), op, request.json_body, form=False)
        if op.response is None:
            c.no_schema(where, (*at, "changes", "records"), op, "response")
            return
        for attr in PAGING_BODY_PATHS:
            value = getattr(stream.paging, attr, None)
            if isinstance(value, str) and value:
                c.record_path(
                    where, ("streams", name, "paging", attr), op.response, value, "paging path", BODY
                )
        c.record_path(where, (*at, "token"), op.response, incremental.token, "token path", BODY)
        found = c.record_path(
            where, (*at, "changes", "records"), op.response, changes.records, "records path", BODY
        )
        if found is None:
            return
        change = items_of(found)
        if changes.filter is not None:
            c.record_path(
                where,
                (*at, "changes", "filter", "field"),
                change,
                changes.filter.field,
                "filter field",
                CHANGE,
            )
        record: Schema | None = change
        if changes.record:
            record = c.record_path(
                where, (*at, "changes", "record"), change, changes.record, "record path", CHANGE
            )
        for carried, path in changes.carry.items():
            c.record_path(where, (*at, "changes", "carry", carried), change, path, "carried field", CHANGE)
        for path, key, what in record_paths(stream):
            head, rest = _head(path)
            if head in changes.carry:  # copied from the change: read there
                c.record_path(
                    where, ("streams", name, *key), change, changes.carry[head] + rest, what, CHANGE
                )
            elif record is not None:
                c.record_path(where, ("streams", name, *key), record, path, what)

    def selected_fields(self, where: str, at: Key, op: Operation, stream: StreamSpec) -> None:
        """Meta's `fields=a,b,children{media_url}`: each name a field or edge of the node."""
        value = stream.request.params.get("fields") if stream.request else None
        if op.selects_fields is None or not isinstance(value, str) or "{{" in value:
            return
        depth, names, current = 0, [], ""
        for ch in value + ",":
            if ch in "{(":
                depth += 1
            elif ch in "})":
                depth -= 1
            if ch == "," and depth == 0:
                names.append(current.strip())
                current = ""
            else:
                current += ch
        for name in filter(None, names):
            field = name.split("{", 1)[0].split(".", 1)[0].split("(", 1)[0].strip()
            self.checker.record_path(
                where, (*at, "request", "params", "fields"), op.selects_fields, field, "selected field"
            )

    def parent_paths(self, name: str, stream: StreamSpec) -> None:
        """`parent.fields` and `parent.x` in the request read the parent's record."""
        assert stream.parent is not None
        if stream.parent.stream not in self.checker.spec.streams:
            return
        record = self.shape(stream.parent.stream).record
        where = f"stream {name}"
        at: Key = ("streams", name)
        for column, path in stream.parent.fields.items():
            self.checker.record_path(where, (*at, "parent", "fields", column), record, path, "parent field")
        request = stream.request.model_dump(by_alias=True, exclude_none=True) if stream.request else {}
        for path in dict.fromkeys(template_references(request, "parent")):
            self.checker.record_path(where, (*at, "request"), record, path, "parent field")

"""Fixture data the sandbox serves, versioned so mutations and sync tokens work.

A route's fixture file holds a list of records, or, when the route path has placeholders,
an object keyed by the placeholder values (nested for several), down to the list:

    {"primary": [{"id": "e1", ...}], "team@group.calendar.google.com": [...]}

The key "*" serves any value that has no key of its own. For the `single` protocol the
leaves are objects instead of lists. Every upsert or delete bumps the route's version
counter and stamps the changed record with it; fixture records have version 0.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from engine.paths import compile_path

Key = tuple[str, ...]
WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class Entry:
    """One record with its serialised bytes and the version that last changed it."""

    id: str | None
    record: Any
    raw: bytes
    version: int = 0
    deleted: bool = False

    @property
    def cancelled(self) -> bool:
        """Deleted through the control API, or a fixture record with Google's status 'cancelled'."""
        return self.deleted or (isinstance(self.record, dict) and self.record.get("status") == "cancelled")


@dataclass(frozen=True)
class Snapshot:
    """One fixture leaf at one moment. Immutable: a mutation swaps in a new snapshot."""

    entries: tuple[Entry, ...] = ()
    positions: Mapping[str, int] = field(default_factory=dict)
    version: int = 0
    single: Entry | None = None

    @cached_property
    def live(self) -> list[Entry]:
        """Entries not deleted through the control API."""
        return [e for e in self.entries if not e.deleted]

    def locate(self, cursor: str) -> int | None:
        """Index of the entry a cursor names: its id, or '#<index>' for records without one."""
        if cursor.startswith("#") and cursor[1:].isdigit():
            index = int(cursor[1:])
            return index if index < len(self.entries) else None
        return self.positions.get(cursor)

    def cursor_of(self, index: int) -> str:
        entry = self.entries[index]
        return entry.id if entry.id is not None else f"#{index}"


class RouteData:
    """All fixture leaves of one route, their version counter, and upserts and deletes."""

    def __init__(
        self, fixture: Path, placeholders: int, *, single: bool, prepend: bool, id_field: str = "id"
    ):
        self.fixture = fixture
        self.placeholders = placeholders
        self.single = single
        self.prepend = prepend
        self._id_of = compile_path(id_field)
        self._lock = threading.Lock()
        self.version = 0
        self._leaves: dict[Key, Snapshot] = {}
        self.load()

    def load(self) -> None:
        """(Re)read the fixture file; raises ValueError when it is missing or has the wrong shape."""
        try:
            value = orjson.loads(self.fixture.read_bytes())
        except OSError as exc:
            raise ValueError(f"cannot read fixture {self.fixture}: {exc.strerror}") from exc
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"fixture {self.fixture} is not valid JSON: {exc}") from exc
        leaves = {key: self._snapshot(key, leaf) for key, leaf in _flatten(value, self.placeholders, ())}
        with self._lock:
            self._leaves = leaves
            self.version = 0

    def get(self, key: Key) -> Snapshot | None:
        """The leaf for these placeholder values, falling back to '*' keys."""
        leaves = self._leaves
        found = leaves.get(key)
        if found is not None or not key:
            return found
        for candidate in itertools.product(*[(part, WILDCARD) for part in key]):
            found = leaves.get(candidate)
            if found is not None:
                return found
        return None

    def records(self, key: Key) -> list[Any]:
        """The live records under these placeholder values (a `single` leaf: its one object)."""
        self._check_key(key)
        snapshot = self.get(key) or Snapshot()
        if self.single:
            entry = snapshot.single
            return [] if entry is None or entry.deleted else [entry.record]
        return [entry.record for entry in snapshot.live]

    def upsert(self, key: Key, record: Any) -> int:
        """Insert or replace a record (by id; the whole leaf for `single`); returns its version."""
        self._check_key(key)
        record_id = None if self.single else self._record_id(record)
        raw = orjson.dumps(record)
        with self._lock:
            self.version += 1
            entry = Entry(record_id, record, raw, self.version)
            old = self.get(key) or Snapshot()
            self._leaves[key] = self._with(old, entry)
            return self.version

    def delete(self, key: Key, record_id: str) -> int:
        """Mark a record deleted (Google shows it as status 'cancelled'); returns the new version."""
        self._check_key(key)
        with self._lock:
            old = self.get(key) or Snapshot()
            target = old.single if self.single else _at(old, old.positions.get(record_id))
            if target is None or target.deleted:
                raise ValueError(f"no record {record_id!r} under key {list(key)} of {self.fixture.name}")
            self.version += 1
            record = (
                {**target.record, "status": "cancelled"} if isinstance(target.record, dict) else target.record
            )
            entry = Entry(target.id, record, orjson.dumps(record), self.version, deleted=True)
            self._leaves[key] = self._with(old, entry)
            return self.version

    def _with(self, old: Snapshot, entry: Entry) -> Snapshot:
        if self.single:
            return Snapshot(version=entry.version, single=entry)
        entries = list(old.entries)
        position = old.positions.get(entry.id) if entry.id is not None else None
        if position is not None:
            entries[position] = entry
        elif self.prepend:
            entries.insert(0, entry)
        else:
            entries.append(entry)
        return _list_snapshot(entries, entry.version)

    def _snapshot(self, key: Key, leaf: Any) -> Snapshot:
        if self.single:
            return Snapshot(single=Entry(None, leaf, orjson.dumps(leaf)))
        if not isinstance(leaf, list):
            where = f" at key {list(key)}" if key else ""
            raise ValueError(f"fixture {self.fixture}{where} must be a JSON list of records")
        entries = [Entry(self._record_id(r, strict=False), r, orjson.dumps(r)) for r in leaf]
        return _list_snapshot(entries, 0)

    def _record_id(self, record: Any, *, strict: bool = True) -> str | None:
        value = self._id_of(record)
        if value is None and strict:
            raise ValueError(f"record has no id field: {str(record)[:80]}")
        return None if value is None else str(value)

    def _check_key(self, key: Key) -> None:
        if len(key) != self.placeholders:
            raise ValueError(f"key needs {self.placeholders} placeholder value(s), got {list(key)}")


def _at(snapshot: Snapshot, index: int | None) -> Entry | None:
    return None if index is None else snapshot.entries[index]


def _list_snapshot(entries: list[Entry], version: int) -> Snapshot:
    positions = {e.id: i for i, e in enumerate(entries) if e.id is not None}
    return Snapshot(tuple(entries), positions, version)


def _flatten(value: Any, depth: int, prefix: Key) -> list[tuple[Key, Any]]:
    if depth == 0:
        return [(prefix, value)]
    if not isinstance(value, dict):
        raise ValueError(f"fixture must be a JSON object keyed by placeholder values (at {list(prefix)})")
    out: list[tuple[Key, Any]] = []
    for name, inner in value.items():
        out.extend(_flatten(inner, depth - 1, (*prefix, name)))
    return out


class TokenRegistry:
    """Sync tokens one connector has issued: token -> (scope, version). Expiring forgets them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[str, tuple[Hashable, int]] = {}

    def issue(self, scope: Hashable, version: int) -> str:
        token = "CP" + secrets.token_urlsafe(18)
        with self._lock:
            self._issued[token] = (scope, version)
        return token

    def lookup(self, scope: Hashable, token: str) -> int | None:
        found = self._issued.get(token)
        if found is None or found[0] != scope:
            return None
        return found[1]

    def expire(self) -> None:
        with self._lock:
            self._issued.clear()


@dataclass(frozen=True)
class SyncTokens:
    """The token registry seen from one fixture leaf: tokens are only valid where they were issued."""

    registry: TokenRegistry
    scope: Hashable

    def issue(self, version: int) -> str:
        return self.registry.issue(self.scope, version)

    def version_of(self, token: str) -> int | None:
        """The version a token was issued at, or None when it is unknown, foreign or expired."""
        return self.registry.lookup(self.scope, token)

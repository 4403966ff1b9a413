"""The contract of protocols that change data (creates, updates): a collection instead of a snapshot.

A write route stores into its *collection*: the GET route (else the read route of another method,
Notion's POST lists) at the collection path on the same connector whose data it
changes, so a later list shows the change. `collection` names that route's path; each write
protocol has a default (`collection_path`). Without one the route keeps objects in its own
fixture, a flat list. The collection's placeholders are filled from the write route's
placeholders of the same name.

Every write protocol also takes `idempotency_header` (e.g. 'Idempotency-Key', 'PayPal-Request-Id';
see `engine.sandbox.idempotency`), and `request_only`: body fields that steer the request and
are not stored (Stripe's `expand`).
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.sandbox.idempotency import IdempotencyConflict, IdempotencyKeys
from engine.sandbox.messages import Call, Reply
from engine.sandbox.protocols.base import BadRequest, Protocol
from engine.sandbox.store import Entry, Key, RouteData, Snapshot

WRITE_OPTIONS: dict[str, Any] = {"collection": None, "idempotency_header": None, "request_only": []}
_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Collection:
    """The objects a write changes: one leaf of the collection route's data."""

    data: RouteData
    key: Key

    def find(self, object_id: str) -> Entry | None:
        """The live object with this id (for a `single` collection: the leaf's object)."""
        snapshot = self.data.get(self.key) or Snapshot()
        if self.data.single:
            entry = snapshot.single
        else:
            index = snapshot.positions.get(object_id)
            entry = None if index is None else snapshot.entries[index]
        return None if entry is None or entry.deleted else entry

    def save(self, record: Any) -> int:
        """Insert or replace the object (by id); a list shows it where the collection puts new ones."""
        return self.data.upsert(self.key, record)


class WriteProtocol(Protocol):
    """Base of write protocols: idempotency around `write`, which subclasses implement."""

    keyed_fixture = False
    defaults: ClassVar[dict[str, Any]] = WRITE_OPTIONS

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.request_only = frozenset(field_names(self.options, "request_only"))

    def collection_path(self, path: str) -> str:
        """The path of the GET route this route writes to when `collection` is not given."""
        return path

    def answer(self, call: Call, collection: Collection, keys: IdempotencyKeys) -> Reply:
        header = self.options["idempotency_header"]
        if not header:
            return self.write(call, collection)
        try:
            return keys.once(str(header), call, lambda: self.write(call, collection))
        except IdempotencyConflict as exc:
            raise BadRequest(str(exc), code="idempotency_error") from None

    def write(self, call: Call, collection: Collection) -> Reply:
        raise NotImplementedError

    def handle(self, call: Call, data: Snapshot) -> Reply:
        raise TypeError(f"protocol {self.name} writes: the sandbox calls answer(), not handle()")

    def received(self, call: Call) -> dict[str, Any]:
        """The body's fields to store: a JSON object or the nested form; request-only fields left out."""
        body = {} if call.body is None else call.body
        if not isinstance(body, dict):
            raise BadRequest("The request body must be an object.")
        return {name: value for name, value in body.items() if name not in self.request_only}


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` laid on `base`, objects merged at every depth, nothing shared with either.

    >>> merged({"status": "draft", "metadata": {"a": "1"}}, {"metadata": {"b": "2"}})
    {'status': 'draft', 'metadata': {'a': '1', 'b': '2'}}
    """
    out = copy.deepcopy(dict(base))
    for name, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(name), dict):
            out[name] = merged(out[name], value)
        else:
            out[name] = copy.deepcopy(value)
    return out


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path ('status_transitions.finalized_at'), making objects on the way."""
    *parents, last = path.split(".")
    node = record
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node[last] = value


def new_id(prefix: str) -> str:
    """Like Stripe's ids: the prefix and 24 random letters and digits ('pi_3Qa9...')."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def field_names(options: Mapping[str, Any], name: str) -> list[str]:
    value = options[name]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"option {name} must be a list of field names")
    return value

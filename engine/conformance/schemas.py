"""Response and request-body schemas, and walking a record path through them.

Every spec format ends up as JSON-Schema-like nodes (`properties`, `items`, `additionalProperties`,
`anyOf`/`oneOf`/`allOf`, `$ref`); a format only supplies how its `$ref`s resolve (a `SchemaSpace`).
A `Schema` is a set of alternatives, so two operations or two response codes can be looked
through at once.

>>> space = RefSpace({"components": {"schemas": {"Inv": {"properties": {"id": {"type": "string"}}}}}})
>>> schema = Schema.of(space, {"properties": {"data": {"items": {"$ref": "#/components/schemas/Inv"}}}})
>>> lookup(schema, "data.0.id").status
'found'
>>> lookup(schema, "data.0.nmber").choices
['id']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..paths import split_path

Status = Literal["found", "open", "missing"]
_COMPOSITIONS = ("allOf", "anyOf", "oneOf")
_SCALARS = {"string", "integer", "number", "boolean"}
_SCHEMA_CONTAINERS = ("schemas", "definitions")


class SchemaSpace(Protocol):
    """Resolves a node's `$ref` (a format's way of naming schemas)."""

    def deref(self, node: Any) -> Any: ...


class RefSpace:
    """`$ref`s as JSON pointers into one document ('#/components/schemas/invoice'), or, for Google's
    discovery documents, bare names under one key ('Event' -> schemas.Event). Unresolvable
    references (another file) read as an open schema."""

    def __init__(
        self, root: Any, *, bare_names: str | None = None, named: Callable[[str], Any] | None = None
    ) -> None:
        self.root = root
        self.bare_names = bare_names
        self.named = named
        self._referenced: set[str] | None = None

    def _all_refs(self) -> set[str]:
        """Every `$ref` the document makes (found once)."""
        if self._referenced is None:
            found: set[str] = set()
            stack = [self.root]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    ref = node.get("$ref")
                    if isinstance(ref, str):
                        found.add(ref)
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)
            self._referenced = found
        return self._referenced

    def _renamed_duplicates(self, ref: str, parent: dict[str, Any], name: str) -> list[Any]:
        """Bundlers merging specs rename a colliding schema `X` to `X_1`, `X_2` ... and may leave the
        references meant for it pointing at `X` (WhatsApp's inbound messages `allOf` the outbound
        `BaseMessageProperties`; their own, with `from`/`id`/`timestamp`, is the unreferenced
        `BaseMessageProperties_1`). Such unreferenced renames are read as alternatives of `X`."""
        prefix = ref.rsplit("/", 1)[0] + "/"
        out = []
        for i in range(1, 10):
            sibling = f"{name}_{i}"
            if sibling not in parent:
                break
            if prefix + sibling not in self._all_refs():
                out.append(parent[sibling])
        return out

    def _target(self, ref: str) -> Any:
        if ref.startswith("#/"):
            node = self.root
            parent: Any = None
            parts = ref[2:].split("/")
            for part in parts:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(node, dict) or part not in node:
                    return None
                parent, node = node, node[part]
            if len(parts) >= 2 and parts[-2] in _SCHEMA_CONTAINERS and isinstance(parent, dict):
                renamed = self._renamed_duplicates(ref, parent, parts[-1])
                if renamed:
                    return {"anyOf": [node, *renamed]}
            return node
        if self.named is not None:
            return self.named(ref)
        if self.bare_names is not None:
            return (self.root.get(self.bare_names) or {}).get(ref)
        return None

    def deref(self, node: Any) -> Any:
        for _ in range(64):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node
            target = self._target(node["$ref"])
            if target is None:
                return {}
            node = target
        return {}


Node = tuple[SchemaSpace, Any]


@dataclass(frozen=True, eq=False)
class Schema:
    """Alternatives a value may match (a union)."""

    nodes: tuple[Node, ...]

    @classmethod
    def of(cls, space: SchemaSpace, *nodes: Any) -> Schema:
        return cls(tuple((space, n) for n in nodes if n is not None))

    @classmethod
    def union(cls, schemas: list[Schema]) -> Schema:
        return cls(tuple(node for s in schemas for node in s.nodes))

    def __bool__(self) -> bool:
        return bool(self.nodes)


def _mapped(node: dict[str, Any], seen: frozenset[str]) -> list[str]:
    """`discriminator.mapping` targets not already among the node's branches or followed above it
    (a bare name means '#/components/schemas/<name>')."""
    discriminator = node.get("discriminator")
    mapping = discriminator.get("mapping") if isinstance(discriminator, dict) else None
    if not isinstance(mapping, dict):
        return []
    branches = {b.get("$ref") for key in _COMPOSITIONS for b in node.get(key) or [] if isinstance(b, dict)}
    refs = [v if "/" in v else f"#/components/schemas/{v}" for v in mapping.values() if isinstance(v, str)]
    return [r for r in dict.fromkeys(refs) if r not in branches and r not in seen]


def _flatten(
    space: SchemaSpace, node: Any, depth: int = 0, seen: frozenset[str] = frozenset()
) -> Iterator[Any]:
    """The concrete alternatives of a node: `$ref`s followed, compositions opened, and the variants a
    `discriminator.mapping` names (WhatsApp's `interactive` -> InteractiveButtonReplyContent, ...)."""
    node = space.deref(node)
    if not isinstance(node, dict) or depth > 32:
        yield {}
        return
    composed = [key for key in _COMPOSITIONS if isinstance(node.get(key), list)]
    own = {k: v for k, v in node.items() if k not in _COMPOSITIONS}
    if not composed or any(k in own for k in ("properties", "items", "additionalProperties")):
        yield own
    for key in composed:
        for branch in node[key]:
            yield from _flatten(space, branch, depth + 1, seen)
    mapped = _mapped(node, seen)
    for ref in mapped:
        yield from _flatten(space, {"$ref": ref}, depth + 1, seen | set(mapped))


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, list):
        return {str(k) for k in kind} - {"null"}
    return {str(kind)} if kind else set()


def is_open(node: dict[str, Any]) -> bool:
    """Says nothing about its keys: `{}`, `type: object` without properties, `any`, a Meta `Object`."""
    kinds = _types(node)
    if kinds & (_SCALARS | {"array"}) or "items" in node or "enum" in node:
        return False
    if isinstance(node.get("properties"), dict) and node["properties"]:
        return node.get("additionalProperties") not in (None, False)
    return node.get("additionalProperties") is not False


def _describe(node: dict[str, Any]) -> str:
    kinds = _types(node)
    if "items" in node or "array" in kinds:
        return "a list"
    if kinds & _SCALARS:
        return f"a {'/'.join(sorted(kinds & _SCALARS))}"
    return "an object"


@dataclass(frozen=True, eq=False)
class Lookup:
    """Where a path leads: found (with the schema there), open (the spec does not say), missing."""

    status: Status
    schema: Schema | None = None
    at: str = ""
    choices: list[str] | None = None
    reason: str = ""

    def suggestions(self, key: str) -> list[str]:
        return difflib.get_close_matches(key, self.choices or [], n=3, cutoff=0.6)


_Step = tuple[Literal["key", "index"], str]


def _steps(path: str) -> list[_Step]:
    """'lines.data.0.id' / 'links[rel=next].href' / 'entry[0].changes' as key and index steps."""
    steps: list[_Step] = []
    for part in split_path(path):
        name, bracket, rest = part.partition("[")
        if name.lstrip("-").isdigit():
            steps.append(("index", name))
        elif name:
            steps.append(("key", name))
        while bracket:
            steps.append(("index", rest.split("]", 1)[0]))
            _, bracket, rest = rest.partition("[")
    return steps


def _step(
    space: SchemaSpace, node: dict[str, Any], kind: str, name: str
) -> tuple[list[Any], bool, list[str]]:
    """One step from one concrete node: (next nodes, the spec is open here, keys offered)."""
    declared = node.get("properties")
    props: dict[str, Any] = declared if isinstance(declared, dict) else {}
    if kind == "index":
        items = node.get("items")
        if isinstance(items, list):
            return items, False, []
        if items is not None:
            return [items], False, []
        if name in props:
            return [props[name]], False, []
        return [], is_open(node) or "array" in _types(node), []
    if name in props:
        return [props[name]], False, []
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return [extra], False, []
    if extra is True or "patternProperties" in node:
        return [], True, []
    return [], is_open(node), list(props)


def lookup(schema: Schema, path: str, root: str = "the record") -> Lookup:
    """Follow a dotted record path ('status_transitions.paid_at', 'lines.data.0.id') through a schema;
    `root` names where the path starts, for messages."""
    current: list[Node] = [(space, n) for space, node in schema.nodes for n in _flatten(space, node)]
    done: list[str] = []
    for kind, name in _steps(path):
        following: list[Node] = []
        opened = False
        choices: list[str] = []
        kinds: list[str] = []
        for space, node in current:
            found, open_here, offered = _step(space, node, kind, name)
            following += [(space, n) for f in found for n in _flatten(space, f)]
            opened = opened or open_here
            choices += [c for c in offered if c not in choices]
            kinds.append(_describe(node))
        where = ".".join(done) or root
        if not following:
            if opened:
                return Lookup("open", at=where, reason=f"{where} is an open object in the spec")
            shown = sorted(set(kinds))
            reason = (
                f"'{name}' is not a field of {where}"
                if choices
                else f"{where} is {' or '.join(shown)}, not something with '{name}'"
            )
            return Lookup("missing", at=where, choices=choices, reason=reason)
        current = following
        done.append(name if kind == "key" else f"[{name}]" if not name.isdigit() else name)
    return Lookup("found", schema=Schema(tuple(current)), at=".".join(done))


def items_of(schema: Schema) -> Schema:
    """The record schema of a records path: a list's items, or the object itself (one record)."""
    out: list[Node] = []
    for space, node in schema.nodes:
        for flat in _flatten(space, node):
            items = flat.get("items")
            if isinstance(items, list):
                out += [(space, i) for i in items]
            elif items is not None:
                out.append((space, items))
            else:
                out.append((space, flat))
    return Schema(tuple(out))


def property_names(schema: Schema) -> list[str]:
    """Top-level keys the schema declares (for did-you-mean)."""
    names: list[str] = []
    for space, node in schema.nodes:
        for flat in _flatten(space, node):
            names += [k for k in flat.get("properties") or {} if k not in names]
    return names

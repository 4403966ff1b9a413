"""Record and body paths: 'a.b.0.c' and list selection 'links[rel=next].href'.

Paths are compiled once into plain callables; the hot path never parses a path.

>>> get = compile_path("customer.email")
>>> get({"customer": {"email": "a@b.c"}})
'a@b.c'
>>> compile_path("links[rel=next].href")({"links": [{"rel": "self", "href": "x"}, {"rel": "next", "href": "y"}]})
'y'

A `*` step fans out over a list and the result is one flat list (Gmail history records):

>>> compile_path("history.*.messagesAdded.*.message.id")(
...     {"history": [{"messagesAdded": [{"message": {"id": "a"}}]}, {"id": "2"}, {"messagesAdded": [{"message": {"id": "b"}}]}]})
['a', 'b']

A selection on an object looks through its values (Notion properties are keyed by their names):

>>> compile_path("properties[type=title].id")({"properties": {"Name": {"id": "title", "type": "title"}}})
'title'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Getter = Callable[[Any], Any]

_SELECT = re.compile(r"^(?P<name>[^\[\]]*)\[(?P<key>[^=\]]+)=(?P<value>[^\]]*)\]$")


def _literal(value: Any) -> str:
    """A value as it is written in a path selection: JSON literals for true/false/null."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return str(value)


def _step(part: str) -> Getter:
    select = _SELECT.match(part)
    if select:
        name, key, want = select["name"], select["key"], select["value"]
        inner = _step(name) if name else (lambda v: v)

        def pick(value: Any) -> Any:
            items = inner(value)
            if isinstance(items, dict):  # an object's values: Notion's properties by name
                items = list(items.values())
            if isinstance(items, list):
                for item in items:
                    if isinstance(item, dict) and _literal(item.get(key)) == want:
                        return item
            return None

        return pick
    if part.lstrip("-").isdigit():
        index = int(part)

        def at(value: Any) -> Any:
            if isinstance(value, list) and -len(value) <= index < len(value):
                return value[index]
            if isinstance(value, dict):
                return value.get(part)
            return None

        return at

    def key_of(value: Any) -> Any:
        return value.get(part) if isinstance(value, dict) else None

    return key_of


def split_path(path: str) -> list[str]:
    """Split on dots that are not inside [...] selections."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p != ""]


def compile_path(path: str) -> Getter:
    """Compile a path to a getter that returns None where any step is missing. '' is the value itself."""
    parts = split_path(path)
    if not parts:
        return lambda value: value
    if FAN_OUT in parts:
        return _fan_out(parts)
    if len(parts) == 1 and not _SELECT.match(parts[0]) and not parts[0].lstrip("-").isdigit():
        key = parts[0]
        return lambda value: value.get(key) if isinstance(value, dict) else None
    if len(parts) == 2 and all(not _SELECT.match(p) and not p.lstrip("-").isdigit() for p in parts):
        first, second = parts

        def two(value: Any) -> Any:
            inner = value.get(first) if isinstance(value, dict) else None
            return inner.get(second) if isinstance(inner, dict) else None

        return two
    steps = [_step(p) for p in parts]

    def walk(value: Any) -> Any:
        for step in steps:
            if value is None:
                return None
            value = step(value)
        return value

    return walk


FAN_OUT = "*"


def _fan_out(parts: list[str]) -> Getter:
    """'a.*.b': every element of the list at 'a', then 'b' of each; missing values are left out."""
    at = parts.index(FAN_OUT)
    head = compile_path(".".join(parts[:at]))
    tail = compile_path(".".join(parts[at + 1 :]))
    flattens = FAN_OUT in parts[at + 1 :]

    def fan(value: Any) -> Any:
        items = head(value)
        if not isinstance(items, list):
            return None
        out: list[Any] = []
        for item in items:
            found = tail(item)
            if found is None:
                continue
            if flattens and isinstance(found, list):
                out.extend(found)
            else:
                out.append(found)
        return out

    return fan


def get_path(value: Any, path: str) -> Any:
    """One-off lookup (not for hot paths)."""
    return compile_path(path)(value)


def get_all(value: Any, path: str) -> list[Any]:
    """The values at a path whose `[]` steps go into every element of a list, flattened.

    Meta batches: 'entry[].changes[].value.messages' is every message of every change of every
    entry. A step that is not a list contributes nothing; a path without `[]` is `[get_path(...)]`
    (or [] when None), and a final list is flattened too.

    >>> get_all({"entry": [{"m": [1, 2]}, {"m": [3]}, {}]}, "entry[].m")
    [1, 2, 3]
    """
    values = [value]
    pieces = path.split("[]")
    for index, piece in enumerate(pieces):
        getter = compile_path(piece.strip("."))
        last = index == len(pieces) - 1
        found, values = [getter(v) for v in values], []
        for item in found:
            if isinstance(item, list):
                values.extend(item)
            elif last and item is not None:
                values.append(item)
    return values

"""Form-encoded bodies read the way Stripe reads them: bracket names become nested JSON.

>>> nest([("amount", "2000"), ("metadata[deal_id]", "d1"), ("items[0][price]", "p"), ("expand[]", "x")])
{'amount': '2000', 'metadata': {'deal_id': 'd1'}, 'items': [{'price': 'p'}], 'expand': ['x']}

Values stay strings (the provider parses them per field). Numbered keys (`items[0]`) make a
list in index order; `[]` appends. A repeated name keeps its last value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)\Z")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs as one nested object."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        _insert(root, _segments(name), value)
    return _lists(root)


def _segments(name: str) -> list[str]:
    """'items[0][price]' -> ['items', '0', 'price']; a name that is not bracket notation stays whole."""
    found = _NAME.match(name)
    if found is None:
        return [name]
    return [found[1], *_SEGMENT.findall(found[2])]


def _insert(node: dict[str, Any], segments: list[str], value: str) -> None:
    head, rest = segments[0], segments[1:]
    if not rest:
        node[head] = value
        return
    if rest[0] == "":  # 'expand[]': append
        items = node.get(head)
        if not isinstance(items, list):
            items = node[head] = []
        if len(rest) == 1:
            items.append(value)
            return
        # 'lines[][price]=p&lines[][qty]=1' fills one element until a name repeats (as Rack does)
        if not items or not isinstance(items[-1], dict) or rest[1] in items[-1]:
            items.append({})
        _insert(items[-1], rest[1:], value)
        return
    child = node.get(head)
    if not isinstance(child, dict):
        child = node[head] = {}
    _insert(child, rest, value)


def _lists(value: Any) -> Any:
    """Objects keyed only by numbers become lists in index order."""
    if isinstance(value, list):
        return [_lists(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted

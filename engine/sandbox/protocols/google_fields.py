"""Google partial responses: the `fields` selector every Google API takes, and YouTube's `part`.

    fields=nextPageToken,files(id,name,owners(emailAddress))
    -> {"nextPageToken": {}, "files": {"id": {}, "name": {}, "owners": {"emailAddress": {}}}}

A selector is a comma-separated list of names; `a(b,c)` selects inside `a` (each element of a
list), `a/b` is `a(b)`, `*` everything at that level. An empty sub-selection keeps the whole value.
"""

from __future__ import annotations

from typing import Any

from engine.sandbox.protocols.base import BadRequest

Selection = dict[str, "Selection"]


def parse_fields(text: str) -> Selection:
    """The selection tree of a `fields` value; a malformed one is Google's 400 'Invalid field selection'."""
    tree, rest = _parse(text.replace(" ", ""), 0)
    if rest != len(text.replace(" ", "")):
        raise _invalid(text)
    return tree


def _parse(text: str, at: int) -> tuple[Selection, int]:
    tree: Selection = {}
    while at < len(text) and text[at] != ")":
        end = at
        while end < len(text) and text[end] not in ",()":
            end += 1
        path = text[at:end]
        if not path or any(not part for part in path.split("/")):
            raise _invalid(text)
        node = tree
        for part in path.split("/"):
            node = node.setdefault(part, {})
        at = end
        if at < len(text) and text[at] == "(":
            inner, at = _parse(text, at + 1)
            if at >= len(text) or text[at] != ")" or not inner:
                raise _invalid(text)
            node.update(inner)
            at += 1
        if at < len(text) and text[at] == ",":
            at += 1
            if at >= len(text) or text[at] in ",)":
                raise _invalid(text)
    return tree, at


def _invalid(text: str) -> BadRequest:
    return BadRequest(f"Invalid field selection {text}", code="invalidParameter", param="fields")


def select(value: Any, tree: Selection) -> Any:
    """`value` cut down to the selection (lists element by element)."""
    if not tree or "*" in tree and len(tree) == 1:
        return value
    if isinstance(value, list):
        return [select(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    if "*" in tree:
        return {k: select(v, tree.get(k, {})) for k, v in value.items()}
    return {k: select(value[k], sub) for k, sub in tree.items() if k in value}

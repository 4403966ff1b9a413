"""The operation index: every (method, path template) of a provider's specs, in one shape.

Each spec format (OpenAPI 3, Swagger 2, Google discovery, Meta's node specs) is read into
`Operation`s; an `OperationIndex` finds the operation a connector's request path means.

A connector's path is matched with its Jinja expressions standing for one segment each
(`/v1/invoices/{{ results[0].id }}/finalize` ~ `/v1/invoices/{invoice}/finalize`), literal
segments fill a `{param}` too (`users/me` ~ `users/{userId}`), `{+name}` (Google's reserved
expansion) takes several segments, and a server's base path (`servers`, `basePath`) may or may
not be part of the connector's path. Of several matches the most literal one wins
(`/v1/invoices/upcoming` over `/v1/invoices/{invoice}`); ties are merged (Meta's `insights`
edge on both users and media).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from .request_paths import EXPRESSION
from .schemas import Schema

_PARAM = re.compile(r"\{(\+?)([^{}]+)\}")


@dataclass(frozen=True)
class Param:
    """A declared parameter. `location`: query, header, path, cookie, or `any` (Meta: query or body)."""

    name: str
    location: str
    style: str | None = None
    values: tuple[str, ...] | None = None  # the values it takes (Meta's enums), None: not known
    many: bool = False  # a comma-separated list of them


@dataclass(eq=False)
class Operation:
    method: str
    path: str
    source: str
    name: str = ""
    prefixes: tuple[str, ...] = ()  # base paths (templates) the connector's path may start with
    params: dict[str, Param] = field(default_factory=dict)
    body: Schema | None = None
    response: Schema | None = None
    errors: Schema | None = None
    selects_fields: Schema | None = None

    def query_params(self) -> dict[str, Param]:
        return {n: p for n, p in self.params.items() if p.location in ("query", "any")}

    def label(self) -> str:
        return f"{self.method} {self.path}"


def template_regex(template: str) -> tuple[str, int]:
    """A path template as a regex fragment, and how many literal characters it holds.

    `{name}` is one segment, `{+name}` several, `{name:regex}` what the regex matches."""
    out: list[str] = []
    literal = 0
    last = 0
    for match in _PARAM.finditer(template):
        chunk = template[last : match.start()]
        out.append(re.escape(chunk))
        literal += len(chunk)
        _, colon, own = match.group(2).partition(":")
        out.append(own if colon else "[^?#]+" if match.group(1) else "[^/?#]+")
        last = match.end()
    out.append(re.escape(template[last:]))
    literal += len(template) - last
    return "".join(out), literal


def _trim(path: str) -> str:
    return path.rstrip("/") or "/"


def shape(path: str) -> str:
    """A path with every parameter as '{}' (a connector's expressions too): for did-you-mean."""
    return _PARAM.sub("{}", path.replace(EXPRESSION, "{}"))


@dataclass(frozen=True, eq=False)
class Found:
    operation: Operation


@dataclass(frozen=True, eq=False)
class WrongMethod:
    methods: list[str]
    templates: list[str]


@dataclass(frozen=True, eq=False)
class NotFound:
    suggestions: list[str]


class OperationIndex:
    def __init__(self, operations: list[Operation]) -> None:
        self.operations = operations
        self._entries: list[tuple[re.Pattern[str], int, Operation]] = []
        for op in operations:
            body, literal = template_regex(_trim(op.path))
            prefixes = "|".join(template_regex(p.rstrip("/"))[0] for p in op.prefixes)
            pattern = f"(?:{prefixes})?{body}" if prefixes else body
            self._entries.append((re.compile(pattern), literal, op))

    def __len__(self) -> int:
        return len(self.operations)

    def find(self, method: str, path: str) -> Found | WrongMethod | NotFound:
        """The operation for a connector path (its expressions written as EXPRESSION)."""
        path = _trim(path)
        hits = [(literal, op) for regex, literal, op in self._entries if regex.fullmatch(path)]
        same = [(literal, op) for literal, op in hits if op.method == method]
        if same:
            best = max(literal for literal, _ in same)
            tied = [op for literal, op in same if literal == best]
            return Found(tied[0] if len(tied) == 1 else merge(tied))
        if hits:
            return WrongMethod(sorted({op.method for _, op in hits}), sorted({op.path for _, op in hits}))
        return NotFound(self._suggest(method, path))

    def _suggest(self, method: str, path: str) -> list[str]:
        wanted = shape(path)
        by_shape: dict[str, str] = {}
        for op in self.operations:
            if op.method != method:
                continue
            for prefix in ("", *op.prefixes):
                by_shape.setdefault(shape(prefix + op.path), op.path)
        close = difflib.get_close_matches(wanted, list(by_shape), n=3, cutoff=0.6)
        return list(dict.fromkeys(f"{method} {by_shape[c]}" for c in close))


def merge(operations: list[Operation]) -> Operation:
    """Several operations equally good for one request: anything one of them declares is declared."""
    first = operations[0]

    def union(schemas: list[Schema | None]) -> Schema | None:
        present = [s for s in schemas if s]
        return Schema.union(present) if present else None

    params: dict[str, Param] = {}
    for op in operations:
        for name, param in op.params.items():
            known = params.get(name)
            if known is not None and known.values is not None and param.values is not None:
                values = tuple(dict.fromkeys(known.values + param.values))  # either operation's values
                param = Param(name, param.location, param.style, values, known.many or param.many)
            elif known is not None and (known.values is None or param.values is None):
                param = Param(name, param.location, param.style)  # one takes any value
            params[name] = param
    return Operation(
        method=first.method,
        path=" | ".join(dict.fromkeys(op.path for op in operations)),
        source=", ".join(dict.fromkeys(op.source for op in operations)),
        name=", ".join(op.name for op in operations),
        params=params,
        body=union([op.body for op in operations]),
        response=union([op.response for op in operations]),
        errors=union([op.errors for op in operations]),
        selects_fields=union([op.selects_fields for op in operations]),
    )

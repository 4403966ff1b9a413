"""The checks' shared tools: report a finding at its YAML key, find an operation, and compare
parameters, bodies and record paths with a schema. `streams`, `actions` and `webhooks` use it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from ..errors import Location
from ..spec.loader import LoadedConnector
from .findings import Finding, Report
from .operations import Found, NotFound, Operation, OperationIndex, WrongMethod
from .request_paths import request_path
from .schemas import Schema, lookup

Key = tuple[str | int, ...]
_BRACKETS = re.compile(r"\[([^\]]*)\]")


def dotted(key: Key) -> str:
    return ".".join(str(part) for part in key)


def _hint(name: str, offered: list[str], *, listing: int = 8) -> str:
    close = difflib.get_close_matches(name, offered, n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if offered:
        shown = ", ".join(sorted(offered)[:listing]) + (", ..." if len(offered) > listing else "")
        return f"; the spec offers: {shown}"
    return ""


def template_references(value: Any, name: str) -> Iterator[str]:
    """Record paths a template reads from a name: 'parent.id' in '{{ parent.id | urlencode }}'."""
    pattern = re.compile(rf"\b{re.escape(name)}\.([A-Za-z_][\w.]*)")
    if isinstance(value, str):
        for match in pattern.finditer(value):
            yield match.group(1).rstrip(".")
    elif isinstance(value, dict):
        for item in value.values():
            yield from template_references(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from template_references(item, name)


def form_path(name: str) -> str:
    """Form bracket notation as a record path: 'items[0][price]' -> 'items.0.price'."""
    base, _, rest = name.partition("[")
    parts = [base, *_BRACKETS.findall("[" + rest)] if rest else [base]
    return ".".join(p for p in parts if p)


class Checker:
    def __init__(self, loaded: LoadedConnector, index: OperationIndex, specs: list[str]) -> None:
        self.loaded = loaded
        self.spec = loaded.spec
        self.index = index
        self.report = Report(self.spec.name, specs)

    # ------------------------------------------------------------ findings

    def _finding(self, where: str, key: Key, message: str) -> Finding:
        position = self.loaded.positions.find(key, key=True)
        location = Location(str(self.loaded.path), *position) if position else Location(str(self.loaded.path))
        return Finding(self.spec.name, where, dotted(key), message, location)

    def problem(self, where: str, key: Key, message: str) -> None:
        self.report.problems.append(self._finding(where, key, message))

    def accept(self, where: str, key: Key, message: str) -> None:
        self.report.accepted.append(self._finding(where, key, message))

    # ------------------------------------------------------------ comparisons

    def operation(self, where: str, key: Key, method: str, path: str) -> Operation | None:
        """The spec's operation for a request, or None after reporting why there is none."""
        self.report.checked += 1
        target = request_path(path, self.spec.base_url)
        if target.path is None:
            self.accept(where, (*key, "path"), f"{target.reason}; path, parameters and body not checked")
            return None
        found = self.index.find(method, target.path)
        if isinstance(found, Found):
            for name in target.query:
                self.param(where, (*key, "path"), found.operation, name)
            return found.operation
        if isinstance(found, WrongMethod):
            self.problem(
                where,
                (*key, "method"),
                f"{method} {target.shown()}: the spec has {', '.join(found.methods)} only "
                f"({'; '.join(found.templates)})",
            )
        elif isinstance(found, NotFound):
            hint = f"; did you mean {' or '.join(found.suggestions)}?" if found.suggestions else ""
            self.problem(where, (*key, "path"), f"{method} {target.shown()} is not in the spec{hint}")
        return None

    def param(self, where: str, key: Key, op: Operation, name: str) -> None:
        """A query parameter the connector sends must be declared (`created[gte]` by `created`)."""
        self.report.checked += 1
        declared = op.query_params()
        base = name.split("[", 1)[0]
        if name in declared or (base != name and base in declared):
            return
        elsewhere = op.params.get(name) or op.params.get(base)
        if elsewhere is not None:
            self.problem(
                where, key, f"'{name}' is a {elsewhere.location} parameter of {op.label()}, not a query one"
            )
            return
        self.problem(
            where,
            key,
            f"query parameter '{name}' is not declared for {op.label()} ({op.source})"
            + _hint(base, list(declared)),
        )

    def param_value(self, where: str, key: Key, op: Operation, name: str, value: Any) -> None:
        """A literal value of a parameter the spec enumerates must be one of its values (each, in a list)."""
        param = op.params.get(name)
        if param is None or param.values is None or not isinstance(value, str) or "{{" in value:
            return
        self.report.checked += 1
        sent = [v.strip() for v in value.split(",")] if param.many else [value]
        for item in sent:
            if item not in param.values:
                self.problem(
                    where,
                    key,
                    f"'{item}' is not a value of '{name}' for {op.label()} ({op.source})"
                    + _hint(item, list(param.values)),
                )

    def body(self, where: str, key: Key, op: Operation, body: dict[str, Any], *, form: bool) -> None:
        """Each field the connector sends must be in the request body schema (nested where given)."""
        if op.body is None:
            self.report.checked += 1
            self.problem(where, key, f"{op.label()} takes no request body in the spec ({op.source})")
            return
        self._fields(where, key, op, op.body, body, form=form)

    def _fields(
        self, where: str, key: Key, op: Operation, schema: Schema, body: dict[str, Any], *, form: bool
    ) -> None:
        for name, value in body.items():
            self.report.checked += 1
            path = form_path(name) if form else name
            found = lookup(schema, path, "the request body")
            if found.status == "missing":
                self.problem(
                    where,
                    (*key, name),
                    f"body field '{name}' is not in the request body of {op.label()} ({op.source})"
                    + _hint(path.rsplit(".", 1)[-1], found.choices or []),
                )
            elif found.status == "open":
                self.accept(where, (*key, name), f"body field '{name}': {found.reason}")
            elif found.schema is not None:
                if isinstance(value, dict):
                    self._fields(where, (*key, name), op, found.schema, value, form=False)
                elif isinstance(value, list):
                    items = lookup(found.schema, "0")
                    for i, item in enumerate(value):
                        if isinstance(item, dict) and items.schema is not None:
                            self._fields(where, (*key, name, i), op, items.schema, item, form=False)

    def record_path(
        self, where: str, key: Key, schema: Schema | None, path: str, what: str, root: str = "the record"
    ) -> Schema | None:
        """A record or body path must lead somewhere in the schema; open schemas are accepted."""
        if schema is None:
            return None
        self.report.checked += 1
        found = lookup(schema, path, root)
        if found.status == "missing":
            last = path.replace("[", ".").split(".")[-1] or path
            offered = found.choices or []
            self.problem(
                where, key, f"{what} '{path}' is not in the spec: {found.reason}" + _hint(last, offered)
            )
        elif found.status == "open":
            self.accept(where, key, f"{what} '{path}': {found.reason}, so any key is accepted")
        return found.schema

    def no_schema(self, where: str, key: Key, op: Operation, what: str) -> None:
        self.accept(where, key, f"{op.label()} declares no {what} schema in {op.source}; paths not checked")

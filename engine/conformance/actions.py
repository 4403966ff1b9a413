"""Actions against the spec: each request (and `then` step) path and method, query parameters,
JSON or form body fields (nested where the YAML nests them), `result.record`, what a step reads
of an earlier result (`result.id`, `results[0].id`), and the error paths."""

from __future__ import annotations

from ..actions.spec import ActionRequest, ActionSpec
from .checker import Checker, Key, template_references
from .schemas import Schema


def _record(
    checker: Checker, where: str, key: Key, response: Schema | None, record: str | None
) -> Schema | None:
    if response is None or not record:
        return response
    return checker.record_path(where, key, response, record, "result record path", "the response body")


def check_action(checker: Checker, name: str, action: ActionSpec) -> None:
    steps: list[tuple[Key, str, ActionRequest]] = [(("actions", name, "request"), "request", action.request)]
    steps += [(("actions", name, "then", i), f"then[{i}]", r) for i, r in enumerate(action.then)]
    records: list[Schema | None] = []
    last_errors: Schema | None = None
    for key, label, request in steps:
        where = f"action {name} {label}"
        op = checker.operation(where, key, request.method, request.path)
        request_fields = request.model_dump(exclude_none=True)
        if records:
            for path in dict.fromkeys(template_references(request_fields, "result")):
                checker.record_path(where, key, records[-1], path, "previous result field")
            for path in dict.fromkeys(template_references(request_fields, "results[0]")):
                checker.record_path(where, key, records[0], path, "first result field")
        if op is None:
            records.append(None)
            continue
        for param in request.params:
            checker.param(where, (*key, "params", param), op, param)
        if request.encoding in ("json", "form") and isinstance(request.body, dict):
            checker.body(where, (*key, "body"), op, request.body, form=request.encoding == "form")
        if op.response is None:
            checker.no_schema(where, key, op, "response")
        records.append(
            _record(checker, where, ("actions", name, "result", "record"), op.response, action.result.record)
        )
        last_errors = op.errors or last_errors
    where = f"action {name}"
    for attr in ("code", "message"):
        path = getattr(action.errors, attr)
        if path and last_errors is not None:
            checker.record_path(
                where, ("actions", name, "errors", attr), last_errors, path, "error path", "the error body"
            )


def check_actions(checker: Checker) -> None:
    for name, action in checker.spec.actions.items():
        check_action(checker, name, action)

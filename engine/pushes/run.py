"""One push towards one connection: read the rows, send the new and the changed, remember ids.

    report = run_push(push_name, spec, model, destination, marks, perform)

1. Every row of the source model matching `from.where` renders its input (`row`, `remote`: the
   remote id remembered for it, `config`). A row whose input hashes as at its last successful push
   is left alone: nothing changed that the provider would see. With `remote_of`, only the rows
   that push holds go, with its remote ids; with `read_back`, every one of them goes each run.
2. The rest go through the action (or `update_action` when they have a remote id), `batch.size`
   rows per call where the provider takes lists. A failed call fails its rows; a per-row error in
   a batch result fails that row only. Failures are remembered and tried again next run.
3. Each row the provider took remembers its remote id and input hash. The action's own idempotency
   key is derived from its input, so a run that dies after the provider answered and before the
   marks were written sends the same keys again and creates nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..actions.run import ActionError, ActionOutcome
from ..control.push_marks import PushMarks
from ..destinations import Destination
from ..errors import ManifoldError, TemplateError
from ..models import RAW_COLUMN, ModelSpec
from ..paths import get_path
from ..templating import render_native
from ..warehouse_read import shown_row
from .spec import PushSpec

Perform = Callable[[str, Any], ActionOutcome]  # action name, input -> outcome


@dataclass
class PushReport:
    push: str
    connection_id: str
    rows: int = 0
    unchanged: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.push} -> {self.connection_id}: {self.rows} rows, {self.created} created, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.failed} failed ({self.calls} calls)"
        )


@dataclass(frozen=True)
class _Pending:
    row_key: str
    row: dict[str, Any]
    given: Any
    input_hash: str
    remote: str | None


def row_key(model: ModelSpec, row: Mapping[str, Any]) -> str:
    """The row's table key, (_provider, _connection_id, *primary key), as text."""
    return orjson.dumps([row[c] for c in model.table_key], default=str).decode()


def input_hash(given: Any) -> str:
    return hashlib.sha256(orjson.dumps(given, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:32]


def pruned(value: Any) -> Any:
    """None values left out of mappings, at every depth (as action bodies leave them out)."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def run_push(
    name: str,
    push: PushSpec,
    model: ModelSpec,
    destination: Destination,
    marks: PushMarks,
    perform: Perform,
    *,
    config: dict[str, Any] | None = None,
    remotes: PushMarks | None = None,
) -> PushReport:
    """`remotes`: the marks of `push.remote_of`, whose remote ids this push uses."""
    report = PushReport(name, marks.scope[2])
    columns = [c for c in model.all_columns if c != RAW_COLUMN]
    known = marks.all()
    given_remotes = remotes.all() if remotes is not None else None
    cache: dict[str, Any] = {}
    groups: dict[str, list[_Pending]] = {}
    for raw in destination.rows(model.name, columns, dict(push.source.where)):
        row = shown_row(model, raw)
        key = row_key(model, raw)
        mark = known.get(key)
        if given_remotes is not None:
            other = given_remotes.get(key)
            remote = other.remote_id if other is not None else None
            if remote is None:
                continue  # not pushed there (yet): nothing to read back or build on
        else:
            remote = mark.remote_id if mark is not None else None
        report.rows += 1
        context = {"row": row, "remote": remote, "config": config or {}}
        try:
            given = pruned(render_native(_template(push, remote), cache, context))
        except TemplateError as exc:
            marks.failed([(key, str(exc))])
            report.failed += 1
            report.errors.append(f"{name}: {exc}")
            continue
        digest = input_hash(given)
        unchanged = mark is not None and mark.state == "pushed" and mark.input_hash == digest
        if unchanged and not push.read_back:
            report.unchanged += 1
            continue
        action = push.update_action if remote is not None and push.update_action else push.action
        groups.setdefault(action, []).append(_Pending(key, row, given, digest, remote))
    size = push.batch.size if push.batch is not None else 1

    def settled_hash(pending: _Pending, remote: str) -> str:
        """The hash of the input as the next run renders it, with the remote id now known: a
        created row is unchanged until the row itself changes."""
        if remote == pending.remote:
            return pending.input_hash
        context = {"row": pending.row, "remote": remote, "config": config or {}}
        return input_hash(pruned(render_native(_template(push, remote), cache, context)))

    for action, pending in groups.items():
        for start in range(0, len(pending), size):
            _send(name, push, action, pending[start : start + size], marks, perform, settled_hash, report)
    return report


def _template(push: PushSpec, remote: str | None) -> dict[str, Any]:
    """The input template a row with this remote id goes through."""
    if remote is not None and push.update_action and push.update_input is not None:
        return push.update_input
    return push.input


def _send(
    name: str,
    push: PushSpec,
    action: str,
    chunk: list[_Pending],
    marks: PushMarks,
    perform: Perform,
    settled_hash: Callable[[_Pending, str], str],
    report: PushReport,
) -> None:
    given = {push.batch.field: [p.given for p in chunk]} if push.batch is not None else chunk[0].given
    report.calls += 1
    try:
        outcome = perform(action, given)
    except (ActionError, ManifoldError) as exc:
        _fail(name, chunk, str(exc), marks, report)
        return
    if push.read_back:  # the result landed through the action's `result.apply`
        marks.pushed([(p.row_key, str(p.remote), p.input_hash) for p in chunk])
        report.updated += len(chunk)
        return
    found = get_path(outcome.record, push.result.records) if push.result.records else outcome.record
    results = found if push.batch is not None else [found]
    if not isinstance(results, list) or len(results) != len(chunk):
        count = len(results) if isinstance(results, list) else "no list"
        _fail(name, chunk, f"{action} answered {count} results for {len(chunk)} rows", marks, report)
        return
    done: list[tuple[str, str, str]] = []
    for pending, result in zip(chunk, results, strict=True):
        error = get_path(result, push.result.error) if push.result.error else None
        remote = get_path(result, push.result.remote_id)
        if error:
            _fail(name, [pending], f"{action} refused the row: {_text(error)}", marks, report)
        elif remote is None and pending.remote is None:
            _fail(name, [pending], f"{action} gave no '{push.result.remote_id}' for the row", marks, report)
        else:
            known = str(remote if remote is not None else pending.remote)
            done.append((pending.row_key, known, settled_hash(pending, known)))
            if pending.remote is None:
                report.created += 1
            else:
                report.updated += 1
    marks.pushed(done)


def _fail(name: str, chunk: list[_Pending], error: str, marks: PushMarks, report: PushReport) -> None:
    marks.failed([(p.row_key, error) for p in chunk])
    report.failed += len(chunk)
    report.errors.append(f"{name}: {error}")


def _text(error: Any) -> str:
    if isinstance(error, list):
        return "; ".join(_text(e) for e in error)
    if isinstance(error, dict):
        return str(error.get("Message") or error.get("message") or orjson.dumps(error).decode())
    return str(error)

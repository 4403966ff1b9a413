"""Pushes: warehouse rows sent through a connector's actions, created once, updated when they
change, failures remembered and retried. End to end with the CLI against the sandbox (a made-up
ledger provider whose notes mirror Stripe invoices), and the batching and per-row errors of a
list-taking provider (Xero's shape) with the action stubbed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engine.actions.run import ActionError, ActionOutcome
from engine.control import open_control
from engine.control.push_marks import PushMarks, push_summary
from engine.models import load_models
from engine.pushes.run import run_push
from engine.pushes.spec import PushSpec
from engine.spec.loader import load_connector

from .conftest import Workspace
from .web_support import running_service, settings_for

LEDGER = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: ledger
title: Ledger
docs: https://ledger.example.com/docs
base_url: https://api.ledger.example.com
auth: {type: bearer, token: "{{ env.LEDGER_TOKEN }}"}
env: [LEDGER_TOKEN]
actions:
  create_note:
    input: {type: object, required: [ref], properties: {ref: {type: string}, title: {type: [string, "null"]},
            amount: {type: [string, "null"]}}}
    request: {path: /v1/notes, body: {ref: "{{ input.ref }}", title: "{{ input.title }}", amount: "{{ input.amount }}"}}
    idempotency: {header: Idempotency-Key}
    errors: {code: error.code, message: error.message}
  update_note:
    input: {type: object, required: [id], properties: {id: {type: string}, ref: {type: string},
            title: {type: [string, "null"]}, amount: {type: [string, "null"]}}}
    request: {path: "/v1/notes/{{ input.id }}", body: {title: "{{ input.title }}", amount: "{{ input.amount }}"}}
    errors: {code: error.code, message: error.message}
pushes:
  invoices:
    description: Each Stripe invoice as a ledger note; created once, updated when it changes.
    from: {model: invoices, where: {_provider: stripe}}
    action: create_note
    update_action: update_note
    input:
      id: "{{ remote }}"
      ref: "{{ row.id }}"
      title: "{{ row.number if row.status != 'void' else none }}"
      amount: "{{ row.amount_due }}"
sandbox:
  env: {LEDGER_TOKEN: ledger_sandbox_token}
  require_headers: {Authorization: "Bearer ledger_sandbox_token"}
  routes:
    - {path: /v1/notes, protocol: offset_limit, fixture: fixtures/ledger/notes.json}
    - {path: /v1/notes, method: POST, protocol: create, fixture: fixtures/ledger/notes.json,
       options: {id_prefix: note_, required: [title], idempotency_header: Idempotency-Key}}
    - {path: "/v1/notes/{id}", method: POST, protocol: update, fixture: fixtures/ledger/notes.json,
       options: {object: note}}
"""


@pytest.fixture
def space(workspace: Workspace) -> Workspace:
    (workspace.connectors / "ledger.yaml").write_text(LEDGER)
    (workspace.connectors / "fixtures" / "ledger").mkdir()
    (workspace.connectors / "fixtures" / "ledger" / "notes.json").write_text("[]")
    workspace.start_sandbox()
    return workspace


def push(space: Workspace) -> tuple[int, str, str]:
    assert space.sandbox is not None
    done = space.cli("push", "ledger", "invoices", "--sandbox-url", space.sandbox.url)
    return done.returncode, done.stdout, done.stderr


def writes(space: Workspace) -> list[dict[str, Any]]:
    assert space.sandbox is not None
    return [r for r in space.sandbox.requests("ledger") if r["method"] == "POST"]


def test_rows_are_created_once_updated_when_changed_and_failures_retried(
    space: Workspace, tmp_path: Path
) -> None:
    assert space.sandbox is not None
    synced = space.cli("sync", "stripe", "--sandbox", "--sandbox-url", space.sandbox.url, "-s", "invoices")
    assert synced.returncode == 0, synced.stderr

    code, out, err = push(space)
    assert code == 1  # the void invoice has no title: the ledger refuses that one row
    assert "5 rows, 4 created, 0 updated, 0 unchanged, 1 failed (5 calls)" in out
    assert "Missing required param: title" in err
    notes = space.sandbox.records("ledger", "/v1/notes")
    assert sorted(n["ref"] for n in notes) == [
        "in_1Q01ZxLkdIwHu7ix0001",
        "in_1Q02ZxLkdIwHu7ix0002",
        "in_1Q03ZxLkdIwHu7ix0003",
        "in_1Q05ZxLkdIwHu7ix0005",
    ]
    assert {n["amount"] for n in notes} >= {"1500.00", "480.00"}
    first = writes(space)
    assert all(r["path"] == "/v1/notes" and r["headers"]["idempotency-key"].startswith("mf-") for r in first)

    space.sandbox.clear_requests()
    code, out, _ = push(space)  # nothing changed: only the failed row is tried again
    assert "5 rows, 0 created, 0 updated, 4 unchanged, 1 failed (1 calls)" in out
    (retry,) = writes(space)
    assert retry["body"]["ref"] == "in_1Q04ZxLkdIwHu7ix0004"

    path = space.warehouse_url.removeprefix("duckdb:///")
    with duckdb.connect(path) as con:
        con.execute("UPDATE invoices SET amount_due = 481 WHERE id = 'in_1Q02ZxLkdIwHu7ix0002'")
        con.execute("UPDATE invoices SET status = 'open' WHERE id = 'in_1Q04ZxLkdIwHu7ix0004'")
    space.sandbox.clear_requests()
    code, out, err = push(space)
    assert code == 0, err
    assert "5 rows, 1 created, 1 updated, 3 unchanged, 0 failed (2 calls)" in out
    paths = sorted(r["path"] for r in writes(space))
    note = next(
        n for n in space.sandbox.records("ledger", "/v1/notes") if n["ref"] == "in_1Q02ZxLkdIwHu7ix0002"
    )
    assert paths == ["/v1/notes", f"/v1/notes/{note['id']}"]  # the same note, updated in place
    assert note["amount"] == "481.00"
    assert len(space.sandbox.records("ledger", "/v1/notes")) == 5

    db = open_control(os.environ["MANIFOLD_CONTROL_URL"])
    try:
        (summary,) = push_summary(db)
        marks = PushMarks(db, "ledger", "invoices", "default").all()
    finally:
        db.close()
    assert summary["pushed"] == 5 and summary["failed"] == 0
    with (
        running_service(
            settings_for(tmp_path, space.connectors, control_url=os.environ["MANIFOLD_CONTROL_URL"])
        ) as running,
        running.admin() as admin,
    ):
        (shown,) = admin.get("/api/admin/diagnostics/integrations").json()["pushes"]
        page = admin.get("/admin").text
    assert (shown["push"], shown["connection_id"], shown["pushed"], shown["failed"]) == (
        "invoices",
        "default",
        5,
        0,
    )
    assert "<code>ledger.invoices</code>" in page
    assert {m.remote_id for m in marks.values()} == {
        n["id"] for n in space.sandbox.records("ledger", "/v1/notes")
    }


XERO_STYLE = {
    "from": {"model": "invoices", "where": {"_provider": "stripe"}},
    "action": "create_invoices",
    "batch": {"size": 2, "field": "invoices"},
    "input": {"InvoiceID": "{{ remote }}", "Reference": "{{ row.id }}", "Total": "{{ row.total }}"},
    "result": {"records": "Invoices", "remote_id": "InvoiceID", "error": "ValidationErrors"},
}


class Rows:
    """A warehouse stand-in: the rows `rows()` returns, filtered as the destinations filter."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.table = rows

    def rows(self, table: str, columns: list[str], where: dict[str, Any], **_: Any) -> list[dict[str, Any]]:
        return [r for r in self.table if all(r.get(k) == v for k, v in where.items())]


def invoice(n: int, total: str = "10.00", provider: str = "stripe") -> dict[str, Any]:
    return {"_provider": provider, "_connection_id": "default", "id": f"in_{n}", "total": total}


def test_batches_carry_up_to_the_size_and_a_row_error_fails_only_that_row(tmp_path: Path) -> None:
    spec = PushSpec.model_validate(XERO_STYLE)
    model = load_models()["invoices"]
    rows = Rows([invoice(n) for n in range(1, 6)] + [invoice(9, provider="paypal")])
    calls: list[Any] = []

    def perform(action: str, given: Any) -> ActionOutcome:
        calls.append(given)
        answers = []
        for item in given["invoices"]:
            bad = item["Reference"] == "in_3"
            answers.append(
                {
                    "InvoiceID": None if bad else item.get("InvoiceID") or f"X-{item['Reference']}",
                    "ValidationErrors": [{"Message": "Account code '200' is not a valid code."}]
                    if bad
                    else [],
                }
            )
        return ActionOutcome("xero", action, "acme", 200, {"Invoices": answers})

    db = open_control(os.environ["MANIFOLD_CONTROL_URL"])
    try:
        marks = PushMarks(db, "xero", "invoices", "acme")
        report = run_push("invoices", spec, model, rows, marks, perform)  # type: ignore[arg-type]
        assert [len(c["invoices"]) for c in calls] == [2, 2, 1]  # the PayPal row is not pushed
        assert "InvoiceID" not in calls[0]["invoices"][0]  # none before the first push: left out
        assert (report.created, report.failed, report.calls) == (4, 1, 3)
        assert report.errors == [
            "invoices: create_invoices refused the row: Account code '200' is not a valid code."
        ]

        calls.clear()
        rows.table[0]["total"] = "12.00"  # in_1 changed; in_3 still failing
        report = run_push("invoices", spec, model, rows, marks, perform)  # type: ignore[arg-type]
        assert [[i["Reference"] for i in c["invoices"]] for c in calls] == [["in_1", "in_3"]]
        assert calls[0]["invoices"][0]["InvoiceID"] == "X-in_1"  # the update names Xero's id
        assert (report.created, report.updated, report.unchanged, report.failed) == (0, 1, 3, 1)
        failing = marks.all()[json.dumps(["stripe", "default", "in_3"], separators=(",", ":"))]
        assert failing.state == "failed" and failing.attempts == 2 and failing.remote_id is None
    finally:
        db.close()


def test_a_refused_call_fails_every_row_of_its_batch(tmp_path: Path) -> None:
    spec = PushSpec.model_validate(XERO_STYLE)

    def refuse(action: str, given: Any) -> ActionOutcome:
        raise ActionError("xero.create_invoices: the provider refused it (400)", kind="provider", status=400)

    db = open_control(os.environ["MANIFOLD_CONTROL_URL"])
    try:
        marks = PushMarks(db, "xero", "invoices", "acme")
        report = run_push(
            "invoices", spec, load_models()["invoices"], Rows([invoice(1), invoice(2)]), marks, refuse
        )  # type: ignore[arg-type]
        assert (report.failed, report.calls) == (2, 1)
        assert {m.state for m in marks.all().values()} == {"failed"}
    finally:
        db.close()


def test_validate_names_an_unknown_model_action_and_template_name(tmp_path: Path) -> None:
    broken = (
        LEDGER.replace("from: {model: invoices,", "from: {model: invoice,")
        .replace("update_action: update_note", "update_action: update_notes")
        .replace("{{ row.amount_due }}", "{{ rows.amount_due }}")
    )
    (tmp_path / "ledger.yaml").write_text(broken)
    (tmp_path / "fixtures" / "ledger").mkdir(parents=True)
    (tmp_path / "fixtures" / "ledger" / "notes.json").write_text("[]")
    with pytest.raises(Exception) as caught:
        load_connector(tmp_path / "ledger.yaml", check_env=False)
    text = str(caught.value)
    assert "no model 'invoice' (did you mean 'invoices'?)" in text
    assert "no action 'update_notes' (did you mean 'update_note'?)" in text
    assert "rows" in text


def test_a_push_is_a_dagster_asset_downstream_of_the_tables_it_reads(
    space: Workspace, tmp_path: Path
) -> None:
    import dagster as dg

    from engine.orchestration import WarehouseResource

    from .orchestration_support import definitions

    assert space.sandbox is not None
    warehouse = WarehouseResource(url=space.warehouse_url, sandbox_url=space.sandbox.url)
    defs = definitions(warehouse, space.connectors)
    graph = defs.resolve_asset_graph()
    push_key = dg.AssetKey(["ledger", "push_invoices"])
    # Every Stripe stream that loads `invoices` (the listing and the invoice events) comes first.
    assert graph.get(push_key).parent_keys == {
        dg.AssetKey(["stripe", "invoices"]),
        dg.AssetKey(["stripe", "invoice_events"]),
    }

    instance = dg.DagsterInstance.ephemeral()
    for connector in ("stripe", "ledger"):
        instance.add_dynamic_partitions(f"{connector}_connections", ["default"])
    results = [
        dg.materialize(
            list(defs.assets or []),
            partition_key="default",
            resources={"warehouse": warehouse},
            instance=instance,
            selection=dg.AssetSelection.assets(key),
            raise_on_error=False,
        )
        for key in (dg.AssetKey(["stripe", "invoices"]), push_key)
    ]
    assert results[0].success
    assert not results[1].success  # the void invoice's row is refused: the asset fails, saying so
    (failure,) = [e for e in results[1].all_events if e.is_step_failure]
    assert "4 created" in str(failure.event_specific_data) and "1 failed" in str(failure.event_specific_data)
    assert len(space.sandbox.records("ledger", "/v1/notes")) == 4

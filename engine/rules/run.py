"""Evaluating rules over the warehouse and sending what they fired.

    report = run_rules(rules, destination, RuleFirings(db), connectors, models)

1. Evaluate: each rule reads the rows written since its mark (minus a margin, since a run's rows
   all carry its start time) that match `where`; a row not fired before fires once: its input
   is rendered now and remembered with it. The first evaluation records the rows already
   matching as the baseline and sends nothing.
2. Send: each pending firing runs its action; a failure is retried with backoff (a permanent
   provider error, or an input the action refuses, parks it at once), never lost.

Webhook deliveries of the same change (three `invoice.paid` for one invoice) update one row;
the row fires once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from ..actions.run import ActionError, ActionOutcome
from ..control.inbox import RetryPolicy
from ..control.rule_firings import RuleFirings
from ..destinations import Destination
from ..errors import ManifoldError, TemplateError
from ..models import RAW_COLUMN, SYNCED_AT_COLUMN, ModelSpec
from ..templating import render_native
from ..warehouse_read import shown_row
from .spec import RuleSpec

MARGIN = timedelta(hours=1)
Perform = Callable[[str, str, Any, str], ActionOutcome]  # connector, action, input, connection


@dataclass
class RulesReport:
    fired: int = 0
    baseline: int = 0
    sent: int = 0
    failed: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.fired} fired ({self.baseline} baseline), {self.sent} sent, {self.failed} failed "
            f"({self.parked} parked)"
        )


def _row_key(rule: RuleSpec, model: ModelSpec, row: Mapping[str, Any]) -> str:
    return orjson.dumps([row[c] for c in model.table_key] + sorted(rule.when.where.items())).decode()


def evaluate(
    rules: list[RuleSpec], destination: Destination, firings: RuleFirings, models: Mapping[str, ModelSpec]
) -> RulesReport:
    report = RulesReport()
    for rule in rules:
        model = models[rule.when.model]
        columns = [c for c in model.all_columns if c != RAW_COLUMN]
        where: dict[str, Any] = dict(rule.when.where)
        if rule.when.connector:
            where["_provider"] = rule.when.connector
        mark = firings.mark(rule.name)
        since = datetime.fromisoformat(mark) - MARGIN if mark else None
        rows = [shown_row(model, r) for r in destination.rows(model.name, columns, where, synced_after=since)]
        newest = max((r[SYNCED_AT_COLUMN] for r in rows if r[SYNCED_AT_COLUMN] is not None), default=None)
        if mark is None:
            scope = {"_provider": rule.when.connector} if rule.when.connector else {}
            if not rows and not destination.rows(model.name, [SYNCED_AT_COLUMN], scope, limit=1):
                continue  # nothing synced yet: the first rows to arrive are history, not news
            report.baseline += firings.fire(
                rule.name, [(_row_key(rule, model, r), {}) for r in rows], state="baseline"
            )
        else:
            fresh = []
            shown_rule = rule.model_dump()
            cache: dict[str, Any] = {}
            for row in rows:
                try:
                    given = render_native(rule.do.input, cache, {"row": row, "rule": shown_rule})
                except TemplateError as exc:
                    report.errors.append(f"{rule.name}: {exc}")
                    continue
                fresh.append((_row_key(rule, model, row), given))
            report.fired += firings.fire(rule.name, fresh)
        if newest is not None or mark is None:
            firings.set_mark(rule.name, newest or "1970-01-01T00:00:00+00:00")  # UTC ISO text sorts
    return report


def send(
    rules: list[RuleSpec],
    firings: RuleFirings,
    perform: Perform,
    *,
    policy: RetryPolicy = RetryPolicy(),
    report: RulesReport | None = None,
) -> RulesReport:
    report = report if report is not None else RulesReport()
    by_name = {r.name: r for r in rules}
    for firing in firings.due():
        rule = by_name.get(firing.rule)
        if rule is None:
            continue  # a rule removed since: its firings wait (and show) until it returns
        try:
            perform(rule.do.connector, rule.do.action, firing.input, rule.do.connection)
        except ActionError as exc:
            permanent = exc.permanent or exc.kind in ("validation", "template", "unknown_action")
            state = firings.failed(firing, str(exc), permanent=permanent, policy=policy)
            report.failed += 1
            report.parked += state == "parked"
            report.errors.append(f"{rule.name}: {exc}")
            continue
        except ManifoldError as exc:  # no such connection, missing env: fixable, so retried
            state = firings.failed(firing, str(exc), permanent=False, policy=policy)
            report.failed += 1
            report.parked += state == "parked"
            report.errors.append(f"{rule.name}: {exc}")
            continue
        firings.sent(firing)
        report.sent += 1
    return report

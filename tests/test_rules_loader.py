"""Rules files: every problem reported at once, with the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import SpecError
from engine.models import load_models
from engine.rules.loader import load_rules
from engine.spec.loader import load_connectors

from .conftest import ROOT


def test_rules_are_checked_against_models_actions_and_templates(tmp_path: Path) -> None:
    connectors = {c.spec.name: c for c in load_connectors([ROOT / "connectors"], check_env=False)}
    (tmp_path / "bad.yaml").write_text(
        "name: bad_rule\n"
        "when: {model: invoice, where: {staus: paid}}\n"
        "do: {connector: slack, action: notfy, input: {text: '{{ rwo.number }}'}}\n"
    )
    (tmp_path / "worse.yaml").write_text(
        "name: worse\nwhen: {model: invoices, where: {staus: paid}}\ndo: {connector: slak, action: notify}\n"
    )
    (tmp_path / "shape.yaml").write_text("name: Shape\nwhen: {}\n")
    with pytest.raises(SpecError) as caught:
        load_rules(tmp_path, load_models(), connectors)
    text = str(caught.value)
    for expected in (
        "no model 'invoice'",
        "did you mean 'invoices'",
        "no column 'staus' in invoices",
        "slack has no action 'notfy'",
        "undefined name 'rwo'",
        "no connector 'slak'",
        "shape.yaml",
        "String should match pattern",
    ):
        assert expected in text, expected
    assert load_rules(tmp_path / "none", load_models(), connectors) == []


def test_the_example_rules_are_valid() -> None:
    connectors = {c.spec.name: c for c in load_connectors([ROOT / "connectors"], check_env=False)}
    rules = load_rules(ROOT / "rules" / "examples", load_models(), connectors)
    assert sorted((r.when.model, r.do.connector, r.do.action) for r in rules) == [
        ("invoices", "slack", "notify"),
        ("signature_requests", "slack", "notify"),
    ]

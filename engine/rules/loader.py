"""Reading rules/*.yaml: every problem at once, with the file it is in."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..errors import Location, SpecError, SpecProblem
from ..models import ModelSpec, did_you_mean
from ..spec.checks import check_templates
from ..spec.loader import LoadedConnector
from .spec import RuleSpec

RULE_NAMES = frozenset({"row", "rule"})


def rules_dir() -> Path:
    return Path(os.environ.get("MANIFOLD_RULES") or (Path.cwd() / "rules"))


def load_rules(
    folder: Path, models: dict[str, ModelSpec], connectors: dict[str, LoadedConnector]
) -> list[RuleSpec]:
    """Every rule in the folder (none when it does not exist), checked against models and actions."""
    if not folder.is_dir():
        return []
    rules, problems = [], []
    for file in sorted(folder.glob("*.yaml")):
        where = Location(str(file))
        try:
            rule = RuleSpec.model_validate(yaml.safe_load(file.read_text()))
        except yaml.YAMLError as exc:
            problems.append(SpecProblem(where, f"not YAML: {exc}"))
            continue
        except ValidationError as exc:
            for error in exc.errors():
                path = ".".join(map(str, error["loc"]))
                problems.append(SpecProblem(where, error["msg"], path))
            continue
        found = _check(rule, models, connectors)
        problems += [SpecProblem(where, message, path) for path, message in found]
        rules.append(rule)
    names = [r.name for r in rules]
    problems += [
        SpecProblem(Location(str(folder)), f"two rules named '{n}'") for n in set(names) if names.count(n) > 1
    ]
    if problems:
        raise SpecError(problems)
    return rules


def _check(
    rule: RuleSpec, models: dict[str, ModelSpec], connectors: dict[str, LoadedConnector]
) -> list[tuple[str, str]]:
    problems = []
    model = models.get(rule.when.model)
    if model is None:
        problems.append(
            ("when.model", f"no model '{rule.when.model}'{did_you_mean(rule.when.model, models)}")
        )
    else:
        for column in rule.when.where:
            if column not in model.columns:
                problems.append(
                    (
                        "when.where",
                        f"no column '{column}' in {model.name}{did_you_mean(column, model.columns)}",
                    )
                )
    target = connectors.get(rule.do.connector)
    if target is None:
        problems.append(
            (
                "do.connector",
                f"no connector '{rule.do.connector}'{did_you_mean(rule.do.connector, connectors)}",
            )
        )
    elif rule.do.action not in target.spec.actions:
        known = list(target.spec.actions)
        problems.append(
            (
                "do.action",
                f"{rule.do.connector} has no action '{rule.do.action}'{did_you_mean(rule.do.action, known)}",
            )
        )
    for where, message in check_templates(rule.do.input, ("do", "input"), RULE_NAMES):
        problems.append((".".join(map(str, where)), message))
    return problems

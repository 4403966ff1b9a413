"""Reading `links/*.yaml` (MANIFOLD_LINKS to point elsewhere), checked against the models."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from ..models import ModelSpec, did_you_mean
from .spec import LinkSpec

DEFAULT_DIR = Path("links")


def links_dir() -> Path:
    return Path(os.environ.get("MANIFOLD_LINKS") or DEFAULT_DIR)


def load_links(directory: Path, models: dict[str, ModelSpec]) -> list[LinkSpec]:
    """Every link spec in the folder (none if it does not exist); every problem raised at once."""
    specs, problems = [], []
    for file in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        try:
            spec = LinkSpec.model_validate(yaml.safe_load(file.read_text()))
        except (ValidationError, yaml.YAMLError) as exc:
            problems.append(f"{file}: {exc}")
            continue
        problems += [f"{file}: {p}" for p in _check(spec, models)]
        specs.append(spec)
    if problems:
        raise ConfigError("link rules are invalid:\n  " + "\n  ".join(problems))
    return specs


def _check(spec: LinkSpec, models: dict[str, ModelSpec]) -> list[str]:
    problems = []
    if spec.name not in models:
        problems.append(f"no model '{spec.name}' to hold the links{did_you_mean(spec.name, models)}")

    def columns(where: str, model: str, names: list[str]) -> None:
        if model not in models:
            problems.append(f"{where}: no model '{model}'{did_you_mean(model, models)}")
            return
        known = models[model].all_columns
        for name in names:
            if name not in known:
                problems.append(f"{where}: '{model}' has no column '{name}'{did_you_mean(name, known)}")

    for rule in spec.rules:
        source, target = rule.source, rule.target
        at = [source.at] if source.at else []
        columns(f"rules.{rule.name}.from", source.model, [source.id, *source.columns, *at, *source.where])
        columns(f"rules.{rule.name}.to", target.model, [target.id, target.column, *target.where])
    for follow in spec.follow:
        columns(
            f"follow.{follow.name}.to",
            follow.target.model,
            [follow.target.id, *follow.by.values(), *follow.target.where],
        )
    return problems

"""The editor schema is generated from the spec models and must not go stale."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from engine.spec.schema import SCHEMA_PATH, render_schema

CONNECTORS = Path(__file__).resolve().parent.parent / "connectors"


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text() == render_schema(), (
        "schemas/connector.schema.json is stale: run `make schema`"
    )


def test_every_connector_points_editors_at_the_schema_and_matches_it() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    files = sorted(CONNECTORS.glob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=../schemas/connector.schema.json"), path
        jsonschema.validate(yaml.safe_load(text), schema)


def test_spec_reference_is_up_to_date() -> None:
    from engine.spec.reference import REFERENCE_PATH, render_reference

    assert REFERENCE_PATH.read_text() == render_reference(), (
        "docs/spec-reference.md is stale: run `make docs`"
    )

"""Every class of spec error is reported with file, line, column and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import SpecError
from engine.spec.loader import load_connector

GOOD = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: acme
title: Acme
docs: https://acme.example/docs
env: [ACME_KEY]
base_url: https://api.acme.example
auth: {type: bearer, token: "{{ env.ACME_KEY }}"}
streams:
  invoices:
    request: {path: /v1/invoices, params: {limit: 100}}
    records: data
    paging: {type: last_record_cursor, param: starting_after, field: id, more: has_more}
    into: invoices
    fields:
      id: id
      status: status
"""


def write(tmp_path: Path, text: str, name: str = "acme") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_connector(path, environ={"ACME_KEY": "k"} if environ is None else environ)
    return [str(p) for p in info.value.problems]


def test_good_spec_loads(tmp_path: Path) -> None:
    loaded = load_connector(write(tmp_path, GOOD), environ={"ACME_KEY": "k"})
    assert loaded.spec.streams["invoices"].paging.type == "last_record_cursor"


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("records: data", "records: [data"))
    assert len(found) == 1
    assert "acme.yaml:12:" in found[0] and "YAML syntax error" in found[0]


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("    records: data", "    recods: data"))
    assert any(
        "acme.yaml:11:5: unknown key 'recods'; did you mean 'records'?" in p
        and "streams.invoices.recods" in p
        for p in found
    ), found


def test_unknown_key_inside_a_paging_kind(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("field: id, more", "feild: id, more"))
    assert any("acme.yaml:12:" in p and "unknown key 'feild'; did you mean 'field'?" in p for p in found), (
        found
    )


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("title: Acme", "title: [Acme]"))
    assert any("acme.yaml:3:8:" in p and "valid string" in p for p in found), found


def test_unknown_paging_type_lists_the_kinds(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("type: last_record_cursor", "type: last_cursor"))
    assert any(
        "unknown type 'last_cursor'" in p and "page_token" in p and "acme.yaml:12:" in p for p in found
    ), found


def test_undefined_template_name(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("{{ env.ACME_KEY }}", "{{ envv.ACME_KEY }}"))
    assert any("acme.yaml:7:" in p and "undefined name 'envv'" in p for p in found), found


def test_parent_is_only_defined_in_substreams(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("path: /v1/invoices", 'path: "/v1/{{ parent.id }}"'))
    assert any("undefined name 'parent'" in p and "acme.yaml:10:" in p for p in found), found


def test_template_syntax_error(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("{{ env.ACME_KEY }}", "{{ env.ACME_KEY }"))
    assert any("template syntax error" in p for p in found), found


def test_missing_model(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("into: invoices", "into: invoice"))
    assert any(
        "acme.yaml:13:" in p and "model 'invoice' does not exist" in p and "'invoices'" in p for p in found
    )


def test_unknown_column(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("      status: status", "      statuss: status"))
    assert any("acme.yaml:" in p and "statuss" in p and "status" in p for p in found), found


def test_missing_parent_stream(tmp_path: Path) -> None:
    text = GOOD.replace("    records: data\n", "    records: data\n    parent: {stream: invoicez}\n")
    found = problems(tmp_path, text)
    assert any("parent stream 'invoicez' is not defined; did you mean 'invoices'?" in p for p in found), found


def test_missing_env_var_of_an_enabled_connector(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD, environ={})
    assert any("acme.yaml:5:" in p and "env var ACME_KEY is required" in p for p in found), found


def test_flagged_off_connector_does_not_need_its_env(tmp_path: Path) -> None:
    text = GOOD.replace("env: [ACME_KEY]", "flag: ACME_ENABLED\nenv: [ACME_KEY]")
    load_connector(write(tmp_path, text), environ={})
    found = problems(tmp_path, text, environ={"ACME_ENABLED": "true"})
    assert any(
        "ACME_KEY is required by this connector (it is enabled: ACME_ENABLED is set)" in p for p in found
    )


def test_missing_schema_line(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.split("\n", 1)[1])
    assert any("acme.yaml:1:1: the first line must be '# yaml-language-server" in p for p in found), found


def test_bad_config_schema(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("base_url:", "config: {type: objekt}\nbase_url:"))
    assert any("config is not a valid JSON Schema" in p for p in found), found


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("into: invoices", "into: invoice").replace("{{ env.ACME_KEY }}", "{{ nope }}")
    assert len(problems(tmp_path, text)) >= 2


def test_yaml_on_key_is_not_a_boolean_trap(tmp_path: Path) -> None:
    """YAML 1.1 reads a bare `on` key as true: the error must still point at it."""
    found = problems(tmp_path, GOOD.replace("    records: data", "    records: data\n    on: 1"))
    assert any("unknown key 'True'" in p and "acme.yaml:12:5" in p for p in found), found

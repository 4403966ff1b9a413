"""Unified models: the shipped models load and follow the conventions; bad model files
fail with file:line and what was expected."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from engine.models import (
    ARROW_TYPES,
    COLUMN_TYPES,
    CONNECTION_COLUMN,
    MODELS_DIR,
    PROVIDER_COLUMN,
    RAW_COLUMN,
    SYNCED_AT_COLUMN,
    SYSTEM_COLUMNS,
    VERSION_COLUMN,
    ModelError,
    ModelSpec,
    load_model,
    load_models,
)

EXPECTED_MODELS = {
    "invoices",
    "payments",
    "payouts",
    "customers",
    "calendars",
    "calendar_events",
    "email_messages",
    "email_threads",
    "files",
    "signature_requests",
    "social_accounts",
    "social_posts",
    "messages",
}

GOOD = """\
name: invoices
description: Bills sent to customers.
primary_key: [id]
columns:
  id: {type: string, description: Provider's invoice id}
  amount_due: {type: decimal}
  created_at: {type: timestamp}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ModelError) as info:
        load_models(directory)
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------- the shipped models


def test_every_unified_model_ships_and_loads() -> None:
    models = load_models()
    assert set(models) >= EXPECTED_MODELS


@pytest.mark.parametrize("name", sorted(EXPECTED_MODELS))
def test_models_follow_the_conventions(name: str) -> None:
    model = load_models()[name]
    assert re.fullmatch(r"[a-z][a-z0-9_]*s", model.name), "plural snake_case"
    assert "id" in model.primary_key
    assert model.description
    assert not any(column.startswith("_") for column in model.columns)
    assert (MODELS_DIR / f"{name}.yaml").is_file()


def test_payments_say_what_kind_of_object_they_came_from() -> None:
    assert load_models()["payments"].columns["kind"].type == "string"


def test_calendar_events_hold_timed_and_all_day_events() -> None:
    columns = load_models()["calendar_events"].columns
    assert {
        k: columns[k].type for k in ("start_at", "end_at", "start_date", "end_date", "all_day", "attendees")
    } == {
        "start_at": "timestamp",
        "end_at": "timestamp",
        "start_date": "date",
        "end_date": "date",
        "all_day": "boolean",
        "attendees": "json",
    }
    for column in (
        "start_time_zone",
        "status",
        "organizer_email",
        "recurring_event_id",
        "ical_uid",
        "updated_at",
    ):
        assert column in columns


def test_every_column_type_has_an_arrow_type() -> None:
    assert set(ARROW_TYPES) == set(COLUMN_TYPES)
    assert ARROW_TYPES["decimal"] == pa.decimal128(18, 2)
    assert ARROW_TYPES["timestamp"] == pa.timestamp("us", tz="UTC")
    assert ARROW_TYPES["string_list"] == pa.list_(pa.string())
    assert ARROW_TYPES["json"] == pa.string()


def test_arrow_schema_is_model_columns_then_system_columns(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, "invoices", GOOD))
    schema = model.arrow_schema()
    assert schema.names == ["id", "amount_due", "created_at", *SYSTEM_COLUMNS]
    assert {
        PROVIDER_COLUMN: SYSTEM_COLUMNS["_provider"],
        CONNECTION_COLUMN: SYSTEM_COLUMNS["_connection_id"],
        SYNCED_AT_COLUMN: SYSTEM_COLUMNS["_synced_at"],
        VERSION_COLUMN: SYSTEM_COLUMNS["_version"],
        RAW_COLUMN: SYSTEM_COLUMNS["_raw"],
    } == SYSTEM_COLUMNS
    assert schema.field("amount_due").type == pa.decimal128(18, 2)
    assert schema.field("_synced_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("_raw").type == pa.string()
    assert [f.name for f in schema if not f.nullable] == ["id", "_provider", "_connection_id"]
    assert schema.field("id").metadata == {b"description": b"Provider's invoice id"}
    assert model.arrow_schema(system=False).names == ["id", "amount_due", "created_at"]


def test_table_key_is_provider_connection_then_primary_key() -> None:
    model = load_models()["calendar_events"]
    assert model.table_key == ["_provider", "_connection_id", *model.primary_key]
    assert "calendar_id" in model.primary_key


# ---------------------------------------------------------------- errors


def test_unknown_type_is_reported_with_line_and_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "invoices", GOOD.replace("amount_due: {type: decimal}", "amount_due: {type: decmial}"))
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path / 'invoices.yaml'}:6:")
    assert "unknown column type 'decmial' (did you mean 'decimal'?)" in problem
    assert "columns.amount_due.type" in problem


def test_primary_key_must_be_a_column(tmp_path: Path) -> None:
    write(tmp_path, "invoices", GOOD.replace("primary_key: [id]", "primary_key: [idd]"))
    [problem] = problems_of(tmp_path)
    assert ":3:" in problem
    assert "primary key column 'idd' is not in columns (did you mean 'id'?)" in problem


def test_name_must_match_the_file_name(tmp_path: Path) -> None:
    write(tmp_path, "bills", GOOD)
    [problem] = problems_of(tmp_path)
    assert "bills.yaml:1:" in problem
    assert "model name 'invoices' must match its file name 'bills'" in problem


def test_unknown_keys_are_named_with_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "invoices", GOOD.replace("{type: timestamp}", "{type: timestamp, descripton: x}"))
    [problem] = problems_of(tmp_path)
    assert "invoices.yaml:7:" in problem
    assert "unknown key 'descripton' (did you mean 'description'?)" in problem


def test_column_names_are_snake_case_and_not_system_names(tmp_path: Path) -> None:
    write(tmp_path, "invoices", GOOD.replace("created_at:", "_created:"))
    [problem] = problems_of(tmp_path)
    assert "invoices.yaml:7:" in problem
    assert "column name '_created' must be snake_case" in problem


def test_invalid_yaml_points_at_the_line(tmp_path: Path) -> None:
    # An unquoted comma in a flow mapping, the classic slip.
    write(
        tmp_path, "invoices", GOOD.replace("{type: decimal}", "{type: decimal, description: Due, in cents}}")
    )
    [problem] = problems_of(tmp_path)
    assert "invoices.yaml:6:" in problem
    assert "invalid YAML" in problem


def test_duplicate_columns_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "invoices", GOOD + "  amount_due: {type: integer}\n")
    [problem] = problems_of(tmp_path)
    assert "invoices.yaml:8:" in problem
    assert "duplicate key 'amount_due'" in problem


def test_missing_keys_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "invoices", "name: invoices\ncolumns:\n  id: {type: string}\n")
    problems = problems_of(tmp_path)
    assert any("description" in p and "Field required" in p for p in problems)
    assert any("primary_key" in p for p in problems)


def test_problems_in_every_file_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "invoices", GOOD.replace("decimal", "money"))
    write(tmp_path, "payments", GOOD.replace("name: invoices", "name: payments").replace("[id]", "[uid]"))
    write(tmp_path, "payouts", GOOD.replace("name: invoices", "name: payouts"))
    with pytest.raises(ModelError) as info:
        load_models(tmp_path)
    message = str(info.value)
    assert message.startswith("2 problem(s) in unified models:")
    assert "invoices.yaml" in message and "payments.yaml" in message and "payouts.yaml" not in message


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    assert "no *.yaml model files" in problems_of(tmp_path)[0]


def test_models_validate_when_built_in_code() -> None:
    with pytest.raises(ValueError, match="primary key column 'uid' is not in columns"):
        ModelSpec.model_validate(
            {
                "name": "payments",
                "description": "x",
                "primary_key": ["uid"],
                "columns": {"id": {"type": "string"}},
            }
        )

"""Templates: sandboxed, strict, compiled once, constants never rendered."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.errors import TemplateError
from engine.templating import REQUEST_NAMES, check_template, compile_template, render_value


def test_constant_strings_are_not_templates() -> None:
    template = compile_template("/v1/invoices")
    assert template.render({}) == "/v1/invoices" and template._template is None


def test_render_with_filters() -> None:
    context = {"parent": {"id": "team@group.calendar.google.com"}, "now": datetime(2025, 11, 1, tzinfo=UTC)}
    assert compile_template("/calendars/{{ parent.id | urlencode }}/events").render(context) == (
        "/calendars/team%40group.calendar.google.com/events"
    )
    assert compile_template("{{ now | unix_seconds }}").render(context) == "1761955200"
    assert compile_template("{{ now | iso }}").render(context) == "2025-11-01T00:00:00Z"


def test_undefined_at_render_time_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="'dict object' has no attribute 'missing'"):
        compile_template("{{ config.missing }}").render({"config": {}})


def test_sandbox_blocks_unsafe_attribute_access() -> None:
    with pytest.raises(TemplateError):
        compile_template("{{ config.__class__.__mro__ }}").render({"config": {}})


def test_check_reports_unknown_names_and_filters() -> None:
    assert check_template("{{ secrets.KEY }}", REQUEST_NAMES) == []
    assert "undefined name 'respons'" in check_template("{{ respons.x }}", REQUEST_NAMES)[0]
    assert "No filter named 'shout'" in check_template("{{ config.a | shout }}", REQUEST_NAMES)[0]
    assert "template syntax error" in check_template("{{ config.a ", REQUEST_NAMES)[0]


def test_render_value_compiles_each_template_once() -> None:
    cache: dict = {}
    body = {"filter": {"value": "{{ config.kind }}", "property": "object"}, "page_size": 100}
    for _ in range(3):
        assert render_value(body, cache, {"config": {"kind": "page"}}) == {
            "filter": {"value": "page", "property": "object"},
            "page_size": 100,
        }
    assert set(cache) == {"{{ config.kind }}", "object"}

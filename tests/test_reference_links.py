"""Errors point to the section of docs/spec-reference.md about what went wrong, and every
section they name exists in the generated reference."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.errors import PagingError, SpecError, StreamError, TemplateError
from engine.spec.loader import load_connector
from engine.spec.reference import REFERENCE_PATH
from engine.spec.sections import section_for

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = {
    "#" + re.sub(r"[^a-z0-9 -]", "", line[2:].strip().lower()).replace(" ", "-")
    for line in REFERENCE_PATH.read_text().splitlines()
    if line.startswith("#")
}


@pytest.mark.parametrize(
    ("path", "section"),
    [
        ("streams.invoices.paging.param", "streamspec"),
        ("streams.invoices.fields.id.as", "streamspec"),
        ("actions.create_invoice.request.body", "actionrequest"),
        ("actions.create_invoice.then[0].path", "actionrequest"),
        ("webhooks.verify.header", "webhooksspec"),
        ("sandbox.routes[1].protocol", "sandboxroute"),
        ("pushes.invoices.batch.size", "pushbatch"),
        ("http.retry.statuses", "retrypolicy"),
        ("base_url", "connectorspec"),
    ],
)
def test_a_spec_path_names_its_reference_section(path: str, section: str) -> None:
    found = section_for(path)
    assert found == f"docs/spec-reference.md#{section}"
    assert found.removeprefix("docs/spec-reference.md") in ANCHORS


def test_a_spec_problem_points_to_its_section(tmp_path: Path) -> None:
    text = (ROOT / "connectors" / "stripe.yaml").read_text()
    broken = text.replace("    records: data\n", "    records: data\n    pages: 3\n", 1)
    (tmp_path / "stripe.yaml").write_text(broken)
    (tmp_path / "fixtures").symlink_to(ROOT / "connectors" / "fixtures")
    with pytest.raises(SpecError) as caught:
        load_connector(tmp_path / "stripe.yaml", check_env=False)
    assert "see docs/spec-reference.md#streamspec" in str(caught.value)


def test_a_stream_failure_points_to_the_section_of_its_likely_cause() -> None:
    paging = StreamError("stripe", "invoices", PagingError("the cursor repeated"), page=3)
    assert str(paging).endswith("(see docs/spec-reference.md#streamspec)")
    template = StreamError("stripe", "invoices", TemplateError("'parent' is undefined"))
    assert "#connector-spec-reference" in str(template)
    assert "#connector-spec-reference" in ANCHORS

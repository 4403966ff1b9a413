"""The `windows` incremental style: bounded date windows, overlap, saved state, resumption."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from engine.destinations.duckdb import DuckDBDestination
from engine.incremental import WindowStyle, build_incremental
from engine.models import load_models
from engine.runtime import Connection, ConnectorRuntime
from engine.spec.loader import load_connector
from engine.spec.models import WindowsIncremental, duration_seconds
from engine.sync import StreamSync

NOW = datetime(2025, 4, 10, 12, 0, 0, tzinfo=UTC)


def windows(**changes: Any) -> WindowStyle:
    fields: dict[str, Any] = {
        "type": "windows",
        "start_param": "start_date",
        "end_param": "end_date",
        "step": "31d",
        "overlap": "3h",
        **changes,
    }
    style = build_incremental(WindowsIncremental(**fields), clock=lambda: NOW, render=lambda t: t)
    assert isinstance(style, WindowStyle)
    return style


def every_window(style: WindowStyle, saved: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The windows one run reads from `saved`, and the state it ends with."""
    params: dict[str, Any] | None = style.start_params(saved)
    seen, state = [], saved
    while params is not None:
        seen.append((params["start_date"], params["end_date"]))
        state, params = style.advance(params, state)
    return seen, state


def test_durations_read_units() -> None:
    assert [duration_seconds(v) for v in (90, "30s", "15m", "3h", "31d", "2w", " 1 d ")] == [
        90,
        30,
        900,
        10800,
        2678400,
        1209600,
        86400,
    ]


def test_a_first_run_steps_at_most_the_window_length_with_overlap_up_to_now() -> None:
    seen, state = every_window(windows(start="2025-01-01"), {})
    assert seen == [
        ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"),
        ("2025-01-31T21:00:00Z", "2025-03-03T21:00:00Z"),
        ("2025-03-03T18:00:00Z", "2025-04-03T18:00:00Z"),
        ("2025-04-03T15:00:00Z", "2025-04-10T12:00:00Z"),
    ]
    for start, end in seen:
        span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
        assert span.total_seconds() <= 31 * 86400
    assert state == {"cursor": "2025-04-10T12:00:00Z"}


def test_without_a_start_the_first_run_looks_back() -> None:
    seen, _ = every_window(windows(initial_lookback="10d"), {})
    assert seen == [("2025-03-31T12:00:00Z", "2025-04-10T12:00:00Z")]
    empty_template = windows(start="{{ config.start_date }}")
    empty_template._render = lambda t: ""  # the config has no start_date
    assert every_window(empty_template, {})[0][0][0] == "2025-03-11T12:00:00Z"  # the 30d default


def test_a_later_run_starts_overlap_before_the_saved_end() -> None:
    seen, state = every_window(windows(), {"cursor": "2025-04-10T09:00:00Z"})
    assert seen == [("2025-04-10T06:00:00Z", "2025-04-10T12:00:00Z")]
    assert state == {"cursor": "2025-04-10T12:00:00Z"}
    # a resumed window (its bounds came from a killed run's checkpoint) saves its own end
    state, following = windows().advance(
        {"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-03-04T00:00:00Z"}, {}
    )
    assert state == {"cursor": "2025-03-04T00:00:00Z"}
    assert following == {"start_date": "2025-03-03T21:00:00Z", "end_date": "2025-04-03T21:00:00Z"}


@pytest.mark.parametrize(
    ("fmt", "start", "end"),
    [
        ("iso_millis", "2025-04-01T00:00:00.000Z", "2025-04-10T12:00:00.000Z"),
        ("date", "2025-04-01", "2025-04-10"),
        ("unix_seconds", 1743465600, 1744286400),
        ("%Y-%m-%dT%H:%M:%S%z", "2025-04-01T00:00:00+0000", "2025-04-10T12:00:00+0000"),
    ],
)
def test_formats_and_their_round_trip(fmt: str, start: Any, end: Any) -> None:
    style = windows(start="2025-04-01T00:00:00Z", format=fmt, overlap=0)
    params = style.start_params({})
    assert params == {"start_date": start, "end_date": end}
    assert style.advance(params, {})[1] is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"overlap": "31d"}, "overlap must be shorter than step"),
        ({"step": 0}, "step must be longer than zero"),
        ({"format": "rfc1123"}, "format must be one of"),
        ({"step": "31 days"}, "String should match pattern"),
    ],
)
def test_inconsistent_windows_are_spec_errors(changes: dict[str, Any], message: str) -> None:
    fields = {"type": "windows", "start_param": "a", "end_param": "b", "step": "31d", **changes}
    with pytest.raises(pydantic.ValidationError, match=message):
        WindowsIncremental(**fields)


SPEC = """\
# yaml-language-server: $schema=../schemas/connector.schema.json
name: ledger
title: Ledger
docs: https://ledger.example/docs
base_url: https://api.ledger.example
streams:
  entries:
    request: {path: /entries, params: {page_size: 2}}
    records: items
    paging: {type: page_number, param: page, total_pages: total_pages}
    incremental: {type: windows, start_param: from, end_param: to, step: 10d, overlap: 1h,
                  start: "{{ config.start }}"}
    into: payments
    fields: {id: id, created_at: {path: at, as: iso_timestamp}}
"""

ENTRIES = [{"id": f"e{i}", "at": f"2025-03-{1 + i * 3:02d}T10:00:00Z"} for i in range(10)]


def test_a_sync_reads_every_window_page_by_page_and_commits_each_window(tmp_path: Path) -> None:
    path = tmp_path / "ledger.yaml"
    path.write_text(SPEC)
    calls: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        calls.append(query)
        low, high = (datetime.fromisoformat(query[k]) for k in ("from", "to"))
        inside = [e for e in ENTRIES if low <= datetime.fromisoformat(e["at"]) <= high]
        page = int(query["page"])
        pages = max(1, -(-len(inside) // 2))
        return httpx.Response(200, json={"items": inside[(page - 1) * 2 : page * 2], "total_pages": pages})

    runtime = ConnectorRuntime(
        load_connector(path),
        Connection(config={"start": "2025-03-01"}),
        environ={},
        transport=httpx.MockTransport(handler),
    )
    runtime.now = datetime(2025, 3, 31, tzinfo=UTC)
    destination = DuckDBDestination(tmp_path / "w.duckdb")
    sync = StreamSync(runtime, "entries", destination, load_models()["payments"])
    result = sync.run()
    assert result.error is None
    windows_read = sorted({(c["from"], c["to"]) for c in calls})
    assert windows_read == [
        ("2025-03-01T00:00:00Z", "2025-03-11T00:00:00Z"),
        ("2025-03-10T23:00:00Z", "2025-03-20T23:00:00Z"),
        ("2025-03-20T22:00:00Z", "2025-03-30T22:00:00Z"),
        ("2025-03-30T21:00:00Z", "2025-03-31T00:00:00Z"),
    ]
    assert [c["page"] for c in calls if c["from"] == "2025-03-01T00:00:00Z"] == ["1", "2"]
    assert destination.connection.execute("SELECT count(*), count(DISTINCT id) FROM payments").fetchone() == (
        10,
        10,
    )
    assert result.state == {"slices": {"": {"cursor": "2025-03-31T00:00:00Z"}}}
    destination.close()

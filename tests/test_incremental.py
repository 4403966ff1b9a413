"""Incremental styles: what goes out from saved state, what is saved at the end."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from engine.incremental import build_incremental
from engine.pages import Page
from engine.spec.models import CursorIncremental, ServerTokenIncremental


def page(body: dict) -> Page:
    return Page("https://x", 200, httpx.Headers(), body, body.get("items", []))


def test_cursor_sends_the_high_water_mark_and_advances_only_at_the_end() -> None:
    style = build_incremental(CursorIncremental(type="cursor", field="created", param="created[gte]"))
    assert style.start_params({}) == {}
    assert style.start_params({"cursor": 1700000000}) == {"created[gte]": 1700000000}
    high = style.observe([{"created": 5}, {"created": 9}, {"created": None}], None)
    high = style.observe([{"created": 7}], high)
    assert high == 9
    assert style.finish({"cursor": 3}, high, page({})) == {"cursor": 9}
    assert style.finish({"cursor": 12}, high, page({})) == {"cursor": 12}


def test_cursor_lookback_and_formats() -> None:
    unix = build_incremental(
        CursorIncremental(type="cursor", field="updated", param="since", lookback=60, format="unix_seconds")
    )
    assert unix.start_params({"cursor": "2025-11-01T00:01:00Z"}) == {"since": 1761955200}
    iso = build_incremental(
        CursorIncremental(type="cursor", field="updated", param="updatedMin", format="iso")
    )
    assert iso.start_params({"cursor": 1761955200}) == {"updatedMin": "2025-11-01T00:00:00Z"}


def test_server_token_round_trip_and_expiry() -> None:
    spec = ServerTokenIncremental(
        type="server_token", token="nextSyncToken", param="syncToken", drop_params=["timeMin"]
    )
    style = build_incremental(spec)
    assert style.start_params({}) == {} and style.dropped_params({}) == []
    saved = style.finish({}, None, page({"items": [], "nextSyncToken": "CPDAlvWDx70CEPDAlvWDx70CGAU="}))
    assert saved == {"token": "CPDAlvWDx70CEPDAlvWDx70CGAU="}
    assert style.start_params(saved) == {"syncToken": "CPDAlvWDx70CEPDAlvWDx70CGAU="}
    assert style.dropped_params(saved) == ["timeMin"]
    assert style.expired(410) and not style.expired(404)


def test_cursor_can_go_into_the_json_body_at_a_path_with_its_companion_fields() -> None:
    spec = CursorIncremental(
        type="cursor",
        field="last_edited_time",
        body_path="filter.last_edited_time.on_or_after",
        body={"filter": {"timestamp": "last_edited_time"}},
        format="iso",
    )
    style = build_incremental(spec)
    assert style.start_json({}) == {} and style.start_params({"cursor": "2025-11-01T00:00:00.000Z"}) == {}
    assert style.start_json({"cursor": "2025-11-01T10:15:00.000Z"}) == {
        "filter": {
            "timestamp": "last_edited_time",
            "last_edited_time": {"on_or_after": "2025-11-01T10:15:00Z"},
        }
    }
    high = style.observe([{"last_edited_time": "2025-11-02T08:00:00.000Z"}], None)
    assert style.finish({"cursor": "2025-11-01T10:15:00.000Z"}, high, page({})) == {
        "cursor": "2025-11-02T08:00:00.000Z"
    }


def test_cursor_needs_exactly_one_place_for_the_stored_value() -> None:
    with pytest.raises(ValidationError, match="one place"):
        CursorIncremental(type="cursor", field="updated")
    with pytest.raises(ValidationError, match="one place"):
        CursorIncremental(type="cursor", field="updated", param="since", body_path="filter.since")
    with pytest.raises(ValidationError, match="goes with `body_path`"):
        CursorIncremental(type="cursor", field="updated", param="since", body={"a": 1})

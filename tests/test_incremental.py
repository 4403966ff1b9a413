"""Incremental styles: what goes out from saved state, what is saved at the end."""

from __future__ import annotations

import httpx

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

"""The general pieces the Xero connector added: a cursor sent in a header, Microsoft JSON dates,
the xero_list and batch_upsert sandbox protocols, per-route required headers, action error
details, and webhooks filed under the connection of the account they name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError

from engine.actions.run import collect
from engine.control import ConnectionRecord
from engine.incremental import build_incremental
from engine.pages import Page
from engine.sandbox.app import SandboxApp
from engine.sandbox.messages import Call
from engine.sandbox.protocols import PROTOCOLS
from engine.sandbox.store import Entry, Snapshot
from engine.spec.loader import LoadedConnector
from engine.spec.models import ConnectorSpec, CursorIncremental
from engine.transforms import TransformValueError, compile_transform
from engine.webhooks.receiver import Incoming, Receiver

# ---------------------------------------------------------------- incremental in a header


def cursor(**spec: Any) -> Any:
    return build_incremental(
        CursorIncremental.model_validate({"type": "cursor", "field": "UpdatedDateUTC", **spec})
    )


def test_a_header_cursor_sends_its_high_water_mark_as_iso_or_http_date_and_no_param() -> None:
    saved = {"cursor": "/Date(1541176290160+0000)/"}
    iso = cursor(header="If-Modified-Since", format="iso")
    assert iso.start_headers(saved) == {"If-Modified-Since": "2018-11-02T16:31:30Z"}
    assert iso.start_params(saved) == {} and iso.start_headers({}) == {}
    http = cursor(header="If-Modified-Since", format="http_date", lookback=30)
    assert http.start_headers(saved) == {"If-Modified-Since": "Fri, 02 Nov 2018 16:31:00 GMT"}


def test_a_param_cursor_sends_no_header_and_reads_microsoft_dates_too() -> None:
    style = cursor(param="since", format="unix_seconds")
    assert style.start_params({"cursor": "/Date(1541176290160+0000)/"}) == {"since": 1541176290}
    assert style.start_headers({"cursor": 1}) == {}


def test_the_high_water_mark_of_microsoft_dates_is_the_latest() -> None:
    style = cursor(header="If-Modified-Since", format="iso")
    records = [
        {"UpdatedDateUTC": f"/Date({ms}+0000)/"} for ms in (1541176290160, 1552326816230, 1541116800000)
    ]
    high = style.observe(records, None)
    page = Page("u", 200, httpx.Headers(), {}, records)
    assert style.finish({}, high, page) == {"cursor": "/Date(1552326816230+0000)/"}


@pytest.mark.parametrize("spec", [{}, {"param": "a", "header": "B"}])
def test_a_cursor_takes_exactly_one_of_param_and_header(spec: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="give the stored value one place"):
        CursorIncremental.model_validate({"type": "cursor", "field": "f", **spec})


# ---------------------------------------------------------------- ms_json_date


def test_ms_json_date_reads_the_instant_whatever_the_offset() -> None:
    convert = compile_transform("ms_json_date")
    moment = datetime(2018, 11, 2, 16, 31, 30, 160000, tzinfo=UTC)
    assert convert("/Date(1541176290160+0000)/") == moment
    assert convert("/Date(1541176290160+1300)/") == moment
    assert convert("/Date(1541176290160)/") == moment
    assert convert("") is None and convert(None) is None
    with pytest.raises(TransformValueError, match="Microsoft JSON date"):
        convert("2018-11-02T16:31:30")


# ---------------------------------------------------------------- sandbox protocols


def snapshot(records: list[dict[str, Any]]) -> Snapshot:
    entries = tuple(Entry(r["InvoiceID"], r, orjson.dumps(r)) for r in records)
    return Snapshot(entries, {e.id: i for i, e in enumerate(entries) if e.id})


INVOICES = [
    {"InvoiceID": f"i{n}", "UpdatedDateUTC": f"/Date({1700000000000 + n * 60000}+0000)/"} for n in range(5)
]


def test_xero_list_pages_with_a_count_and_filters_by_if_modified_since() -> None:
    protocol = PROTOCOLS["xero_list"]({"records_key": "Invoices", "default_page_size": 2})
    data = snapshot(INVOICES)
    first = orjson.loads(protocol.handle(Call("GET", "/Invoices", "u"), data).body)
    assert first["Status"] == "OK" and [i["InvoiceID"] for i in first["Invoices"]] == ["i0", "i1"]
    assert first["pagination"] == {"page": 1, "pageSize": 2, "pageCount": 3, "itemCount": 5}
    since = {"if-modified-since": "2023-11-14T22:15:20Z"}  # i2's time, to the second
    later = orjson.loads(
        protocol.handle(Call("GET", "/Invoices", "u", (("pageSize", "10"),), headers=since), data).body
    )
    assert [i["InvoiceID"] for i in later["Invoices"]] == ["i2", "i3", "i4"]
    http_date = {"if-modified-since": "Tue, 14 Nov 2023 22:16:20 GMT"}
    assert (
        len(orjson.loads(protocol.handle(Call("GET", "/I", "u", headers=http_date), data).body)["Invoices"])
        == 2
    )
    past = orjson.loads(protocol.handle(Call("GET", "/I", "u", (("page", "4"),)), data).body)
    assert past["Invoices"] == [] and past["pagination"]["pageCount"] == 3


def write_connector(folder: Path) -> tuple[ConnectorSpec, Path]:
    (folder / "invoices.json").write_text(orjson.dumps(INVOICES).decode())
    tenant = {"xero-tenant-id": "t-1"}
    spec = ConnectorSpec.model_validate(
        {
            "name": "books",
            "title": "Books",
            "docs": "https://example.com",
            "base_url": "https://api.example.com",
            "streams": {"invoices": {"request": {"path": "/Invoices"}}},
            "sandbox": {
                "routes": [
                    {"path": "/Invoices", "protocol": "xero_list", "fixture": "invoices.json",
                     "options": {"records_key": "Invoices", "id_field": "InvoiceID"}, "require_headers": tenant},
                    {"path": "/Invoices", "method": "POST", "protocol": "batch_upsert", "fixture": "invoices.json",
                     "require_headers": tenant,
                     "options": {"envelope": "Invoices", "id_field": "InvoiceID", "summarize_param": "summarizeErrors",
                                 "required": {"Contact": "A Contact must be specified."}, "defaults": {"Status": "DRAFT"},
                                 "timestamp_field": "UpdatedDateUTC", "timestamp_format": "ms_json_date",
                                 "date_fields": ["Date"], "failed": {"HasErrors": True}}},
                ]
            },
        }
    )  # fmt: skip
    return spec, folder / "books.yaml"


def send(app: SandboxApp, method: str, target: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    reply = app.handle(method, target, headers, orjson.dumps(body) if body is not None else b"")
    return reply.status, orjson.loads(reply.body)


def test_a_route_refuses_requests_without_its_required_headers(tmp_path: Path) -> None:
    app = SandboxApp([write_connector(tmp_path)])
    status, body = send(app, "GET", "/books/Invoices")
    assert status == 403 and "xero-tenant-id" in body["Detail"]
    assert send(app, "GET", "/books/Invoices", **{"xero-tenant-id": "t-1"})[0] == 200
    assert app.log[-1]["headers"]["xero-tenant-id"] == "t-1"  # a read that steers by header logs it


def test_batch_upsert_creates_updates_and_answers_each_object_or_refuses_the_whole_batch(
    tmp_path: Path,
) -> None:
    app = SandboxApp([write_connector(tmp_path)])
    tenant = {"xero-tenant-id": "t-1"}
    batch = {"Invoices": [{"Contact": {"ContactID": "c1"}, "Date": "2025-12-01"}, {"InvoiceID": "i1", "Status": "PAID"},
                          {"Reference": "no contact"}, {"InvoiceID": "nope", "Status": "PAID"}]}  # fmt: skip
    status, body = send(app, "POST", "/books/Invoices", batch, **tenant)
    assert status == 400 and body["Type"] == "ValidationException" and body["ErrorNumber"] == 10
    assert [e["ValidationErrors"][0]["Message"] for e in body["Elements"]] == [
        "A Contact must be specified.",
        "No object with InvoiceID nope exists.",
    ]
    assert len(app.records("books", "/Invoices")) == 5  # nothing saved

    status, body = send(app, "POST", "/books/Invoices?summarizeErrors=false", batch, **tenant)
    assert status == 200
    made, updated, failed, missing = body["Invoices"]
    assert (
        made["Status"] == "DRAFT"
        and made["Date"] == "/Date(1764547200000+0000)/"
        and len(made["InvoiceID"]) == 36
    )
    assert made["UpdatedDateUTC"].startswith("/Date(")
    assert updated["InvoiceID"] == "i1" and updated["Status"] == "PAID"
    assert failed["HasErrors"] is True and failed["ValidationErrors"] == [
        {"Message": "A Contact must be specified."}
    ]
    assert "InvoiceID" not in failed and missing["ValidationErrors"][0]["Message"].startswith("No object")
    stored = {r["InvoiceID"]: r for r in app.records("books", "/Invoices")}
    assert len(stored) == 6 and stored["i1"]["Status"] == "PAID" and made["InvoiceID"] in stored
    assert send(app, "POST", "/books/Invoices", {"Invoice": []}, **tenant)[0] == 400


# ---------------------------------------------------------------- actions and webhooks


def test_collect_reads_every_message_of_nested_lists() -> None:
    body = {"Elements": [{"ValidationErrors": [{"Message": "a"}, {"Message": "b"}]}, {"ValidationErrors": []},
                         {"ValidationErrors": [{"Message": "c"}]}]}  # fmt: skip
    assert collect(body, "Elements.*.ValidationErrors.*.Message") == ["a", "b", "c"]
    assert collect(body, "Missing.*.Message") == [] and collect("text", "a.*") == []


def test_a_delivery_is_filed_under_the_connection_of_the_account_it_names() -> None:
    spec = ConnectorSpec.model_validate(
        {
            "name": "books",
            "title": "Books",
            "docs": "https://example.com",
            "base_url": "https://api.example.com",
            "streams": {"invoices": {"request": {"path": "/Invoices"}}},
            "webhooks": {"verify": {"scheme": "none"}, "event_id": "id", "account": "events.0.tenantId"},
        }
    )
    known = {"t-1": ConnectionRecord("books", "acme", account_id="t-1")}
    receiver = Receiver(
        LoadedConnector(spec, Path("books.yaml"), {}), {}, accounts=lambda _c, account: known.get(account)
    )
    assert receiver.needs_thread

    def filed(body: dict[str, Any], connection_id: str | None = None) -> str | None:
        decision = receiver.decide(Incoming("books", connection_id, "POST", {}, {}, orjson.dumps(body), 0.0))
        assert decision.delivery is not None
        return decision.delivery.connection_id

    assert filed({"id": "1", "events": [{"tenantId": "t-1"}]}) == "acme"
    assert filed({"id": "2", "events": [{"tenantId": "t-9"}]}) is None
    assert filed({"id": "3", "events": []}) is None

"""Derived tables: CRM links of emails and WhatsApp messages (declared in links/), calendar
conflicts; CRM records synced from the sandbox or loaded from exports; both warehouses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from engine.derived.conflicts import find_conflicts
from engine.derived.normalize import NORMALIZERS
from engine.destinations import Batch, Destination, open_destination
from engine.destinations.base import StateKey
from engine.models import SYNCED_AT_COLUMN, VERSION_COLUMN, load_models

from .conftest import WAREHOUSES, Workspace

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def put(destination: Destination, model_name: str, rows: list[dict[str, Any]]) -> None:
    """Rows written as a sync of the model would leave them."""
    model = load_models()[model_name]
    schema = model.arrow_schema()
    table = pa.Table.from_pylist(
        [{**r, SYNCED_AT_COLUMN: NOW, VERSION_COLUMN: NOW} for r in rows], schema=schema
    )
    destination.ensure_table(model_name, schema)
    destination.commit(
        [Batch(model_name, table, model.table_key, "merge")], StateKey("t", model_name, "x"), {}
    )


def email(id_: str, sender: str, to: list[str], cc: list[str] | None = None) -> dict[str, Any]:
    return {
        "_provider": "gmail",
        "_connection_id": "maya",
        "id": id_,
        "from_address": sender,
        "to_addresses": to,
        "cc_addresses": cc or [],
        "subject": f"re: {id_}",
        "sent_at": NOW,
    }


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("email", "Ada Lovelace <Ada.Lovelace@AcmeOutdoor.com>", "ada.lovelace@acmeoutdoor.com"),
        ("email", "not an address", None),
        ("email_domain", "kj@Lumenskin.co", "lumenskin.co"),
        ("domain", "https://www.acmeoutdoor.com/about", "acmeoutdoor.com"),
        ("domain", "Northwind.Coffee", "northwind.coffee"),
        ("phone", "+44 (0)7700 900123", "447700900123"),
        ("phone", "0033 6 12 34 56 78", "33612345678"),
        ("phone", "+1 (415) 555-0134", "14155550134"),
        ("phone", "12", None),
        ("text", "  Mixed Case ", "mixed case"),
    ],
)
def test_normalizers(kind: str, value: str, expected: str | None) -> None:
    assert NORMALIZERS[kind](value) == expected


@pytest.mark.parametrize("workspace", WAREHOUSES, indirect=True)
def test_messages_link_to_contacts_brands_and_their_open_deals(workspace: Workspace) -> None:
    sandbox = workspace.start_sandbox()
    synced = workspace.cli("sync", "crm", "--sandbox", "--sandbox-url", sandbox.url)
    assert synced.returncode == 0, synced.stderr
    destination = open_destination(workspace.warehouse_url)
    try:
        put(
            destination,
            "email_messages",
            [
                email("m1", "Ada Lovelace <ada.lovelace@acmeoutdoor.com>", ["maya@studio.example"]),
                email(
                    "m2", "maya@studio.example", ["someone@northwind.coffee"], cc=["Grace@Northwind.Coffee"]
                ),
                email("m3", "Alan Turing <alan.turing@gmail.com>", ["maya@studio.example"]),
                email("m4", "newsletter@shop.example", ["maya@studio.example"]),
            ],
        )
        put(
            destination,
            "messages",
            [
                {
                    "_provider": "whatsapp",
                    "_connection_id": "default",
                    "id": "wamid.HBgM1",
                    "channel_id": "447700900123",
                    "sender_id": "447700900123",
                    "direction": "inbound",
                    "text": "Hi! About the winter campaign",
                    "sent_at": NOW,
                },
            ],
        )
    finally:
        destination.close()

    done = workspace.cli("derive", "crm_links")
    assert done.returncode == 0, done.stderr
    links = set(workspace.query("SELECT source_id, link_type, crm_id, rule FROM crm_links"))
    assert links == {
        ("m1", "contact", "ct_001", "email_contact"),
        ("m1", "brand", "br_001", "email_brand"),
        ("m1", "deal", "dl_101", "open_deals"),  # dl_102 is won: not linked
        ("m2", "contact", "ct_002", "email_contact"),
        ("m2", "brand", "br_002", "email_brand"),
        ("m2", "deal", "dl_103", "open_deals"),
        ("m3", "contact", "ct_004", "email_contact"),  # gmail.com is no brand's domain
        ("wamid.HBgM1", "contact", "ct_001", "whatsapp_contact"),
        ("wamid.HBgM1", "deal", "dl_101", "open_deals"),
    }
    (row,) = workspace.query(
        "SELECT _provider, _connection_id, source_model, matched_value FROM crm_links"
        " WHERE source_id = 'm2' AND link_type = 'contact'"
    )
    assert row == ("gmail", "maya", "email_messages", "grace@northwind.coffee")

    # An export moves Grace to a new address: her old link goes on the next rebuild.
    export = workspace.connectors.parent / "contacts.csv"
    export.write_text(
        "id,brand_id,name,email,phone,title,created_at,updated_at\n"
        "ct_002,br_002,Grace Hopper,grace.hopper@northwind.coffee,,Brand manager,2026-04-11T15:25:00Z,2026-11-25T09:00:00Z\n"
    )
    loaded = workspace.cli("load", "crm", "contacts", "--file", str(export))
    assert loaded.returncode == 0, loaded.stderr
    assert "0 inserted, 1 updated" in loaded.stdout
    assert workspace.cli("derive", "crm_links").returncode == 0
    m2 = set(workspace.query("SELECT link_type, crm_id FROM crm_links WHERE source_id = 'm2'"))
    assert m2 == {("brand", "br_002"), ("deal", "dl_103")}


def event(id_: str, start: Any, end: Any, **extra: Any) -> dict[str, Any]:
    row = {
        "_provider": "google_calendar",
        "_connection_id": "maya",
        "calendar_id": "primary",
        "id": id_,
        "ical_uid": f"{id_}@google.com",
        "status": "confirmed",
        "title": id_,
    }
    if isinstance(start, datetime):
        row |= {"start_at": start, "end_at": end, "all_day": False}
    else:
        row |= {"start_date": start, "end_date": end, "all_day": True}
    return row | extra


def at(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_calendar_conflicts_per_user_with_time_zones_and_all_day_events(tmp_path: Path) -> None:
    destination = open_destination(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        put(
            destination,
            "calendars",
            [
                {
                    "_provider": "google_calendar",
                    "_connection_id": "maya",
                    "id": "primary",
                    "time_zone": "America/New_York",
                },
                {
                    "_provider": "google_calendar",
                    "_connection_id": "maya",
                    "id": "team",
                    "time_zone": "Europe/London",
                },
            ],
        )
        put(
            destination,
            "calendar_events",
            [
                event("standup", at(14), at(14, 30)),
                event("client_call", at(14, 15), at(15), calendar_id="team"),  # overlaps standup by 15 min
                event("lunch", at(17), at(18), transparency="transparent"),  # free time: never a conflict
                event("cancelled", at(14), at(15), status="cancelled"),
                event(
                    "declined",
                    at(14),
                    at(15),
                    attendees='[{"email": "maya@studio.example", "self": true, "responseStatus": "declined"}]',
                ),
                event(
                    "copy", at(14, 15), at(15), ical_uid="client_call@google.com"
                ),  # the same event on primary
                # All day on the 25th in New York is 05:00Z on the 25th to 05:00Z on the 26th.
                event("offsite", date(2026, 11, 25), date(2026, 11, 26)),
                event("late_call", at(3, day=25), at(4, day=25)),  # 22:00 on the 24th in New York
                event(
                    "early_call", at(4, 30, day=26), at(5, 30, day=26)
                ),  # overlaps the offsite's last 30 min
                event("other_user", at(14), at(15)) | {"_connection_id": "sam"},
            ],
        )
        found = {(c["event_id"], c["other_event_id"]): c for c in find_conflicts(destination)}
    finally:
        destination.close()
    # "copy" is client_call on the primary calendar: the pair shows once, with the primary's copy
    assert set(found) == {("standup", "copy"), ("offsite", "early_call")}
    assert found[("standup", "copy")]["overlap_minutes"] == 15
    assert found[("offsite", "early_call")]["starts_at"] == at(5, day=25)
    assert found[("offsite", "early_call")]["overlap_minutes"] == 30


def test_derived_tables_are_dagster_assets_downstream_of_their_inputs(workspace: Workspace) -> None:
    from engine.orchestration import WarehouseResource

    from .orchestration_support import definitions

    sandbox = workspace.start_sandbox()
    warehouse = WarehouseResource(url=workspace.warehouse_url, sandbox_url=sandbox.url)
    defs = definitions(warehouse, workspace.connectors)
    graph = defs.resolve_asset_graph()
    links = dg.AssetKey(["derived", "crm_links"])
    assert {dg.AssetKey(["crm", s]) for s in ("brands", "contacts", "deals")} <= graph.get(links).parent_keys
    conflicts = dg.AssetKey(["derived", "calendar_conflicts"])
    assert dg.AssetKey(["google_calendar", "events"]) in graph.get(conflicts).parent_keys
    result = dg.materialize(
        list(defs.assets or []), resources={"warehouse": warehouse}, selection=dg.AssetSelection.assets(links)
    )
    assert result.success
    (materialized,) = result.get_asset_materialization_events()
    assert materialized.materialization.metadata["rows"].value == 0  # no messages synced yet

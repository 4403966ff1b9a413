"""The sandbox's DocuSign protocols over HTTP: listStatusChanges (from_date required, the
from_to_status window, start_position/count with string counts, a server-side cap) and
envelopes read one by one from the list a create writes to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engine.sandbox import Sandbox
from engine.spec.models import ConnectorSpec

LIST = "/docusign/restapi/v2.1/accounts/a1/envelopes"
ENVELOPES = [
    {
        "envelopeId": f"e{n}",
        "status": status,
        "transactionId": f"t{n}",
        "createdDateTime": f"2025-10-0{n}T09:00:00.0000000Z",
        "statusChangedDateTime": f"2025-10-1{n}T09:00:00.0000000Z",
    }
    for n, status in enumerate(["sent", "completed", "declined", "sent", "voided"], start=1)
]


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("docusign")
    (folder / "envelopes.json").write_text(json.dumps({"a1": ENVELOPES}))
    collection = "/restapi/v2.1/accounts/{accountId}/envelopes"
    spec = ConnectorSpec.model_validate(
        {
            "name": "docusign",
            "title": "DocuSign",
            "docs": "https://developers.docusign.com",
            "base_url": "https://demo.docusign.net/restapi/v2.1/accounts/a1",
            "streams": {"all": {"request": {"path": "/envelopes"}}},
            "sandbox": {
                "routes": [
                    {
                        "path": collection,
                        "protocol": "docusign_envelopes",
                        "fixture": "envelopes.json",
                        "options": {"id_field": "envelopeId", "max_count": 2},
                    },
                    {
                        "path": collection + "/{envelopeId}",
                        "protocol": "retrieve",
                        "fixture": "envelopes.json",
                        "options": {
                            "id_field": "envelopeId",
                            "errors": "docusign",
                            "missing_code": "ENVELOPE_DOES_NOT_EXIST",
                        },
                    },
                ]
            },
        }
    )
    with (
        Sandbox([(spec, folder / "docusign.yaml")]) as running,
        httpx.Client(base_url=running.url, timeout=5) as client,
    ):
        yield client


def envelopes(http: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = http.get(LIST, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_from_date_is_required_unless_ids_are_given(http: httpx.Client) -> None:
    refused = http.get(LIST)
    assert refused.status_code == 400 and refused.json()["errorCode"] == "INVALID_REQUEST_PARAMETER"
    assert [e["envelopeId"] for e in envelopes(http, envelope_ids="e2,e4")["envelopes"]] == ["e2", "e4"]
    assert [e["envelopeId"] for e in envelopes(http, transaction_ids="t5")["envelopes"]] == ["e5"]
    assert http.get(LIST, params={"from_date": "last tuesday"}).status_code == 400


def test_pages_by_start_position_under_a_count_cap_with_string_counts(http: httpx.Client) -> None:
    first = envelopes(http, from_date="2025-10-12T00:00:00Z", count=100)
    assert {k: v for k, v in first.items() if k != "envelopes"} == {
        "resultSetSize": "2",
        "startPosition": "0",
        "endPosition": "1",
        "totalSetSize": "4",
        "nextUri": "/accounts/a1/envelopes?from_date=2025-10-12T00%3A00%3A00Z&count=100&start_position=2",
        "previousUri": "",
    }
    last = envelopes(http, from_date="2025-10-12T00:00:00Z", count=100, start_position=2)
    assert [e["envelopeId"] for e in first["envelopes"] + last["envelopes"]] == ["e2", "e3", "e4", "e5"]
    assert (last["endPosition"], last["nextUri"]) == ("3", "")


def test_window_status_and_order(http: httpx.Client) -> None:
    created = envelopes(http, from_date="2025-10-04", from_to_status="created")
    assert [e["envelopeId"] for e in created["envelopes"]] == ["e4", "e5"]
    sent = envelopes(http, from_date="2025-01-01", status="sent", order_by="status_changed", order="desc")
    assert [e["envelopeId"] for e in sent["envelopes"]] == ["e4", "e1"]
    window = envelopes(http, from_date="2025-10-12T00:00:00Z", to_date="2025-10-13T12:00:00Z")
    assert [e["envelopeId"] for e in window["envelopes"]] == ["e2", "e3"]


def test_one_envelope_by_id(http: httpx.Client) -> None:
    assert http.get(f"{LIST}/e3").json()["status"] == "declined"
    missing = http.get(f"{LIST}/nope")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "ENVELOPE_DOES_NOT_EXIST"

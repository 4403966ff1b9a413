"""Connectors against the providers' official API specifications (../shared/specs).

Every connector that lists `api_specs:` must agree with them: request paths and methods, query
parameters, body fields, records paths and mapped fields. Connectors without specs are named
in NO_SPEC with the reason. Broken copies of stripe.yaml and google_calendar.yaml show that each
kind of mistake is caught and named; tiny inline specs cover each spec format.

The specs folder is outside the repository: absent, these tests skip (in CI, CI=true, they fail).
Each spec is read once per session (the check caches parsed specs per process).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import app
from engine.conformance import Report, check_connector, default_specs_dir, load_api_spec
from engine.conformance.operations import Found, NotFound, Operation, OperationIndex, WrongMethod
from engine.conformance.request_paths import EXPRESSION, request_path
from engine.conformance.schemas import RefSpace, Schema, lookup
from engine.spec.loader import LoadedConnector, load_connector

ROOT = Path(__file__).resolve().parent.parent
CONNECTORS = ROOT / "connectors"
HEAD = "# yaml-language-server: $schema=../schemas/connector.schema.json\n"

#: Connectors that list no api_specs, and why none applies.
NO_SPEC = {
    "slack": "Slack incoming webhooks are not in Slack's published API spec",
    "tiktok": "TikTok publishes no machine-readable API spec; the connector follows its developer docs",
    "crm": "the platform's own CRM API, which publishes no machine-readable spec",
}


@pytest.fixture(scope="session")
def specs() -> Path:
    folder = default_specs_dir()
    if not folder.is_dir():
        reason = f"the API specs folder {folder} is absent (set MANIFOLD_API_SPECS to it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true: the conformance check must run")
        pytest.skip(reason)
    return folder


def _problems(report: Report) -> str:
    return "\n".join(str(p) for p in report.problems)


# ---------------------------------------------------------------- every connector


@pytest.mark.parametrize("path", sorted(CONNECTORS.glob("*.yaml")), ids=lambda p: p.stem)
def test_connector_conforms_to_its_api_specs(path: Path, specs: Path) -> None:
    loaded = load_connector(path, check_env=False)
    if not loaded.spec.api_specs:
        assert loaded.spec.name in NO_SPEC, (
            f"{path.name} lists no api_specs: list the official spec files it follows (relative to "
            f"../shared/specs), or add it to NO_SPEC in {Path(__file__).name} with the reason none exists"
        )
        return
    report = check_connector(loaded, specs)
    assert report.ok, f"{len(report.problems)} problem(s):\n{_problems(report)}"
    assert report.checked > 0


# ---------------------------------------------------------------- broken copies


def _broken(tmp_path: Path, name: str, old: str, new: str) -> LoadedConnector:
    text = (CONNECTORS / f"{name}.yaml").read_text()
    assert old in text, f"{old!r} is not in {name}.yaml any more: update this test"
    target = tmp_path / f"{name}.yaml"
    target.write_text(text.replace(old, new, 1))
    (tmp_path / "fixtures").symlink_to(CONNECTORS / "fixtures")
    return load_connector(target, check_env=False)


BROKEN = {
    "stripe wrong path": (
        "stripe",
        "path: /v1/payouts, params",
        "path: /v1/payout, params",
        "streams.payouts.request.path",
        ["GET /v1/payout is not in the spec", "did you mean GET /v1/payouts"],
    ),
    "stripe wrong query param": (
        "stripe",
        "request: {path: /v1/invoices, params: {limit: 100}}",
        "request: {path: /v1/invoices, params: {limt: 100}}",
        "streams.invoices.request.params.limt",
        ["query parameter 'limt'", "GET /v1/invoices", "did you mean 'limit'"],
    ),
    "stripe wrong paging param": (
        "stripe",
        "param: starting_after",
        "param: start_after",
        "streams.invoices.paging.param",
        ["'start_after'", "did you mean 'starting_after'"],
    ),
    "stripe wrong bracketed param": (
        "stripe",
        'param: "created[gte]"',
        'param: "creation[gte]"',
        "streams.invoices.incremental.param",
        ["'creation[gte]'", "did you mean 'created'"],
    ),
    "stripe wrong mapped field": (
        "stripe",
        "customer_email: billing_details.email",
        "customer_email: billing_details.emial",
        "streams.charges.fields.customer_email",
        ["'billing_details.emial'", "did you mean 'email'"],
    ),
    "stripe wrong records path": (
        "stripe",
        "records: data",
        "records: items",
        "streams.invoices.records",
        ["records path 'items'", "the spec offers: data"],
    ),
    "stripe wrong action body field": (
        "stripe",
        'receipt_email: "{{ input.receipt_email }}"',
        'receipt_mail: "{{ input.receipt_email }}"',
        "actions.create_payment_intent.request.body.receipt_mail",
        ["body field 'receipt_mail'", "POST /v1/payment_intents", "did you mean 'receipt_email'"],
    ),
    "stripe wrong then path": (
        "stripe",
        'path: "/v1/invoices/{{ results[0].id }}/finalize"',
        'path: "/v1/invoices/{{ results[0].id }}/finalise"',
        "actions.create_invoice.then.1.path",
        ["POST /v1/invoices/{…}/finalise is not in the spec", "POST /v1/invoices/{invoice}/finalize"],
    ),
    "stripe wrong method": (
        "stripe",
        "request: {path: /v1/payouts, params: {limit: 100}}",
        'request: {path: "/v1/payouts/{{ state.cursor }}/reverse", params: {limit: 100}}',
        "streams.payouts.request.method",
        ["GET /v1/payouts/{…}/reverse: the spec has POST only", "/v1/payouts/{payout}/reverse"],
    ),
    "calendar wrong path": (
        "google_calendar",
        "path: /calendar/v3/users/me/calendarList,",
        "path: /calendar/v3/users/me/calendarLists,",
        "streams.calendar_list.request.path",
        ["/calendar/v3/users/me/calendarLists is not in the spec", "calendarList"],
    ),
    "calendar wrong query param": (
        "google_calendar",
        "params: {maxResults: 250}",
        "params: {maxResult: 250}",
        "streams.calendar_list.request.params.maxResult",
        ["'maxResult'", "did you mean 'maxResults'"],
    ),
    "calendar wrong mapped field": (
        "google_calendar",
        "organizer_email: organizer.email",
        "organizer_email: organizer.mail",
        "streams.events.fields.organizer_email",
        ["'organizer.mail'", "did you mean 'email'"],
    ),
    "calendar wrong coalesce path": (
        "google_calendar",
        "coalesce: [summaryOverride, summary]",
        "coalesce: [summaryOverride, summery]",
        "streams.calendar_list.fields.name.coalesce.1",
        ["'summery'", "did you mean 'summary'"],
    ),
    "calendar wrong records path": (
        "google_calendar",
        "records: items",
        "records: item",
        "streams.calendar_list.records",
        ["records path 'item'", "did you mean 'items'"],
    ),
    "calendar wrong paging token": (
        "google_calendar",
        "token: nextPageToken, param: pageToken}\n    into: calendars",
        "token: nextToken, param: pageToken}\n    into: calendars",
        "streams.calendar_list.paging.token",
        ["'nextToken'", "'nextPageToken'?"],
    ),
    "calendar wrong sync token param": (
        "google_calendar",
        "param: syncToken",
        "param: sync_token",
        "streams.events.incremental.param",
        ["'sync_token'", "did you mean 'syncToken'"],
    ),
    "calendar wrong parent field": (
        "google_calendar",
        "fields: {calendar_id: id}",
        "fields: {calendar_id: calendarId}",
        "streams.events.parent.fields.calendar_id",
        ["parent field 'calendarId'"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_a_broken_copy_fails_naming_the_mistake(case: str, tmp_path: Path, specs: Path) -> None:
    connector, old, new, key, words = BROKEN[case]
    report = check_connector(_broken(tmp_path, connector, old, new), specs)
    assert not report.ok
    if key is not None:
        assert [p.key for p in report.problems] == [key], _problems(report)
    text = _problems(report)
    for word in words:
        assert word in text
    assert f"{connector}.yaml:" in text  # file:line:column of the YAML key


def test_cli_reports_ok_and_problems(tmp_path: Path, specs: Path) -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    ok = runner.invoke(
        app,
        ["conformance", "stripe", "google_calendar", "slack"],
        env={"MANIFOLD_CONNECTORS": str(CONNECTORS)},
    )
    assert ok.exit_code == 0, ok.output
    assert re.search(r"^ok +stripe: \d+ checks against stripe/spec3.yaml", ok.output, re.M)
    assert re.search(r"^ok +google_calendar: ", ok.output, re.M)
    assert "slack: lists no api_specs" in ok.output
    loaded = _broken(tmp_path, "stripe", "records: data", "records: items")
    bad = runner.invoke(app, ["conformance", str(loaded.path)])
    assert bad.exit_code == 1
    assert "FAIL stripe: 1 problem(s)" in bad.output
    assert "records path 'items'" in bad.output


# ---------------------------------------------------------------- spec formats, tiny inline specs


def _connector(tmp_path: Path, spec: dict[str, Any]) -> LoadedConnector:
    body = {"title": "Tiny", "docs": "https://example.com/docs", **spec}
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(HEAD + yaml.safe_dump(body, sort_keys=False))
    return load_connector(path, check_env=False)


def _keys(report: Report) -> list[str]:
    return [p.key for p in report.problems]


OPENAPI = {
    "openapi": "3.0.3",
    "servers": [{"url": "https://api.example.com/v2"}],
    "paths": {
        "/customers": {
            "parameters": [{"$ref": "#/components/parameters/limit"}],
            "get": {
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "created", "in": "query", "style": "deepObject", "schema": {"type": "object"}},
                    {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "data": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Customer"},
                                        },
                                        "next": {"type": "string", "nullable": True},
                                    },
                                }
                            }
                        }
                    }
                },
            },
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "contact": {
                                        "type": "object",
                                        "properties": {"email": {"type": "string"}},
                                    },
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "201": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Customer"}}}
                    },
                    "default": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                    },
                },
            },
        },
        "/customers/{id}": {"get": {"responses": {"200": {"description": "no schema"}}}},
    },
    "components": {
        "parameters": {"limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}},
        "schemas": {
            "Customer": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {
                        "type": "object",
                        "properties": {
                            "contact": {
                                "anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/Contact"}]
                            },
                            "tags": {"type": "array", "items": {"type": "string"}},
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                            "extra": {"type": "object"},
                        },
                    },
                ]
            },
            "Base": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
            "Contact": {"type": "object", "properties": {"email": {"type": "string"}}},
            "Error": {
                "type": "object",
                "properties": {"error": {"properties": {"code": {"type": "string"}}}},
            },
        },
    },
}


def _tiny_openapi(**stream_changes: Any) -> dict[str, Any]:
    stream = {
        "request": {"path": "/customers", "params": {"limit": 10, "created[gte]": 5}},
        "records": "data",
        "paging": {"type": "body_cursor", "cursor": "next", "param": "cursor"},
        "into": "customers",
        "fields": {
            "id": "id",
            "name": "name",
            "email": {"coalesce": ["contact.email", "contact"]},
            "metadata": {"path": "metadata.deal", "as": "json"},
            "description": "extra.anything.at.all",
        },
        **stream_changes,
    }
    return {
        "name": "tiny",
        "api_specs": ["tiny/openapi.yaml"],
        "base_url": "https://api.example.com/v2",
        "streams": {"customers": stream},
        "actions": {
            "create": {
                "request": {
                    "path": "/customers",
                    "body": {"name": "{{ input.name }}", "contact": {"email": "x"}},
                },
                "errors": {"code": "error.code"},
            }
        },
    }


def test_openapi3_spec(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "tiny").mkdir(parents=True)
    (folder / "tiny" / "openapi.yaml").write_text(yaml.safe_dump(OPENAPI))
    report = check_connector(_connector(tmp_path, _tiny_openapi()), folder)
    assert report.ok, _problems(report)
    # 'extra' and 'metadata' are open objects: accepted, not failures
    assert any("extra" in a.message for a in report.accepted)

    broken = _tiny_openapi(
        request={"path": "/customers", "params": {"limt": 10, "X-Trace": "1"}},
        fields={"id": "id", "name": "contact.email.domain", "email": "tags.0.x"},
    )
    broken["actions"]["create"]["request"]["body"] = {"nme": "x", "contact": {"mail": "y"}}
    broken["actions"]["create"]["errors"] = {"code": "error.kode"}
    report = check_connector(_connector(tmp_path, broken), folder)
    assert sorted(_keys(report)) == sorted(
        [
            "streams.customers.request.params.limt",
            "streams.customers.request.params.X-Trace",
            "streams.customers.fields.name",
            "streams.customers.fields.email",
            "actions.create.request.body.nme",
            "actions.create.request.body.contact.mail",
            "actions.create.errors.code",
        ]
    ), _problems(report)
    text = _problems(report)
    assert "'X-Trace' is a header parameter" in text
    assert "did you mean 'name'" in text and "did you mean 'email'" in text and "did you mean 'code'" in text


SWAGGER = {
    "swagger": "2.0",
    "host": "www.docusign.net",
    "basePath": "/restapi",
    "paths": {
        "/v2.1/accounts/{accountId}/envelopes": {
            "get": {
                "parameters": [
                    {"name": "accountId", "in": "path", "required": True, "type": "string"},
                    {"name": "from_date", "in": "query", "type": "string"},
                ],
                "responses": {"200": {"schema": {"$ref": "#/definitions/envelopesInformation"}}},
            },
            "post": {
                "parameters": [
                    {
                        "name": "envelopeDefinition",
                        "in": "body",
                        "schema": {"$ref": "#/definitions/envelopeDefinition"},
                    }
                ],
                "responses": {"201": {"schema": {"$ref": "#/definitions/envelopeSummary"}}},
            },
        }
    },
    "definitions": {
        "envelopesInformation": {
            "type": "object",
            "properties": {"envelopes": {"type": "array", "items": {"$ref": "#/definitions/envelope"}}},
        },
        "envelope": {
            "type": "object",
            "properties": {"envelopeId": {"type": "string"}, "status": {"type": "string"}},
        },
        "envelopeDefinition": {
            "type": "object",
            "properties": {"emailSubject": {"type": "string"}, "status": {"type": "string"}},
        },
        "envelopeSummary": {"type": "object", "properties": {"envelopeId": {"type": "string"}}},
    },
}


def test_swagger2_spec(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "docusign").mkdir(parents=True)
    (folder / "docusign" / "esign.json").write_text(json.dumps(SWAGGER))

    def connector(param: str, field: str, body_field: str) -> dict[str, Any]:
        return {
            "name": "tiny_sign",
            "api_specs": ["docusign/esign.json"],
            "config": {"type": "object", "properties": {"base_uri": {"type": "string"}}},
            "base_url": "{{ config.base_uri }}/restapi/v2.1/accounts/{{ config.account_id }}",
            "streams": {
                "envelopes": {
                    "request": {"path": "/envelopes", "params": {param: "2024-01-01"}},
                    "records": "envelopes",
                    "primary_key": ["envelopeId"],
                    "into": "customers",
                    "fields": {"id": "envelopeId", "name": field},
                }
            },
            "actions": {"send": {"request": {"path": "/envelopes", "body": {body_field: "{{ input.s }}"}}}},
        }

    assert check_connector(_connector(tmp_path, connector("from_date", "status", "emailSubject")), folder).ok
    report = check_connector(_connector(tmp_path, connector("fromDate", "state", "subject")), folder)
    assert _keys(report) == [
        "streams.envelopes.request.params.fromDate",
        "streams.envelopes.fields.name",
        "actions.send.request.body.subject",
    ], _problems(report)
    assert "did you mean 'from_date'" in _problems(report)


DISCOVERY = {
    "kind": "discovery#restDescription",
    "discoveryVersion": "v1",
    "rootUrl": "https://tasks.googleapis.com/",
    "servicePath": "",
    "parameters": {"fields": {"type": "string", "location": "query"}},
    "resources": {
        "tasklists": {
            "methods": {
                "list": {
                    "httpMethod": "GET",
                    "path": "tasks/v1/users/@me/lists",
                    "flatPath": "tasks/v1/users/@me/lists",
                    "parameters": {
                        "maxResults": {"type": "integer", "location": "query"},
                        "pageToken": {"type": "string", "location": "query"},
                    },
                    "response": {"$ref": "TaskLists"},
                }
            },
            "resources": {
                "items": {
                    "methods": {
                        "list": {
                            "httpMethod": "GET",
                            "path": "v1/{+parent}/items",
                            "flatPath": "v1/projects/{projectsId}/items",
                            "parameters": {"parent": {"type": "string", "location": "path"}},
                            "response": {"$ref": "TaskLists"},
                        },
                        "insert": {
                            "httpMethod": "POST",
                            "path": "v1/{+parent}/items",
                            "request": {"$ref": "TaskList"},
                            "response": {"$ref": "TaskList"},
                            "mediaUpload": {"protocols": {"simple": {"path": "/upload/v1/{+parent}/items"}}},
                        },
                    }
                }
            },
        }
    },
    "schemas": {
        "TaskLists": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "TaskList"}},
                "nextPageToken": {"type": "string"},
            },
        },
        "TaskList": {"type": "object", "properties": {"id": {"type": "string"}, "title": {"type": "string"}}},
    },
}


def test_google_discovery_spec(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "google").mkdir(parents=True)
    (folder / "google" / "tasks.v1.json").write_text(json.dumps(DISCOVERY))
    spec = load_api_spec(folder, "google/tasks.v1.json")
    index = OperationIndex(spec.operations)
    # {+parent} takes several segments; flatPath one; uploads are absolute from the root URL
    assert isinstance(index.find("GET", "/v1/projects/p/locations/l/items"), Found)
    assert isinstance(index.find("GET", f"/v1/projects/{EXPRESSION}/items"), Found)
    assert isinstance(index.find("POST", "/upload/v1/projects/p/items"), Found)

    def connector(path: str, field: str, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": "tiny_tasks",
            "api_specs": ["google/tasks.v1.json"],
            "base_url": "https://tasks.googleapis.com",
            "streams": {
                "lists": {
                    "request": {"path": path, "params": params},
                    "records": "items",
                    "paging": {"type": "page_token"},
                    "into": "customers",
                    "fields": {"id": "id", "name": field},
                }
            },
        }

    good = connector("/tasks/v1/users/@me/lists", "title", {"maxResults": 100, "fields": "items(id)"})
    report = check_connector(_connector(tmp_path, good), folder)
    assert report.ok, _problems(report)
    report = check_connector(
        _connector(tmp_path, connector("/v1/projects/p/items", "name", {"max": 1})), folder
    )
    assert _keys(report) == [
        "streams.lists.request.params.max",
        "streams.lists.paging.param",
        "streams.lists.fields.name",
    ], _problems(report)
    report = check_connector(_connector(tmp_path, connector("/tasks/v1/users/@me/list", "title", {})), folder)
    assert "did you mean GET tasks/v1/users/@me/lists" in _problems(report).replace("GET /", "GET ")


META_NODES = {
    "IGUser.json": {
        "apis": [
            {
                "method": "GET",
                "endpoint": "media",
                "return": "IGMedia",
                "params": [{"name": "since", "type": "datetime"}],
            },
            {
                "method": "GET",
                "endpoint": "insights",
                "return": "InstagramInsightsResult",
                "params": [{"name": "metric"}],
            },
            {"method": "GET", "return": "IGUser", "params": []},
        ],
        "fields": [{"name": "id", "type": "string"}, {"name": "username", "type": "string"}],
    },
    "IGMedia.json": {
        "apis": [
            {"method": "GET", "endpoint": "children", "return": "IGMedia", "params": []},
            {
                "method": "GET",
                "endpoint": "insights",
                "return": "InstagramInsightsResult",
                "params": [{"name": "metric"}],
            },
        ],
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "caption", "type": "string"},
            {"name": "owner", "type": "IGUser"},
            {"name": "like_count", "type": "int"},
        ],
    },
    "InstagramInsightsResult.json": {
        "apis": [],
        "fields": [
            {"name": "name", "type": "string"},
            {"name": "values", "type": "list<InstagramInsightsValue>"},
        ],
    },
    "InstagramInsightsValue.json": {"apis": [], "fields": [{"name": "value", "type": "Object"}]},
}


def test_meta_node_specs(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "meta").mkdir(parents=True)
    for name, document in META_NODES.items():
        (folder / "meta" / name).write_text(json.dumps(document))

    def connector(media_path: str, fields: str, mapped: str, insight: str) -> dict[str, Any]:
        return {
            "name": "tiny_ig",
            "api_specs": ["meta/IGUser.json", "meta/IGMedia.json"],
            "base_url": "https://graph.facebook.com/v23.0",
            "streams": {
                "media": {
                    "request": {"path": media_path, "params": {"fields": fields, "limit": 25}},
                    "records": "data",
                    "paging": {"type": "next_url", "path": "paging.next"},
                    "into": "customers",
                    "fields": {"id": "id", "name": mapped},
                },
                "insights": {
                    "parent": {"stream": "media", "fields": {}},
                    "request": {"path": "/{{ parent.id }}/insights", "params": {"metric": "reach"}},
                    "records": "data",
                    "primary_key": ["name"],
                    "into": "customers",
                    "fields": {"id": "name", "name": insight},
                },
            },
        }

    good = connector(
        "/me/media", "id,caption,owner{username},children{id,caption}", "owner.username", "values.0.value.x"
    )
    report = check_connector(_connector(tmp_path, good), folder)
    assert report.ok, _problems(report)
    bad = connector("/me/media", "id,captoin", "owner.name", "values.0.val")
    report = check_connector(_connector(tmp_path, bad), folder)
    assert _keys(report) == [
        "streams.media.request.params.fields",
        "streams.media.fields.name",
        "streams.insights.fields.name",
    ], _problems(report)
    assert "did you mean 'caption'" in _problems(report)
    report = check_connector(_connector(tmp_path, connector("/me/medias", "id", "id", "name")), folder)
    assert _keys(report)[0] == "streams.media.request.path"


# ---------------------------------------------------------------- the pieces


def test_paths_match_templates_with_expressions_literals_and_base_paths() -> None:
    def op(method: str, path: str, prefixes: tuple[str, ...] = ()) -> Operation:
        return Operation(method, path, "t", prefixes=prefixes)

    index = OperationIndex(
        [
            op("GET", "/v1/invoices/{invoice}"),
            op("GET", "/v1/invoices/upcoming"),
            op("POST", "/v1/invoices/{invoice}/finalize"),
            op("GET", "/Invoices", ("/api.xro/2.0",)),
        ]
    )
    upcoming = index.find("GET", "/v1/invoices/upcoming")
    assert isinstance(upcoming, Found) and upcoming.operation.path == "/v1/invoices/upcoming"
    one = index.find("GET", f"/v1/invoices/{EXPRESSION}")
    assert isinstance(one, Found) and one.operation.path == "/v1/invoices/{invoice}"
    wrong = index.find("GET", f"/v1/invoices/{EXPRESSION}/finalize")
    assert isinstance(wrong, WrongMethod) and wrong.methods == ["POST"]
    assert isinstance(index.find("GET", "/api.xro/2.0/Invoices"), Found)
    assert isinstance(index.find("GET", "/Invoices"), Found)
    missing = index.find("GET", "/v1/invoice/upcoming")
    assert isinstance(missing, NotFound) and "GET /v1/invoices/upcoming" in missing.suggestions


def test_request_paths_join_base_urls_and_read_absolute_urls() -> None:
    assert request_path(
        "/envelopes", "{{ config.base_uri }}/restapi/v2.1/accounts/{{ config.account_id }}"
    ).path == (f"/restapi/v2.1/accounts/{EXPRESSION}/envelopes")
    assert request_path("https://api.other.com/v1/x?a=1&b=2", "https://api.example.com/v9").path == "/v1/x"
    assert request_path("/x?a=1&b=2", "https://h").query == ["a", "b"]
    assert request_path("{{ config.ig_user_id }}/media", "https://graph.facebook.com/v23.0").path == (
        f"/v23.0/{EXPRESSION}/media"
    )
    assert request_path("{{ config.api_url }}/v1/items", "https://h/base").path == "/v1/items"
    assert request_path("{{ secrets.incoming_webhook_url }}", "https://hooks.slack.com").path is None


def test_schema_lookup_follows_refs_compositions_lists_and_open_objects() -> None:
    space = RefSpace(
        {"defs": {"Line": {"properties": {"rel": {"type": "string"}, "href": {"type": "string"}}}}}
    )
    schema = Schema.of(
        space,
        {
            "properties": {
                "links": {"type": "array", "items": {"$ref": "#/defs/Line"}},
                "customer": {"anyOf": [{"type": "string"}, {"properties": {"email": {"type": "string"}}}]},
                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                "blob": {},
                "count": {"type": "integer"},
            }
        },
    )
    assert lookup(schema, "links[rel=next].href").status == "found"
    assert lookup(schema, "links.0.href").status == "found"
    assert lookup(schema, "customer.email").status == "found"
    assert lookup(schema, "metadata.anything").status == "found"
    assert lookup(schema, "blob.anything.deeper").status == "open"
    missing = lookup(schema, "count.value")
    assert missing.status == "missing" and "integer" in missing.reason
    assert lookup(schema, "links.0.hrf").suggestions("hrf") == ["href"]


def test_yaml_specs_are_cached_outside_the_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.conformance.documents import _read_yaml, cache_dir

    monkeypatch.setenv("MANIFOLD_SPEC_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "openapi: 3.0.0\npaths:\n  /x:\n    get:\n      responses:\n        200: {description: ok}\n"
    )
    first = _read_yaml(spec)
    assert list(cache_dir().glob("s-*.json"))
    assert _read_yaml(spec) == first
    assert "200" in first["paths"]["/x"]["get"]["responses"]  # keys as JSON has them


def test_webhook_paths_against_a_sample_payload_and_openapi_webhooks(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "p").mkdir(parents=True)
    summary = {"id": "s", "name": "s", "status": "s"}
    sample = {"event": "", "generatedDateTime": "", "data": {"envelopeId": "s", "envelopeSummary": summary}}
    (folder / "p" / "connect.json").write_text(json.dumps(sample))
    item = {"properties": {"resourceId": {"type": "string"}}}
    payload = {"properties": {"events": {"type": "array", "items": item}}}
    hooks = {
        "openapi": "3.1.0",
        "paths": {},
        "webhooks": {
            "invoices": {"post": {"requestBody": {"content": {"application/json": {"schema": payload}}}}}
        },
    }
    (folder / "p" / "hooks.yaml").write_text(yaml.safe_dump(hooks))
    (folder / "p" / "api.yaml").write_text(yaml.safe_dump(OPENAPI))

    def connector(event_id: str, record: str, email: str) -> dict[str, Any]:
        return {
            "name": "tiny_hooks",
            "api_specs": ["p/api.yaml", "p/connect.json", "p/hooks.yaml"],
            "base_url": "https://api.example.com/v2",
            "streams": {
                "customers": {
                    "request": {"path": "/customers"},
                    "records": "data",
                    "into": "customers",
                    "fields": {"id": "id", "name": "name", "email": email},
                }
            },
            "webhooks": {
                "verify": {"scheme": "none"},
                "event_id": event_id,
                "event_type": "event",
                "events": {
                    "sent": {"apply": {"stream": "customers", "record": record}, "at": "generatedDateTime"},
                    "other": {"apply": {"stream": "customers", "records": "events"}},
                },
            },
        }

    report = check_connector(
        _connector(tmp_path, connector("data.envelopeId", "data.envelopeSummary", "name")), folder
    )
    assert sorted(_keys(report)) == [
        "streams.customers.fields.email",
        "streams.customers.fields.id",
        "streams.customers.fields.name",
        "streams.customers.primary_key.0",
    ], _problems(report)
    # the 'events' records of the other payload have no id or name: each mapped path is checked there too
    assert {p.where for p in report.problems} == {"webhooks -> stream customers"}, _problems(report)
    assert all("resourceId" in p.message for p in report.problems)

    report = check_connector(
        _connector(tmp_path, connector("data.envelopeID", "data.summary", "name")), folder
    )
    keys = _keys(report)
    assert keys[:2] == ["webhooks.event_id", "webhooks.events.sent.apply.record"], _problems(report)
    assert "did you mean 'envelopeId'" in _problems(report)


def test_a_sample_payload_cannot_prove_a_field_absent_but_the_rest_record_can(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "p").mkdir(parents=True)
    sample = {"event": "", "data": {"envelopeId": "s", "envelopeSummary": {"id": "s", "name": "s"}}}
    (folder / "p" / "connect.json").write_text(json.dumps(sample))
    (folder / "p" / "api.yaml").write_text(yaml.safe_dump(OPENAPI))

    def connector(description: str) -> dict[str, Any]:
        return {
            "name": "tiny_sample",
            "api_specs": ["p/api.yaml", "p/connect.json"],
            "base_url": "https://api.example.com/v2",
            "streams": {
                "customers": {
                    "request": {"path": "/customers"},
                    "records": "data",
                    "into": "customers",
                    # 'tags' is on the REST record (Customer), not in the sample
                    "fields": {"id": "id", "name": "name", "email": "tags", "description": description},
                }
            },
            "webhooks": {
                "verify": {"scheme": "none"},
                "event_id": "data.envelopeId",
                "event_type": "event",
                "events": {"sent": {"apply": {"stream": "customers", "record": "data.envelopeSummary"}}},
            },
        }

    report = check_connector(_connector(tmp_path, connector("name")), folder)
    assert report.ok, _problems(report)
    accepted = [a for a in report.accepted if a.key == "streams.customers.fields.email"]
    assert accepted and "absent from the sample payload" in accepted[0].message
    # in neither the sample nor the REST record: a problem, from both checks
    report = check_connector(_connector(tmp_path, connector("nowhere")), folder)
    assert [(p.where, p.key) for p in report.problems] == [
        ("stream customers", "streams.customers.fields.description"),
        ("webhooks -> stream customers", "streams.customers.fields.description"),
    ], _problems(report)


DRIVE = {
    "kind": "discovery#restDescription",
    "discoveryVersion": "v1",
    "rootUrl": "https://www.googleapis.com/",
    "servicePath": "drive/v3/",
    "resources": {
        "files": {
            "methods": {
                "list": {
                    "httpMethod": "GET",
                    "path": "files",
                    "parameters": {"pageToken": {"type": "string", "location": "query"}},
                    "response": {"$ref": "FileList"},
                }
            }
        },
        "changes": {
            "methods": {
                "list": {
                    "httpMethod": "GET",
                    "path": "changes",
                    "parameters": {
                        "pageToken": {"type": "string", "location": "query"},
                        "includeRemoved": {"type": "boolean", "location": "query"},
                    },
                    "response": {"$ref": "ChangeList"},
                },
                "getStartPageToken": {
                    "httpMethod": "GET",
                    "path": "changes/startPageToken",
                    "response": {"$ref": "StartPageToken"},
                },
            }
        },
    },
    "schemas": {
        "File": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
        "FileList": {
            "type": "object",
            "properties": {
                "files": {"type": "array", "items": {"$ref": "File"}},
                "nextPageToken": {"type": "string"},
            },
        },
        "Change": {
            "type": "object",
            "properties": {
                "changeType": {"type": "string"},
                "fileId": {"type": "string"},
                "removed": {"type": "boolean"},
                "file": {"$ref": "File"},
            },
        },
        "ChangeList": {
            "type": "object",
            "properties": {
                "changes": {"type": "array", "items": {"$ref": "Change"}},
                "nextPageToken": {"type": "string"},
                "newStartPageToken": {"type": "string"},
            },
        },
        "StartPageToken": {"type": "object", "properties": {"startPageToken": {"type": "string"}}},
    },
}


def test_a_changes_feed_is_checked_against_its_own_operation(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "google").mkdir(parents=True)
    (folder / "google" / "drive.json").write_text(json.dumps(DRIVE))

    def connector(token: str, include: str, carried: str, records: str = "changes") -> dict[str, Any]:
        return {
            "name": "tiny_drive",
            "api_specs": ["google/drive.json"],
            "base_url": "https://www.googleapis.com",
            "streams": {
                "files": {
                    "request": {"path": "/drive/v3/files"},
                    "records": "files",
                    "paging": {"type": "page_token", "token": "nextPageToken", "param": "pageToken"},
                    "incremental": {
                        "type": "server_token",
                        "token": token,
                        "param": "pageToken",
                        "start": {
                            "request": {"path": "/drive/v3/changes/startPageToken"},
                            "token": "startPageToken",
                        },
                        "changes": {
                            "request": {"path": "/drive/v3/changes", "params": {include: "true"}},
                            "records": records,
                            "filter": {"field": "changeType", "equals": "file"},
                            "record": "file",
                            "carry": {"id": "fileId", "removed": carried},
                        },
                    },
                    "into": "customers",
                    "fields": {"id": "id", "name": "name", "deleted": "removed"},
                }
            },
        }

    # the token, its parameter and the change records are the changes feed's; 'removed' is carried
    report = check_connector(
        _connector(tmp_path, connector("newStartPageToken", "includeRemoved", "removed")), folder
    )
    assert report.ok, _problems(report)
    assert any("carried from each change" in a.message for a in report.accepted)
    report = check_connector(
        _connector(tmp_path, connector("newStartToken", "includeRemovd", "removd")), folder
    )
    assert sorted(_keys(report)) == [
        "streams.files.fields.deleted",
        "streams.files.incremental.changes.carry.removed",
        "streams.files.incremental.changes.request.params.includeRemovd",
        "streams.files.incremental.token",
    ], _problems(report)
    assert {p.where for p in report.problems} == {"stream files changes"}
    assert "did you mean 'newStartPageToken'" in _problems(report)
    report = check_connector(
        _connector(tmp_path, connector("newStartPageToken", "includeRemoved", "removed", "change")), folder
    )
    assert _keys(report) == ["streams.files.incremental.changes.records"], _problems(report)


def test_schema_lookup_follows_discriminator_mappings_and_renamed_duplicates() -> None:
    schemas: dict[str, Any] = {
        # a bundler's renamed duplicate: messages reference 'Base', their own base is 'Base_1'
        "Base": {"type": "object", "properties": {"to": {"type": "string"}}},
        "Base_1": {"type": "object", "properties": {"from": {"type": "string"}, "id": {"type": "string"}}},
        "Used": {"type": "object", "properties": {"a": {"type": "string"}}},
        "Used_1": {"type": "object", "properties": {"b": {"type": "string"}}},
        "Reply": {
            "allOf": [
                {"$ref": "#/components/schemas/Base"},
                {"$ref": "#/components/schemas/Used"},
                {
                    "type": "object",
                    "properties": {
                        "interactive": {
                            "type": "object",
                            "discriminator": {
                                "propertyName": "type",
                                "mapping": {
                                    "button_reply": "#/components/schemas/ButtonReply",
                                    "list_reply": "ListReply",
                                },
                            },
                            "properties": {"type": {"type": "string"}},
                        }
                    },
                },
            ]
        },
        "ButtonReply": {"properties": {"button_reply": {"properties": {"title": {"type": "string"}}}}},
        "ListReply": {"properties": {"list_reply": {"properties": {"title": {"type": "string"}}}}},
        # a discriminator whose variants refer back to it ends
        "Pet": {
            "type": "object",
            "properties": {"kind": {"type": "string"}},
            "discriminator": {"propertyName": "kind", "mapping": {"cat": "#/components/schemas/Cat"}},
        },
        "Cat": {"allOf": [{"$ref": "#/components/schemas/Pet"}, {"properties": {"purr": {}}}]},
    }
    document = {"components": {"schemas": schemas}, "x": {"$ref": "#/components/schemas/Used_1"}}
    reply = Schema.of(RefSpace(document), {"$ref": "#/components/schemas/Reply"})
    for path in ("to", "from", "id", "a", "interactive.type", "interactive.button_reply.title"):
        assert lookup(reply, path).status == "found", path
    assert lookup(reply, "interactive.list_reply.title").status == "found"
    missing = lookup(reply, "interactive.button_reply.text")
    assert missing.status == "missing" and missing.choices == ["title"]
    assert lookup(reply, "b").status == "missing"  # Used_1 is referenced: not a renamed duplicate
    assert lookup(reply, "interactive.other").status == "missing"
    pet = Schema.of(RefSpace(document), {"$ref": "#/components/schemas/Pet"})
    assert lookup(pet, "purr").status == "found" and lookup(pet, "bark").status == "missing"


def test_meta_enum_values_beside_the_node_specs_check_literal_parameter_values(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    (folder / "meta").mkdir(parents=True)
    insights = {"method": "GET", "endpoint": "insights", "return": "InsightsResult"}
    nodes = {
        "IGMedia.json": {
            "apis": [
                {
                    **insights,
                    "params": [
                        {"name": "metric", "type": "list<mediainsights_metric_enum_param>"},
                        {"name": "period", "type": "mediainsights_period_enum_param"},
                    ],
                }
            ],
            "fields": [{"name": "id", "type": "string"}],
        },
        "IGUser.json": {
            "apis": [
                {**insights, "params": [{"name": "metric", "type": "list<userinsights_metric_enum_param>"}]}
            ],
            "fields": [{"name": "id", "type": "string"}],
        },
        "InsightsResult.json": {"apis": [], "fields": [{"name": "name", "type": "string"}]},
    }
    for name, document in nodes.items():
        (folder / "meta" / name).write_text(json.dumps(document))
    enums = [
        {"name": "mediainsights_metric_enum_param", "values": ["reach", "likes", "saved"]},
        {"name": "mediainsights_period_enum_param", "values": ["day", "lifetime"]},
        {"name": "userinsights_metric_enum_param", "values": ["follower_count"]},
    ]
    (folder / "meta" / "enum_types.json").write_text(json.dumps(enums))

    def connector(params: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": "tiny_ig_enums",
            "api_specs": ["meta/IGMedia.json", "meta/IGUser.json"],
            "base_url": "https://graph.instagram.com/v23.0",
            "streams": {
                "insights": {
                    "request": {"path": "/{{ config.media_id }}/insights", "params": params},
                    "records": "data",
                    "primary_key": ["name"],
                    "into": "customers",
                    "fields": {"id": "name"},
                }
            },
        }

    # the path matches both nodes' insights edges: either node's metric values are taken
    good = {"metric": "reach, likes,follower_count", "period": "lifetime", "limit": "{{ 'x' }}"}
    report = check_connector(_connector(tmp_path, connector(good)), folder)
    assert report.ok, _problems(report)
    report = check_connector(
        _connector(tmp_path, connector({"metric": "reach,like", "period": "lifetime,day"})), folder
    )
    assert _keys(report) == [
        "streams.insights.request.params.metric",
        "streams.insights.request.params.period",
    ], _problems(report)
    assert "'like' is not a value of 'metric'" in _problems(report) and "did you mean 'likes'" in _problems(
        report
    )
    assert "'lifetime,day' is not a value of 'period'" in _problems(report)

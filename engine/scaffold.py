"""`manifold new`: a working connector skeleton — spec, fixture and an end-to-end test.

    files = scaffold("acme_crm", auth="bearer", paging="page_number", root=Path("."))

The spec pages and authenticates the way its options say, against the sandbox's emulation of
that paging style (the same protocols the real connectors use), so `manifold validate` passes
and `manifold sync NAME --sandbox` loads rows as generated. Then replace the made-up paths,
fields and fixture with the provider's own (docs/adding-a-connector.md walks through it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

AUTH_KINDS = ("api_key", "bearer", "basic", "client_credentials", "oauth2")


@dataclass(frozen=True)
class PagingStyle:
    paging: dict[str, Any]
    protocol: str
    options: dict[str, Any]
    records: str
    params: dict[str, Any]
    shape: str  # how the list endpoint answers, for the spec's header comment


PAGING: dict[str, PagingStyle] = {
    "page_number": PagingStyle(
        {
            "type": "page_number",
            "param": "page",
            "size_param": "per_page",
            "size": 2,
            "total_pages": "total_pages",
        },
        "page_number",
        {},
        "items",
        {},
        '?page=N&per_page=2 -> {"page", "total_pages", "items": [...]}',
    ),
    "offset": PagingStyle(
        {"type": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 2, "total": "total"},
        "offset_limit",
        {},
        "items",
        {},
        '?offset=N&limit=2 -> {"total", "items": [...]}',
    ),
    "last_record_cursor": PagingStyle(
        {"type": "last_record_cursor", "param": "starting_after", "field": "id", "more": "has_more"},
        "stripe_list",
        {},
        "data",
        {"limit": 2},
        '?limit=2&starting_after=<last id> -> {"data": [...], "has_more"}',
    ),
    "page_token": PagingStyle(
        {"type": "page_token", "token": "nextPageToken", "param": "pageToken"},
        "google_page_token",
        {},
        "items",
        {"maxResults": 2},
        '?maxResults=2&pageToken=T -> {"items": [...], "nextPageToken"}',
    ),
    "next_url": PagingStyle(
        {"type": "next_url", "path": "paging.next"},
        "graph_cursor",
        {},
        "data",
        {"limit": 2},
        '?limit=2 -> {"data": [...], "paging": {"next": "<url>"}}',
    ),
    "link_header": PagingStyle(
        {"type": "link_header", "rel": "next"},
        "link_header",
        {},
        "",
        {"per_page": 2},
        '?per_page=2&page=N -> [...] with Link: <url>; rel="next"',
    ),
    "body_cursor": PagingStyle(
        {"type": "body_cursor", "cursor": "response_metadata.next_cursor", "param": "cursor"},
        "slack_cursor",
        {"records_key": "items"},
        "items",
        {"limit": 2},
        '?limit=2&cursor=C -> {"items": [...], "response_metadata": {"next_cursor"}}',
    ),
}

RECORDS = [
    {"id": f"rec_{n:03d}", "name": name, "email": email, "created_at": f"2026-0{n}-01T09:00:00Z"}
    for n, (name, email) in enumerate(
        [
            ("Ada Lovelace", "ada@example.com"),
            ("Grace Hopper", "grace@example.com"),
            ("Katherine Johnson", "katherine@example.com"),
            ("Alan Turing", "alan@example.com"),
            ("Edsger Dijkstra", "edsger@example.com"),
        ],
        start=1,
    )
]


def _auth(
    name: str, kind: str
) -> tuple[dict[str, Any], list[str], dict[str, str], dict[str, str], dict[str, Any]]:
    """(auth, env, sandbox env, sandbox require_headers, sandbox oauth) for an auth kind."""
    upper = name.upper()
    if kind == "api_key":
        key = f"{upper}_API_KEY"
        return (
            {"type": "api_key", "key": f"{{{{ env.{key} }}}}", "header": "X-API-Key"},
            [key],
            {key: f"{name}_sandbox_key"},
            {"X-API-Key": f"{name}_sandbox_key"},
            {},
        )
    if kind == "bearer":
        key = f"{upper}_TOKEN"
        return (
            {"type": "bearer", "token": f"{{{{ env.{key} }}}}"},
            [key],
            {key: f"{name}_sandbox_token"},
            {"Authorization": f"Bearer {name}_sandbox_token"},
            {},
        )
    if kind == "basic":
        user, password = f"{upper}_USERNAME", f"{upper}_PASSWORD"
        return (
            {"type": "basic", "username": f"{{{{ env.{user} }}}}", "password": f"{{{{ env.{password} }}}}"},
            [user, password],
            {user: "sandbox", password: "sandbox-password"},
            {"Authorization": "Basic c2FuZGJveDpzYW5kYm94LXBhc3N3b3Jk"},
            {},
        )
    client_id, secret = f"{upper}_CLIENT_ID", f"{upper}_CLIENT_SECRET"
    common = {
        "token_url": f"https://api.{name.replace('_', '')}.example.com/oauth/token",
        "client_id": f"{{{{ env.{client_id} }}}}",
        "client_secret": f"{{{{ env.{secret} }}}}",
    }
    env = {client_id: f"{name}-sandbox-client", secret: f"{name}-sandbox-secret"}
    if kind == "client_credentials":
        return (
            {"type": "client_credentials", **common},
            [client_id, secret],
            env,
            {},
            {"access_token_ttl": 3600},
        )
    auth = {
        "type": "oauth2",
        "authorize_url": f"https://{name.replace('_', '')}.example.com/oauth/authorize",
        **common,
        "scopes": ["read"],
        "pkce": "S256",
    }
    return auth, [client_id, secret], env, {}, {"access_token_ttl": 3600}


def render_spec(
    name: str, auth: str, paging: str, model: str = "customers"
) -> tuple[str, list[dict[str, Any]]]:
    if auth not in AUTH_KINDS:
        raise ConfigError(f"unknown auth '{auth}' (choose from {', '.join(AUTH_KINDS)})")
    if paging not in PAGING:
        raise ConfigError(f"unknown paging '{paging}' (choose from {', '.join(PAGING)})")
    style = PAGING[paging]
    auth_block, env, sandbox_env, headers, oauth = _auth(name, auth)
    host = name.replace("_", "")
    stream: dict[str, Any] = {
        "description": "Example stream: replace the path, records, paging and fields with the provider's.",
        "request": {"path": "/v1/contacts", **({"params": style.params} if style.params else {})},
        "records": style.records,
        "paging": style.paging,
        "into": model,
        "fields": {
            "id": "id",
            "name": "name",
            "email": "email",
            "created_at": {"path": "created_at", "as": "iso_timestamp"},
        },
    }
    sandbox: dict[str, Any] = {"env": sandbox_env}
    if headers:
        sandbox["require_headers"] = headers
    if oauth:
        sandbox["oauth"] = oauth
    sandbox["routes"] = [
        {
            "path": "/v1/contacts",
            "protocol": style.protocol,
            "fixture": f"fixtures/{name}/contacts.json",
            **({"options": style.options} if style.options else {}),
        }
    ]
    data: dict[str, Any] = {
        "name": name,
        "title": name.replace("_", " ").title(),
        "docs": f"https://docs.{host}.example.com/api",
        "api_specs": [],
        "env": env,
        "base_url": f"https://api.{host}.example.com",
        "auth": auth_block,
        "http": {"rate_limit": 5, "concurrency": 4},
        "streams": {"contacts": stream},
        "sandbox": sandbox,
    }
    header = (
        "# yaml-language-server: $schema=../schemas/connector.schema.json\n"
        f"# {data['title']}: generated by `manifold new {name} --auth {auth} --paging {paging}`.\n"
        f"# The list endpoint pages like this: {style.shape}.\n"
        "# Replace base_url, paths, records, paging and fields with the provider's documented ones,\n"
        "# list its official spec files in api_specs (for `manifold conformance`), and see\n"
        "# docs/adding-a-connector.md and docs/spec-reference.md for every key.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, width=110), RECORDS


TEST = '''\
"""{title} end to end: the sandbox serves the fixture, the real CLI syncs it into DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = ROOT / "connectors" / "{name}.yaml"


def manifold(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_{name}_syncs_from_the_sandbox(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    env = {{**os.environ, "MANIFOLD_WAREHOUSE_URL": f"duckdb:///{{warehouse}}"}}
    env.setdefault("MANIFOLD_CONTROL_URL", f"sqlite:///{{tmp_path / 'control.db'}}")
    env.setdefault("MANIFOLD_SECRET_KEY", Fernet.generate_key().decode())
{body}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT id, name, email FROM {model} WHERE _provider = '{name}' ORDER BY id"
        ).fetchall()
    assert rows == {expected!r}
'''

PLAIN_BODY = """\
    done = manifold("sync", "{name}", "--sandbox", env=env)
    assert done.returncode == 0, done.stderr
"""

OAUTH_BODY = """\
    from engine.sandbox import Sandbox
    from engine.spec.loader import load_connector

    loaded = load_connector(CONNECTOR, check_env=False)
    with Sandbox([(loaded.spec, CONNECTOR)]) as sandbox:
        connected = manifold(
            "connect", "{name}", "--connection", "demo", "--sandbox-url", sandbox.url, "--approve", env=env
        )
        assert connected.returncode == 0, connected.stderr
        done = manifold("sync", "{name}", "--connection", "demo", "--sandbox-url", sandbox.url, env=env)
        assert done.returncode == 0, done.stderr
"""


def render_test(name: str, auth: str, model: str, records: list[dict[str, Any]]) -> str:
    body = (OAUTH_BODY if auth == "oauth2" else PLAIN_BODY).format(name=name)
    expected = [(r["id"], r["name"], r["email"]) for r in records]
    return TEST.format(
        title=name.replace("_", " ").title(),
        name=name,
        model=model,
        expected=expected,
        body=body.rstrip("\n"),
    )


def scaffold(
    name: str, *, auth: str, paging: str, root: Path, model: str = "customers", force: bool = False
) -> list[Path]:
    """Write connectors/NAME.yaml, its fixture and tests/test_sync_NAME.py under `root`."""
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigError(f"'{name}' is not a connector name: use snake_case, e.g. acme_crm")
    spec, records = render_spec(name, auth, paging, model)
    files = {
        root / "connectors" / f"{name}.yaml": spec,
        root / "connectors" / "fixtures" / name / "contacts.json": json.dumps(records, indent=2) + "\n",
        root / "tests" / f"test_sync_{name}.py": render_test(name, auth, model, records),
    }
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)} already exist(s); pass --force to overwrite")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)

"""`manifold new`: every auth and paging kind gives a spec that validates and syncs against the
sandbox as generated; the generated test passes as written (API key and OAuth flavours)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.destinations.duckdb import DuckDBDestination
from engine.runner import build_runtime, sandbox_environ
from engine.sandbox import Sandbox
from engine.scaffold import AUTH_KINDS, PAGING, scaffold
from engine.spec.loader import load_connector
from engine.sync import sync_connector

ROOT = Path(__file__).resolve().parent.parent
CASES = [(auth, "page_number") for auth in AUTH_KINDS if auth != "oauth2"] + [
    ("bearer", paging) for paging in PAGING if paging != "page_number"
]


@pytest.mark.parametrize(("auth", "paging"), CASES)
def test_a_skeleton_validates_and_syncs_every_fixture_record(tmp_path: Path, auth: str, paging: str) -> None:
    files = scaffold("acme_crm", auth=auth, paging=paging, root=tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "connectors/acme_crm.yaml",
        "connectors/fixtures/acme_crm/contacts.json",
        "tests/test_sync_acme_crm.py",
    ]
    assert (
        files[0].read_text().startswith("# yaml-language-server: $schema=../schemas/connector.schema.json\n")
    )
    probe = load_connector(files[0], check_env=False)
    loaded = load_connector(files[0], environ=sandbox_environ(probe))  # env checks on, sandbox values
    with Sandbox([(loaded.spec, files[0])]) as sandbox:
        runtime = build_runtime(loaded, sandbox_url=sandbox.url)
        destination = DuckDBDestination(tmp_path / "w.duckdb")
        try:
            (result,) = sync_connector(runtime, destination)
            assert result.ok, result.error
            rows = destination.connection.execute("SELECT id, email FROM customers ORDER BY id").fetchall()
            pages = [r for r in sandbox.requests("acme_crm") if r["path"] == "/v1/contacts"]
        finally:
            runtime.close()
            destination.close()
    assert [r[0] for r in rows] == [f"rec_{n:03d}" for n in range(1, 6)]
    assert len(pages) == 3  # five records, two per page


def test_a_name_that_is_not_snake_case_or_an_existing_file_is_refused(tmp_path: Path) -> None:
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="snake_case"):
        scaffold("Acme-CRM", auth="bearer", paging="offset", root=tmp_path)
    scaffold("acme", auth="bearer", paging="offset", root=tmp_path)
    with pytest.raises(ConfigError, match="--force"):
        scaffold("acme", auth="bearer", paging="offset", root=tmp_path)
    with pytest.raises(ConfigError, match="choose from"):
        scaffold("other", auth="bearer", paging="pages", root=tmp_path)


@pytest.mark.parametrize("auth", ["api_key", "oauth2"])
def test_the_generated_test_passes_as_written(tmp_path: Path, auth: str) -> None:
    """The CLI writes into a copy of the project; validate passes; its own test runs green."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "connectors").mkdir()
    (project / "tests" / "__init__.py").write_text("")
    env = {**os.environ, "MANIFOLD_CONNECTORS": str(project / "connectors")}
    made = subprocess.run(
        [sys.executable, "-m", "engine.cli", "new", "acme_crm", "--auth", auth, "--paging", "page_token"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "next: manifold validate" in made.stdout
    valid = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", str(project / "connectors" / "acme_crm.yaml")],
        cwd=ROOT,
        env={**env, "ACME_CRM_API_KEY": "k", "ACME_CRM_CLIENT_ID": "i", "ACME_CRM_CLIENT_SECRET": "s"},
        capture_output=True,
        text=True,
    )
    assert valid.returncode == 0, valid.stdout + valid.stderr
    # The generated test addresses ROOT/connectors: run it from a project whose root is the copy.
    for part in ("engine", "schemas", "pyproject.toml"):
        (project / part).symlink_to(ROOT / part)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_sync_acme_crm.py"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]  # 5 if no test ran

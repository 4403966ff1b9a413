"""The Dagster UI's path end to end: dagster-webserver over definitions.py, a partition added and
materialized through the GraphQL API (what the Materialize button sends), rows in the warehouse."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from .orchestration_support import ROOT, free_port, query, repo_sandbox

pytestmark = pytest.mark.slow

LOCATION = "definitions.py"
REPOSITORY = "__repository__"
INVOICES = {"path": ["stripe", "invoices"]}
CHECKS = ["keys_not_null", "fresh", "connection_healthy"]

# No daemon runs here, so runs are launched straight from the webserver instead of being
# queued for the daemon (which `dagster dev` starts alongside the UI).
DAGSTER_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      status
      eventConnection { events { __typename ... on ExecutionStepFailureEvent { error { message } } } }
    }
  }
}"""

MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(partitions: ["default"], limit: 1) {
        partition
        runId
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
}"""

CHECK_EXECUTIONS = """
query Checks($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 1) {
    status
    evaluation { success description }
  }
}"""


class Webserver:
    def __init__(self, base: str):
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=30)

    def graphql(self, document: str, **variables: Any) -> dict[str, Any]:
        reply = self.client.post("/graphql", json={"query": document, "variables": variables})
        reply.raise_for_status()
        body = reply.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait_until_loaded(self, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, "dagster-webserver exited"
            with contextlib.suppress(httpx.HTTPError):
                if self.client.get("/server_info").status_code == 200:
                    return
            time.sleep(0.5)
        raise AssertionError(f"dagster-webserver did not answer /server_info within {timeout}s")


@contextlib.contextmanager
def webserver(env: dict[str, str]) -> Iterator[Webserver]:
    port = free_port()
    command = [str(Path(sys.executable).parent / "dagster-webserver"), "-f", "definitions.py"]
    proc = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its code server and run workers share the group: all are stopped
    )
    try:
        server = Webserver(f"http://127.0.0.1:{port}")
        server.wait_until_loaded(proc)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def wait_for_run(server: Webserver, run_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = server.graphql(RUN, runId=run_id)["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish within {timeout}s")


def test_materialize_a_partition_from_the_webserver(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    warehouse = tmp_path / "w.duckdb"
    with repo_sandbox() as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MANIFOLD_", "STRIPE_", "DAGSTER_"))}
        env.update(
            DAGSTER_HOME=str(home),
            MANIFOLD_WAREHOUSE_URL=f"duckdb:///{warehouse}",
            MANIFOLD_SANDBOX_URL=sandbox.url,
        )
        with webserver(env) as server:
            added = server.graphql(
                """mutation { addDynamicPartition(
                    repositorySelector: {repositoryLocationName: "definitions.py", repositoryName: "__repository__"},
                    partitionsDefName: "stripe_connections", partitionKey: "default") { __typename } }"""
            )
            assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"
            params = {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": REPOSITORY,
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [INVOICES],
                    "assetCheckSelection": [{"assetKey": INVOICES, "name": name} for name in CHECKS],
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "default"}]},
                "runConfigData": {},
            }
            launched = server.graphql(LAUNCH, params=params)["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run_id = launched["run"]["runId"]
            run = wait_for_run(server, run_id)
            failures = [e for e in run["eventConnection"]["events"] if e.get("error")]
            assert run["status"] == "SUCCESS", failures

            (materialization,) = server.graphql(MATERIALIZATIONS, key=INVOICES)["assetOrError"][
                "assetMaterializations"
            ]
            assert materialization["partition"] == "default" and materialization["runId"] == run_id
            entries = {
                e["label"]: e.get("intValue", e.get("text")) for e in materialization["metadataEntries"]
            }
            assert entries["records"] == 5 and entries["inserted"] == 5 and entries["table"] == "invoices"
            assert entries["destination"] == f"duckdb:///{warehouse}"
            for name in CHECKS:
                (execution,) = server.graphql(CHECK_EXECUTIONS, key=INVOICES, name=name)[
                    "assetCheckExecutions"
                ]
                assert execution["status"] == "SUCCEEDED", execution
    assert query_unlocked(warehouse, "SELECT count(*), min(_provider) FROM invoices") == [(5, "stripe")]
    assert query(warehouse, "SELECT status FROM _manifold_runs WHERE stream = 'invoices'") == [("succeeded",)]


def query_unlocked(warehouse: Path, sql: str, timeout: float = 10) -> list[tuple]:
    """Query once the run's process has let go of the DuckDB file."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return query(warehouse, sql)
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)

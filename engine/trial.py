"""`manifold test CONNECTOR`: one connector tried end to end on its own, with a short report.

    lines, ok = trial(load_connector(path, check_env=False))

1. The spec loads (every problem with file:line, and its reference section).
2. Every polled stream syncs against the connector's sandbox into a throwaway warehouse (an OAuth
   connector first connects through the sandbox's authorization server): pages, records, rows.
3. The conformance check against the provider's official specs (`api_specs`), where that folder is.
Webhooks and actions are not tried here: their end-to-end tests are in tests/test_sync_NAME.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .conformance import check_connector, default_specs_dir
from .connect import connect_in_sandbox
from .destinations.duckdb import DuckDBDestination
from .errors import ManifoldError
from .oauth.spec import OAuth2AuthCode
from .runner import build_runtime, sandbox_environ
from .sandbox import Sandbox
from .spec.loader import LoadedConnector, load_connector
from .sync import sync_connector

CONNECTION = "trial"


def trial(loaded: LoadedConnector) -> tuple[list[str], bool]:
    spec = loaded.spec
    lines = [f"{spec.title} ({spec.name}): {loaded.path}"]
    ok = True
    polled = [name for name, s in spec.streams.items() if s.into is not None and s.polled]
    if spec.sandbox is None:
        lines.append("  sync: skipped (no sandbox section)")
    elif not polled:
        lines.append("  sync: nothing to sync (webhooks and actions fill its streams)")
    else:
        try:
            sandboxed = load_connector(loaded.path, environ=sandbox_environ(loaded))
            with Sandbox([(spec, loaded.path)]) as sandbox, tempfile.TemporaryDirectory() as scratch:
                if isinstance(spec.auth, OAuth2AuthCode):
                    connect_in_sandbox(sandboxed, CONNECTION, sandbox.url)
                runtime = build_runtime(sandboxed, connection_id=CONNECTION, sandbox_url=sandbox.url)
                destination = DuckDBDestination(Path(scratch) / "trial.duckdb")
                try:
                    results = sync_connector(runtime, destination, streams=polled)
                finally:
                    runtime.close()
                    destination.close()
        except ManifoldError as exc:
            lines.append(f"  sync: FAILED before any stream ran: {exc}")
            return lines, False
        for result in results:
            if result.ok:
                lines.append(
                    f"  ok   {result.stream}: {result.pages} page(s), {result.records} record(s) -> "
                    f"{result.table} ({result.counts.inserted} rows)"
                )
            else:
                ok = False
                lines.append(f"  FAIL {result.stream}: {result.error}")
    folder = default_specs_dir()
    if not spec.api_specs:
        lines.append("  conformance: lists no api_specs (not checked)")
    elif not folder.is_dir():
        lines.append(f"  conformance: skipped, no specs folder at {folder} (set MANIFOLD_API_SPECS)")
    else:
        report = check_connector(loaded, folder)
        ok = ok and report.ok
        lines.append(f"  conformance: {report.summary()}")
        lines += [f"    {problem}" for problem in report.problems[:20]]
    lines.append("  webhooks, actions: see tests/test_sync_" + spec.name + ".py")
    lines.append("PASSED" if ok else "FAILED")
    return lines, ok

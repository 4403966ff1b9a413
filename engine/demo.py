"""`manifold demo`: the sandbox, every connector synced into the warehouse, a summary."""

from __future__ import annotations

import sys

import httpx
from rich.console import Console
from rich.table import Table

from . import runner
from .connect import connect
from .destinations import open_destination, warehouse_url
from .oauth.spec import OAuth2AuthCode
from .report import Reporter, print_summary
from .spec.loader import LoadedConnector, connector_files
from .sync import StreamResult


def _connect_default(loaded: LoadedConnector, sandbox_url: str) -> None:
    """An OAuth connector syncs a stored connection: connect `default` through this run's sandbox
    authorization server (it approves at once), as `manifold connect` would with a browser. Every
    demo starts a new sandbox, so tokens stored by an earlier one are replaced."""
    if not isinstance(loaded.spec.auth, OAuth2AuthCode):
        return

    def browse(message: str) -> None:
        httpx.get(message.splitlines()[-1], follow_redirects=True, timeout=30)

    connect(loaded, "default", sandbox_url=sandbox_url, timeout=30, announce=browse)


def run_demo(warehouse: str | None = None) -> int:
    files = connector_files([runner.connectors_dir()])
    loaded = [runner.load_for_run(str(f), sandbox=True) for f in files]
    loaded = [c for c in loaded if c.spec.sandbox and any(s.into for s in c.spec.streams.values())]
    url = warehouse or warehouse_url()
    destination = open_destination(url)
    results: list[StreamResult] = []
    reporter = Reporter(sys.stderr)
    try:
        with runner.running_sandbox(loaded) as sandbox_url:
            for connector in loaded:
                _connect_default(connector, sandbox_url)
                results += runner.run_sync(
                    connector, sandbox_url=sandbox_url, destination=destination, progress=reporter.update
                )
    finally:
        reporter.close()
    print_summary(results)
    console = Console(width=140)
    table = Table(title="rows per table")
    table.add_column("table")
    table.add_column("rows", justify="right")
    con = getattr(destination, "connection", None)
    for name in sorted({r.table for r in results if r.table}):
        count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] if con is not None else None
        table.add_row(name, f"{count:,}" if isinstance(count, int) else "?")
    destination.close()
    console.print(table)
    console.print(f"Warehouse: {url}")
    console.print("Next:")
    console.print('  manifold query "SELECT id, status, amount_due, currency FROM invoices"')
    console.print("  manifold sync stripe --sandbox        # one connector; run it twice to see incremental")
    console.print("  manifold validate                     # every spec problem with file:line:column")
    return 1 if any(not r.ok for r in results) else 0

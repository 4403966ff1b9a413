"""`manifold connections`: each stored connection's health as a table (credentials never shown)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from .control import ConnectionStore, Vault, open_control

_STATUS = {"valid": "green", "expiring soon": "yellow", "expired": "red", "not applicable": "dim"}


def print_connections(connector: str | None = None, *, console: Console | None = None) -> None:
    store = ConnectionStore(open_control(), Vault())
    now = datetime.now(UTC)
    table = Table(title="connections")
    for column in ("connector", "id", "account", "connected", "last sync", "last error", "token"):
        table.add_column(column)
    for record in store.list(connector):
        token = record.token_status(now)
        error = f"{record.last_error} ({record.last_error_at})" if record.last_error else ""
        table.add_row(
            record.connector,
            record.id,
            record.account_id or "",
            "[green]yes[/green]" if record.connected else "[red]no[/red]",
            record.last_sync_at or "never",
            error,
            f"[{_STATUS[token]}]{token}[/{_STATUS[token]}]",
        )
    (console or Console()).print(table)

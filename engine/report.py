"""What a person sees: live progress on a terminal (plain lines otherwise) and a summary table."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from .sync import StreamResult


def _rate(result: StreamResult) -> str:
    return f"{result.records / result.seconds:,.0f}/s" if result.seconds > 0 else "-"


class Reporter:
    """Progress of running streams: a live table on a TTY, a line every few seconds otherwise."""

    def __init__(self, out: TextIO = sys.stderr, *, interval: float = 2.0):
        self.out = out
        self.tty = out.isatty()
        self.interval = interval
        self._last: dict[str, float] = {}
        self._rows: dict[str, StreamResult] = {}
        self._live: Live | None = None
        if self.tty:
            self._live = Live(self._table(), console=Console(file=out), refresh_per_second=4, transient=True)
            self._live.start()

    def _table(self) -> Table:
        table = Table(title="syncing", expand=False)
        for column in ("stream", "pages", "records", "records/s", "retries"):
            table.add_column(column, justify="right" if column != "stream" else "left")
        for key, r in self._rows.items():
            table.add_row(key, f"{r.pages:,}", f"{r.records:,}", _rate(r), str(r.retries))
        return table

    def update(self, result: StreamResult) -> None:
        key = f"{result.connector}.{result.stream}"
        self._rows[key] = result
        if self._live is not None:
            self._live.update(self._table())
            return
        now = time.monotonic()
        if now - self._last.get(key, 0.0) >= self.interval:
            self._last[key] = now
            print(
                f"{key}: {result.pages} pages, {result.records} records, {_rate(result)}",
                file=self.out,
                flush=True,
            )

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def summary_table(results: list[StreamResult]) -> Table:
    table = Table(title="sync summary", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("stream", no_wrap=True)
    table.add_column("table", no_wrap=True)
    for column in ("records", "new", "updated", "retries", "secs"):
        table.add_column(column, justify="right")
    table.add_column("status")
    for r in results:
        status = "ok" if r.ok else "[red]failed[/red]"
        table.add_row(
            f"{r.connector}.{r.stream}",
            r.table or "-",
            f"{r.records:,}",
            f"{r.counts.inserted:,}",
            f"{r.counts.updated:,}",
            str(r.retries),
            f"{r.seconds:.2f}",
            status,
        )
    return table


def print_summary(results: list[StreamResult], out: TextIO = sys.stdout) -> None:
    console = Console(file=out, width=140 if not out.isatty() else None)
    console.print(summary_table(results))
    for r in results:
        if r.error:
            console.print(f"[red]{r.connector}.{r.stream}[/red]: {r.error}", markup=True, highlight=False)
